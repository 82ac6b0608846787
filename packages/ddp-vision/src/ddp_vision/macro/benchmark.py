"""The NAS-Bench-Macro table lives in ddp-core (numpy only); re-exported here for the vision search's report."""

from ddp_core.tabular import ENVIRONMENT_VARIABLE, FILE_NAME, MacroEntry, NasBenchMacro, default_locations

__all__ = ["ENVIRONMENT_VARIABLE", "FILE_NAME", "MacroEntry", "NasBenchMacro", "default_locations"]
