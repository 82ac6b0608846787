"""mmengine loads every checkpoint with ``torch.load(weights_only=True)`` once ddp_seg is imported.

mmengine 0.10.7 calls ``torch.load(filename, map_location=...)`` without ``weights_only``, so its safety rests on
torch's default, which ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` turns off: a pickle given as ``load_from``,
``--resume`` or ``tools/test.py CHECKPOINT`` would then run. :func:`force_weights_only_loading` replaces mmengine's
local-file loader (``CheckpointLoader`` scheme ``''``, used by ``Runner.load_or_resume``, ``load_checkpoint``
and mmseg's ``init_model``) with one that passes ``weights_only=True`` itself, and wraps every other scheme
(``http://``, ``open-mmlab://``, ``s3://``, ...) so that torch's weights-only default holds during its call
whatever the environment says. The allow-list of :mod:`ddp_seg.checkpoint_globals` still admits what mmengine's
own checkpoints hold. A refused or unreadable file is a :class:`CheckpointLoadError` naming the file.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import torch

from ddp_core.cli import weights_only_refusal

__all__ = ["CheckpointLoadError", "force_weights_only_loading", "load_checkpoint_file", "weights_only_default"]

_MARK = "_ddp_seg_weights_only"


class CheckpointLoadError(ValueError):
    """A checkpoint that weights-only loading refuses or cannot read; the message names the file and the fix."""


def _refused(filename: Any, error: BaseException) -> CheckpointLoadError:
    return CheckpointLoadError(
        f"checkpoint {filename} was not loaded: {weights_only_refusal(error)}; ddp_seg loads checkpoints only with "
        "weights_only=True (whatever TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD says): use a checkpoint written by "
        "mmengine's Runner from a source you trust")


_UNREADABLE = (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, AttributeError, ImportError)


def load_checkpoint_file(filename: str, map_location: Any = None) -> Any:
    """mmengine's local checkpoint loader, with ``weights_only=True`` passed explicitly."""
    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f"checkpoint {filename} does not exist (or is not a file): check the path")
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except _UNREADABLE as error:
        raise _refused(filename, error) from None


@contextlib.contextmanager
def weights_only_default() -> Iterator[None]:
    """Inside: ``torch.load`` without ``weights_only`` loads weights only, whatever the environment says."""
    saved = {name: os.environ.get(name) for name in ("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD",
                                                      "TORCH_FORCE_WEIGHTS_ONLY_LOAD")}
    os.environ.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _guarded(loader: Callable[..., Any]) -> Callable[..., Any]:
    """``loader`` (a remote scheme of mmengine) run with the weights-only default forced."""

    def load(filename, map_location=None, *args, **kwargs):
        with weights_only_default():
            try:
                return loader(filename, map_location, *args, **kwargs)
            except _UNREADABLE as error:
                raise _refused(filename, error) from None

    load.__name__ = getattr(loader, "__name__", "load_from_scheme")  # mmengine logs name[10:]
    setattr(load, _MARK, True)
    return load


def force_weights_only_loading() -> None:
    """Register ddp_seg's loaders with mmengine's ``CheckpointLoader`` (idempotent)."""
    from mmengine.runner.checkpoint import CheckpointLoader

    setattr(load_checkpoint_file, _MARK, True)
    load_checkpoint_file.__name__ = "load_from_local"
    for prefix, loader in list(CheckpointLoader._schemes.items()):
        if getattr(loader, _MARK, False):
            continue
        replacement = load_checkpoint_file if prefix == "" else _guarded(loader)
        CheckpointLoader.register_scheme(prefix, replacement, force=True)
