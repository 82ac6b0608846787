"""The BERT tools' first step: one error line within a second when the Hub is needed but out of reach.

``import ddp_bert`` takes seconds (torch, transformers), so ``ddp_bert/hub_access.py`` is loaded by its file path
before anything heavy is imported. Imported by tools/search_bert.py and tools/finetune_bert.py (same folder).
"""

import importlib.util
import sys
from pathlib import Path


def check_hub_sources_first(with_default_teacher: bool) -> None:
    """Exit 2 with one line when the model or data must come from an unreachable Hub (see ddp_bert.hub_access)."""
    package = importlib.util.find_spec("ddp_bert")
    if package is None or not package.submodule_search_locations:
        return  # the tool's own import reports the missing package
    path = Path(list(package.submodule_search_locations)[0]) / "hub_access.py"
    spec = importlib.util.spec_from_file_location("ddp_bert_hub_access_preflight", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if with_default_teacher:
        module.cli_preflight(sys.argv[1:], default_model=module.DEFAULT_TEACHER)
    else:
        module.cli_preflight(sys.argv[1:])
