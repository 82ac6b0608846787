"""The mmseg configs that ship inside ddp_seg, reachable as ``ddp_seg::<path>`` the OpenMMLab way.

Like mmseg's wheel, ddp_seg keeps its configs under ``ddp_seg/.mim/configs/`` (with a ``.mim/model-index.yml``),
the layout mmengine's ``Config`` reads for ``scope::path`` names. A user config inherits one with::

    _base_ = ['ddp_seg::ddpnas/deeplabv3_ddpnas-darts_4xb2-80k_cityscapes-512x1024.py']

mmengine 0.10.7 only resolves the scopes in its fixed ``mmengine.config.utils.MODULE2PACKAGE`` table (it
asserts ``package in MODULE2PACKAGE``), so :func:`register_config_scope` adds ``ddp_seg`` to it; ``import
ddp_seg`` does that, and so do ddp_seg's entry points (``python -m ddp_seg.mmseg_tools train ...``,
``tools/train_seg.py``, :mod:`ddp_seg.apis`) before they read a config. mmseg's ``tools/train.py`` run directly
reads the config before anything imports ddp_seg; there, inherit by path (``python -m ddp_seg.configs``
prints the folder).

``python -m ddp_seg.configs`` prints the configs folder; ``--list`` prints every ``ddp_seg::`` name.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from collections.abc import Sequence

__all__ = ["CONFIG_ROOT", "SCOPE", "config_path", "list_configs", "main", "register_config_scope", "resolve"]

SCOPE = "ddp_seg"
CONFIG_ROOT = pathlib.Path(__file__).resolve().parent / ".mim" / "configs"

# The value mmengine looks up for the scope. mmengine's get_installed_path(value) asks pkg_resources for a
# distribution of that name first and, when there is none, takes the folder of importlib's spec for it. A
# distribution name ("ddp-seg") fails for editable installs (pkg_resources gives site-packages, where an
# editable ddp_seg is not, and uv_build writes no top_level.txt to map it); this module's name is no
# distribution, so mmengine takes the importlib branch: the folder of this file, i.e. ddp_seg/, for wheel
# and editable installs alike. mmengine then reads ddp_seg/.mim/configs/<path>.
_MMENGINE_PACKAGE_NAME = __name__


def register_config_scope() -> None:
    """Let mmengine's ``Config`` resolve ``ddp_seg::<path>`` bases to the configs shipped in this package.

    Adds ``ddp_seg`` to ``mmengine.config.utils.MODULE2PACKAGE`` (idempotent; an existing entry is kept).
    """
    from mmengine.config import utils

    utils.MODULE2PACKAGE.setdefault(SCOPE, _MMENGINE_PACKAGE_NAME)


def list_configs() -> list[str]:
    """Every shipped config as its ``ddp_seg::`` name, sorted (``_base_`` fragments included)."""
    return sorted(f"{SCOPE}::{path.relative_to(CONFIG_ROOT).as_posix()}" for path in CONFIG_ROOT.rglob("*.py"))


def config_path(name: str) -> pathlib.Path:
    """Return the file of a shipped config.

    Parameters
    ----------
    name:
        ``ddp_seg::ddpnas/<file>.py`` (or the part after ``ddp_seg::``).

    Raises
    ------
    FileNotFoundError
        If no such config ships with this package; the message lists the ones that do.
    """
    relative = name.split("::", 1)[1] if name.startswith(f"{SCOPE}::") else name
    path = (CONFIG_ROOT / relative).resolve()
    if CONFIG_ROOT not in path.parents or not path.is_file():
        available = ", ".join(entry for entry in list_configs() if "_base_" not in entry)
        raise FileNotFoundError(f"no config {name!r} ships with ddp_seg; available: {available}")
    return path


def resolve(config: str | pathlib.Path) -> str:
    """A config argument as a file path: ``ddp_seg::<path>`` names become the shipped file, others pass."""
    text = str(config)
    return str(config_path(text)) if text.startswith(f"{SCOPE}::") else text


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ddp_seg.configs [--list | NAME]``: the configs folder, every name, or one name's file."""
    parser = argparse.ArgumentParser(description="Where ddp_seg's mmseg configs are installed")
    parser.add_argument("name", nargs="?", help="a ddp_seg::<path> name: print its file")
    parser.add_argument("--list", action="store_true", help="print every ddp_seg:: config name")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(list_configs()))
    elif args.name:
        try:
            print(config_path(args.name))
        except FileNotFoundError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    else:
        print(CONFIG_ROOT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
