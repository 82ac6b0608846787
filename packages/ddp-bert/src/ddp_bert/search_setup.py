"""Pieces of the BERT search command that are not training: its settings as ddp-core sees them, the resume
check, trackers and the multi-process broadcast."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ddp_core import RunDirectoryError, search_config_from_args
from ddp_core.cli import trackers
from ddp_core.config import FLAGS
from ddp_core.rundir import describe_mismatch, read_state

# Every training and data flag that changes what a search computes. A run directory resumes only under the
# same values (ddp-core's ``description``); --run-dir, --resume, --threads, --report-to, --cpu and
# --checkpoint-every do not change results and may differ.
RESULT_FLAGS = (
    "--task", "--model", "--data-dir", "--max-length", "--score-fraction", "--max-score-examples",
    "--max-train-examples", "--depths", "--ffn-widths", "--heads", "--min-live", "--batch-size",
    "--eval-batch-size", "--lr", "--weight-decay", "--lr-warmup-steps", "--warmup-steps", "--importance-batches",
    "--steps-per-unit", "--distill-weight", "--distill-temperature", "--teacher-model", "--mixed-precision",
)
# accelerate's flag: the processes split each batch, so their number changes the data every step sees.
PROCESSES_FLAG = "--num_processes"


def description_of(args: argparse.Namespace, task_name: str, num_processes: int) -> dict[str, Any]:
    """``{flag: value}`` of every setting in :data:`RESULT_FLAGS` (JSON values), plus the process count."""
    description: dict[str, Any] = {}
    for flag in RESULT_FLAGS:
        value = getattr(args, flag.removeprefix("--").replace("-", "_"))
        description[flag] = str(value) if isinstance(value, Path) else value
    description["--task"] = task_name
    description[PROCESSES_FLAG] = int(num_processes)
    return description


def check_resume_settings(run_dir: Path, description: dict[str, Any], args: argparse.Namespace) -> None:
    """Refuse, before anything is loaded or written, to resume ``run_dir`` under other settings.

    The same comparison ddp-core makes when the search opens the directory, done first so that a wrong
    ``--lr`` costs a second, not the minutes of loading a teacher and its data.
    """
    state = read_state(run_dir / "state.json")
    problems = describe_mismatch(state.get("config", {}), search_config_from_args(args).signature(), FLAGS)
    problems += describe_mismatch(state.get("description", {}), description)
    if problems:
        raise RunDirectoryError(f"cannot resume {run_dir}: settings differ from the saved run ("
                                + "; ".join(problems) + "); pass the saved values or use a new --run-dir")


def check_trackers(report_to: str) -> list[str]:
    """``--report-to`` as accelerate's ``log_with`` (:func:`ddp_core.cli.trackers`): a named tracker whose package
    is missing is an error naming the package (``all`` takes the installed ones)."""
    return trackers(report_to)


def tracker_config(description: dict[str, Any]) -> dict[str, Any]:
    """The settings as tracker hyper-parameters (TensorBoard takes only numbers, strings and booleans)."""
    out = {}
    for flag, value in description.items():
        key = flag.lstrip("-").replace("-", "_")
        out[key] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return out


def broadcaster(accelerator) -> Callable[[Any], Any] | None:
    """For several processes, ``obj -> the main process's obj`` (ddp-core's ``broadcast=``); else None."""
    if accelerator.num_processes == 1:
        return None
    from accelerate.utils import broadcast_object_list

    def broadcast(value: Any) -> Any:
        box = [value]
        broadcast_object_list(box, from_process=0)
        return box[0]

    return broadcast
