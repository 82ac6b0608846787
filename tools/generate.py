#!/usr/bin/env python
"""ENG for any ddpnas run directory: `python tools/generate.py RUN_DIR [space-specific budget flags]`.

The run directory's space.json names the package function that knows its space (metadata "generator",
"module.path:function"); this script hands it the remaining arguments. `--help` after RUN_DIR lists them.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from ddp_core import read_json


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    run_dir = Path(argv[0])
    space_file = run_dir / "space.json"
    if not space_file.exists():
        print(f"error: {space_file} not found; pass the --run-dir of a finished or running search", file=sys.stderr)
        return 2
    generator = read_json(space_file).get("metadata", {}).get("generator")
    if not generator or ":" not in generator:
        print(f"error: {space_file} names no generator ('module:function' in metadata.generator)", file=sys.stderr)
        return 2
    module_name, function_name = generator.split(":", 1)
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        package = module_name.split(".")[0].replace("_", "-")
        print(f"error: cannot import {module_name} ({error}); install it: pip install {package}", file=sys.stderr)
        return 2
    return int(getattr(module, function_name)(run_dir, argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
