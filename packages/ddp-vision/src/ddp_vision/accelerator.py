"""One way to build the ``accelerate.Accelerator`` of every vision tool: devices, precision, trackers, broadcast.

``--report-to`` (any accelerate tracker: tensorboard, wandb, mlflow, comet_ml, aim, clearml, dvclive, swanlab,
trackio; all; none) becomes accelerate's ``log_with``; logs go under ``RUN_DIR/logs/``
(TensorBoard: ``RUN_DIR/logs/<project>/events.out.tfevents.*``). ``broadcast_function`` turns accelerate's
``broadcast_object_list`` into the ``broadcast=`` argument of ddp-core's ``DDPSearch``.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["broadcast_function", "log_with", "make_accelerator", "resolve_mixed_precision"]

MIXED_PRECISION = ("auto", "no", "bf16", "fp16")


def resolve_mixed_precision(mixed_precision: str, cpu: bool = False) -> str:
    """``auto``: bf16 autocast on a CUDA GPU that supports it, full precision elsewhere."""
    if mixed_precision not in MIXED_PRECISION:
        raise ValueError(f"--mixed-precision must be one of {', '.join(MIXED_PRECISION)}, got {mixed_precision!r}")
    if mixed_precision != "auto":
        return mixed_precision
    gpu = not cpu and torch.cuda.is_available()
    return "bf16" if gpu and torch.cuda.is_bf16_supported() else "no"


def log_with(report_to: str) -> list[str]:
    """``--report-to`` as accelerate's ``log_with`` list (:func:`ddp_core.cli.trackers`: any accelerate tracker,
    ``all`` for the installed ones; a named tracker that is not installed is one error naming its package)."""
    from ddp_core.cli import trackers

    return trackers(report_to)


def make_accelerator(mixed_precision: str = "no", run_dir: str | os.PathLike | None = None, cpu: bool = False,
                     report_to: str = "none"):
    """An ``Accelerator`` fit for single-path supernets and evaluation networks.

    Unused parameters are expected in a supernet (only the sampled ops run), so DDP is told to look for them.
    With ``run_dir``, trackers log under ``run_dir/logs``.
    """
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs, ProjectConfiguration

    trackers = log_with(report_to)
    project = None
    if run_dir is not None:
        run_dir = pathlib.Path(run_dir)
        project = ProjectConfiguration(project_dir=str(run_dir), logging_dir=str(run_dir / "logs"))
    elif trackers:
        raise ValueError("trackers need a run directory to write their logs into")
    return Accelerator(
        mixed_precision=resolve_mixed_precision(mixed_precision, cpu),
        cpu=cpu,
        log_with=trackers or None,
        project_config=project,
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )


def broadcast_function(accelerator) -> Callable[[Any], Any] | None:
    """``obj -> the main process's obj`` on every process (None in a single process: nothing to agree on)."""
    if accelerator.num_processes == 1:
        return None
    from accelerate.utils import broadcast_object_list

    def broadcast(obj: Any) -> Any:
        return broadcast_object_list([obj], from_process=0)[0]

    return broadcast


def tracker_config(values: dict[str, Any]) -> dict[str, Any]:
    """Settings as TensorBoard hparams accept them: no None, paths and lists as text."""
    out = {}
    for key, value in values.items():
        if value is None:
            continue
        out[key.lstrip("-")] = value if isinstance(value, (bool, int, float, str)) else str(value)
    return out
