"""Run mmseg's own ``tools/`` scripts (shipped in its wheel under ``mmseg/.mim/tools/``) with ddp_seg ready.

``python -m ddp_seg.mmseg_tools TOOL [ARGS...]`` imports ddp_seg, then runs mmseg's script unchanged, as
``python mmseg/.mim/tools/TOOL.py ARGS...`` would. Importing ddp_seg first is what those scripts cannot do
themselves: it registers the ``ddp_seg::`` config scope (mmseg's ``train.py`` reads the config, ``_base_``
included, before the config's ``custom_imports`` load anything), and with mmcv-lite it stands in for the
compiled ops that ``mmseg.apis`` and mmseg's analysis tools import at module level.

TOOL is ``train``, ``test`` or any other script path under mmseg's tools without ``.py``
(``analysis_tools/benchmark``, ``analysis_tools/confusion_matrix``); ``--list`` prints them. (mmseg 1.2.2's
``analysis_tools/get_flops`` passes both ``input_shape`` and ``inputs`` to mmengine 0.10.7's
``get_model_complexity_info``, which rejects that with a ValueError; ``python -m ddp_seg.complexity CONFIG``
prints the same mmengine count instead.) A config argument may be a
shipped config's name, ``ddp_seg::ddpnas/<file>.py``. Before ``train`` and ``test``, the dataset folders the
run will read are checked, so a missing dataset is one line (exit 2) instead of a traceback after the model
is built. Multi-GPU: ``torchrun --nproc_per_node 4 -m ddp_seg.mmseg_tools train CONFIG --launcher pytorch``.
"""

from __future__ import annotations

import pathlib
import runpy
import sys
from collections.abc import Sequence

__all__ = ["USAGE", "list_tools", "main", "mmseg_tools_dir", "tool_script"]

# The datasets each tool reads, for the missing-data check.
TOOL_LOADERS = {"train": ("train_dataloader", "val_dataloader"), "test": ("test_dataloader",)}


def mmseg_tools_dir() -> pathlib.Path:
    """The ``tools/`` folder mmseg's wheel ships under ``mmseg/.mim/``."""
    import importlib.util

    spec = importlib.util.find_spec("mmseg")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("mmsegmentation is not installed: pip install 'mmsegmentation==1.2.2'")
    return pathlib.Path(spec.origin).parent / ".mim" / "tools"


def list_tools() -> list[str]:
    """Every script under mmseg's tools, as TOOL names (``train``, ``analysis_tools/benchmark``, ...)."""
    root = mmseg_tools_dir()
    return sorted(path.relative_to(root).with_suffix("").as_posix() for path in root.rglob("*.py"))


def tool_script(tool: str) -> pathlib.Path:
    """The script of TOOL; FileNotFoundError naming the available ones if there is none."""
    root = mmseg_tools_dir()
    path = (root / f"{tool}.py").resolve()
    if root.resolve() not in path.parents or not path.is_file():
        raise FileNotFoundError(f"mmseg has no tool {tool!r}; choose one of: {', '.join(list_tools())}")
    return path


def _check_datasets(tool: str, tool_args: list[str]) -> None:
    """Read the config with the tool's ``--cfg-options`` and check the folders its dataloaders read."""
    from ddp_seg.command_line import CfgOptionsAction, argument_parser
    from ddp_seg.training import check_datasets, load_config

    parser = argument_parser("", prog=f"python -m ddp_seg.mmseg_tools {tool}")
    parser.add_argument("config")
    parser.add_argument("--cfg-options", nargs="+", action=CfgOptionsAction)
    known, _ = parser.parse_known_args(tool_args)
    cfg = load_config(known.config, known.cfg_options)
    loaders = TOOL_LOADERS[tool]
    if tool == "train" and not cfg.get("val_cfg"):
        loaders = ("train_dataloader",)
    check_datasets(cfg, loaders)


USAGE = """usage: python -m ddp_seg.mmseg_tools [--debug] TOOL [ARGS...]   (--list: every TOOL)

Runs mmseg's own tools/TOOL.py with ddp_seg imported first. Examples:
  python -m ddp_seg.mmseg_tools train ddp_seg::ddpnas/deeplabv3_ddpnas-darts_4xb2-80k_cityscapes-512x1024.py
  python -m ddp_seg.mmseg_tools test my_config.py work_dirs/my_config/iter_80000.pth
  python -m ddp_seg.mmseg_tools analysis_tools/benchmark my_config.py work_dirs/my_config/iter_80000.pth"""


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ddp_seg.mmseg_tools TOOL [ARGS...]``; returns the exit status (2: bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = argv[:1] == ["--debug"]
    argv = argv[1:] if debug else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    if argv[0] == "--list":
        print("\n".join(list_tools()))
        return 0
    tool, tool_args = argv[0], argv[1:]

    import ddp_seg  # noqa: F401  (versions, mmcv.ops stand-in, weights-only checkpoints, ddp_seg:: scope)
    from ddp_seg.checkpoint_loading import CheckpointLoadError
    from ddp_seg.command_line import EXPECTED_ERRORS, report
    from ddp_seg.configs import SCOPE, resolve

    try:
        script = tool_script(tool)
        tool_args = [resolve(arg) if arg.startswith(f"{SCOPE}::") else arg for arg in tool_args]
        # mmseg's train.py and test.py take the config as their first argument.
        if tool in TOOL_LOADERS and tool_args and not tool_args[0].startswith("-"):
            _check_datasets(tool, tool_args)
    except EXPECTED_ERRORS as error:
        return report(error, debug)
    sys.argv = [str(script), *tool_args]
    sys.path.insert(0, str(script.parent))  # as when the script is run directly
    try:
        runpy.run_path(str(script), run_name="__main__")
    except CheckpointLoadError as error:  # a checkpoint that weights-only loading refuses: one line, exit 2
        return report(error, debug)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
