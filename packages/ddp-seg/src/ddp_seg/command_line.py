"""What ddp_seg's command lines share: one ``error:`` line (exit 2) for every expected failure.

``tools/train_seg.py``, ``tools/seg_complexity.py``, ``python -m ddp_seg.apis`` and ``python -m ddp_seg.mmseg_tools``
parse with :func:`argument_parser` (a bad flag is one line naming it, as in every ddpnas tool), read
``--cfg-options`` with :class:`CfgOptionsAction` (a value mmengine's parser cannot read, such as ``a=f(1,2)``,
is one line instead of a ``RecursionError``), and report a config with a syntax error, a missing file or a
checkpoint that weights-only loading refuses as one line through :func:`error_line` (``--debug``: the traceback).
"""

from __future__ import annotations

import argparse
import pickle
import sys
from collections.abc import Callable

from mmengine.config import DictAction

from ddp_core.cli import OneLineArgumentParser, one_line, weights_only_refusal
from ddp_seg.checkpoint_loading import CheckpointLoadError

__all__ = ["EXPECTED_ERRORS", "CfgOptionsAction", "argument_parser", "error_line", "report", "shape_size"]

# Expected failures of reading a config, building a model and loading a checkpoint.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (
    FileNotFoundError, KeyError, TypeError, ValueError, SyntaxError, OSError, pickle.UnpicklingError,
    CheckpointLoadError,
)

# Input sizes beyond this are typing mistakes (Cityscapes is 1024 x 2048); a zero tensor of 16384^2 is 3 GB.
MAX_SIDE = 16384


def argument_parser(description: str, prog: str | None = None) -> argparse.ArgumentParser:
    """A parser whose errors are one ``error:`` line naming the flag (exit 2)."""
    return OneLineArgumentParser(description=description, prog=prog)


class CfgOptionsAction(DictAction):
    """mmengine's ``DictAction`` whose unreadable values are a parser error naming the option and the form."""

    def __call__(self, parser, namespace, values, option_string=None):
        try:
            super().__call__(parser, namespace, values, option_string)
        except (RecursionError, AssertionError, ValueError, TypeError, IndexError):
            bad = next((value for value in values if not _readable(value)), " ".join(values))
            parser.error(f"{option_string or '--cfg-options'} {bad!r} cannot be read: write KEY=VALUE, where VALUE "
                         "is a number, a string, a list [a,b] or a tuple (a,b) (no function calls)")


def _readable(option: str) -> bool:
    try:
        key, value = option.split("=", maxsplit=1)
        DictAction._parse_iterable(value)
    except (RecursionError, AssertionError, ValueError, TypeError, IndexError):
        return False
    return bool(key)


def shape_size(text: str) -> int:
    """An argparse ``type=`` for one side of ``--shape``: an integer in [1, MAX_SIDE]."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shape takes integers, got {text!r}") from None
    if not 1 <= value <= MAX_SIDE:
        raise argparse.ArgumentTypeError(f"--shape sides must be between 1 and {MAX_SIDE} pixels, got {value}")
    return value


def error_line(error: BaseException) -> str:
    """An expected failure as one line; a config's syntax error names the file, the line and the fix."""
    if isinstance(error, SyntaxError) and not isinstance(error, CheckpointLoadError):
        return (f"config {error.filename} line {error.lineno} is not valid Python ({error.msg}): fix that line "
                "of the config")
    if isinstance(error, pickle.UnpicklingError):
        return f"a checkpoint was not loaded: {weights_only_refusal(error)}"
    if isinstance(error, (FileNotFoundError, KeyError, ValueError, TypeError)):
        return " ".join((str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)).split())
    return one_line(error)


def report(error: BaseException, debug: bool) -> int:
    """Print ``error`` as one line and return 2; re-raise it under ``--debug``."""
    if debug:
        raise error
    print(f"error: {error_line(error)} (--debug shows the traceback)", file=sys.stderr)
    return 2


def guarded(body: Callable[[], int], debug: bool) -> int:
    """``body()``, with :data:`EXPECTED_ERRORS` as one line and exit status 2."""
    try:
        return body()
    except EXPECTED_ERRORS as error:
        return report(error, debug)
