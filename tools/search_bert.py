"""DDPNAS BERT compression search. Run: accelerate launch tools/search_bert.py --task rte [--cpu] ..."""

import importlib.util
import sys
from pathlib import Path


def check_hub_sources_first() -> None:
    """One error line within a second when the Hub is needed but out of reach (ddp_bert.hub_access).

    ``import ddp_bert`` takes seconds (torch, transformers), so the check is loaded by its file path first.
    """
    package = importlib.util.find_spec("ddp_bert")
    if package is None or not package.submodule_search_locations:
        return  # the import below reports the missing package
    path = Path(list(package.submodule_search_locations)[0]) / "hub_access.py"
    spec = importlib.util.spec_from_file_location("ddp_bert_hub_access_preflight", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.cli_preflight(sys.argv[1:], default_model=module.DEFAULT_TEACHER)


if __name__ == "__main__":
    check_hub_sources_first()
    from ddp_bert.search_cli import cli

    sys.exit(cli())
