"""The command line both supernet search tools share (``tools/search_darts.py``, ``tools/search_mobilenet.py``).

One surface: the same data and supernet-training flags (validated numbers), ddp-core's search flags
(``add_search_arguments``), the same run directory (``logs/``, ``checkpoints/``, ``state.json``,
``records.jsonl``, ``summary.json``, ``theta_history.png``), one progress bar, accelerate trackers through
``--report-to``, and the same rules for ``--resume RUN_DIR``: every setting that changes results is recorded
by its flag (``DDPSearch(description=...)``), and resuming with a different value is one error naming the flag.
"""

from __future__ import annotations

import argparse
import pathlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ddp_core import (
    DDPSearch,
    ProgressBar,
    RunDirectoryError,
    SearchConfig,
    SearchSpace,
    TrackerCallback,
    final_summary,
)
from ddp_core.cli import check_planned_evaluations, prepare_run_directory
from ddp_core.config import FLAGS
from ddp_core.rundir import describe_mismatch, read_state
from ddp_core.validation import argument_type
from ddp_vision.accelerator import MIXED_PRECISION, broadcast_function, make_accelerator, tracker_config
from ddp_vision.arguments import positive_int, steps, workers
from ddp_vision.data import DATASET_NAMES

__all__ = ["SearchRun", "add_supernet_arguments", "apply_threads", "check_resume", "prepare_run_dir",
           "run_supernet_search", "supernet_description", "total_units"]


def add_supernet_arguments(parser: argparse.ArgumentParser, *, dataset: str, batch_size: int | None,
                           min_learning_rate: float) -> None:
    """Data and supernet-training flags, identical in both search tools (defaults: the paper's search).

    ``batch_size=None`` lets the tool pick one per dataset.
    """
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", choices=DATASET_NAMES, default=dataset)
    data.add_argument("--data-dir", type=pathlib.Path, default=None,
                      help="cifar10: the folder holding cifar-10-batches-py; image_folder: train/<class>/ (+ val/)")
    data.add_argument("--image-size", "--resolution", dest="image_size",
                      type=argument_type("--image-size", integer=True, minimum=1, maximum=MAX_IMAGE_SIZE),
                      default=None, help="input side (default: per dataset; CIFAR-10 is always 32)")
    data.add_argument("--val-fraction", default=0.5, help="part of the training set held out to score architectures",
                      type=argument_type("--val-fraction", minimum=0, maximum=1, exclusive_minimum=True,
                                         exclusive_maximum=True))
    data.add_argument("--workers", type=workers(), default=None,
                      help="data loading workers for image folders (tensor datasets need none; default 8 there)")
    training = parser.add_argument_group("supernet training (defaults: the paper's search settings)")
    training.add_argument("--batch-size", type=positive_int("--batch-size"), default=batch_size,
                          help="global batch across processes" + (" (default: per dataset)" if batch_size is None else ""))
    training.add_argument("--eval-batch-size", type=positive_int("--eval-batch-size"), default=1024)
    training.add_argument("--steps-per-unit", type=steps("--steps-per-unit"), default=None,
                          help="batches per unit of training (default: one epoch of the training part)")
    training.add_argument("--learning-rate", "--lr", dest="learning_rate", default=0.025,
                          type=argument_type("--learning-rate", minimum=0, exclusive_minimum=True),
                          help="SGD, cosine-annealed over the whole search")
    training.add_argument("--min-learning-rate", "--min-lr", dest="min_learning_rate", default=min_learning_rate,
                          type=argument_type("--min-learning-rate", minimum=0))
    training.add_argument("--momentum", default=0.9, help="SGD momentum (θ's momentum is --theta-momentum)",
                          type=argument_type("--momentum", minimum=0, maximum=1, exclusive_maximum=True))
    training.add_argument("--weight-decay", type=argument_type("--weight-decay", minimum=0), default=3e-4)
    training.add_argument("--grad-clip", type=argument_type("--grad-clip", minimum=0), default=5.0,
                          help="gradient norm clip (0: off)")
    training.add_argument("--mixed-precision", choices=MIXED_PRECISION, default="auto",
                          help="auto: bf16 autocast on GPUs that support it, full precision on the CPU")
    training.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is present")
    training.add_argument("--quiet", action="store_true", help="no progress bar")


# Image sides above this are typing mistakes (ImageNet searches use 224); a batch of them would not fit anywhere.
MAX_IMAGE_SIZE = 4096


def supernet_description(args: argparse.Namespace, image_size: int, batch_size: int, workers: int) -> dict[str, Any]:
    """The data and training settings by flag, as ddp-core records them (resolved defaults, not Nones); the
    cosine schedule's floor above its start is an error naming both flags."""
    if args.min_learning_rate > args.learning_rate:
        raise ValueError(f"--min-learning-rate {args.min_learning_rate:g} is above --learning-rate "
                         f"{args.learning_rate:g}: the cosine schedule decays from the second to the first; "
                         "lower --min-learning-rate")
    return {
        "--dataset": args.dataset,
        "--data-dir": None if args.data_dir is None else str(pathlib.Path(args.data_dir).expanduser().resolve()),
        "--image-size": image_size,
        "--val-fraction": args.val_fraction,
        "--workers": workers,
        "--batch-size": batch_size,
        "--eval-batch-size": args.eval_batch_size,
        "--steps-per-unit": args.steps_per_unit,
        "--learning-rate": args.learning_rate,
        "--min-learning-rate": args.min_learning_rate,
        "--momentum": args.momentum,
        "--weight-decay": args.weight_decay,
        "--grad-clip": args.grad_clip,
        "--mixed-precision": args.mixed_precision,
    }


def apply_threads(threads: int | None) -> None:
    """``--threads N``: torch's CPU threads and numpy's BLAS threads (None keeps the libraries' choice).

    The BLAS limit matters too: ddp-core's joint preset solves small linear systems at every round, and
    OpenBLAS threads fighting for busy cores made them 10x slower on the 2-core machine (BENCHMARKS.md).
    """
    if threads is None:
        return
    import torch

    torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn brings it; without it numpy keeps its own threads
        return
    threadpool_limits(limits=threads, user_api="blas")


def prepare_run_dir(args: argparse.Namespace, default: pathlib.Path, kind: str | None = None) -> pathlib.Path:
    """``--resume RUN_DIR`` or ``--run-dir``: a new search needs a new or empty directory, or ``--overwrite`` over
    a search of the same kind (ddp-core's rule for every tool)."""
    return prepare_run_directory(args, default, kind)


def check_resume(run_dir: pathlib.Path, config: SearchConfig, description: dict[str, Any]) -> None:
    """Before anything is loaded: the saved search's settings against these flags, every mismatch in one line."""
    if not (run_dir / "state.json").exists():
        return
    state = read_state(run_dir / "state.json")
    problems = describe_mismatch(state.get("config", {}), config.signature(), FLAGS)
    problems += describe_mismatch(state.get("description", {}), description)
    if problems:
        raise RunDirectoryError(f"cannot resume {run_dir}: settings differ from the saved run ("
                                + "; ".join(problems) + "); pass the saved values or use a new --run-dir")


def total_units(space: SearchSpace, config: SearchConfig) -> int:
    """Units of training of the whole planned search (the length of the cosine schedule): one a planned evaluation,
    refused past ddp-core's cap and warned about far above the default plan (``check_planned_evaluations``)."""
    return check_planned_evaluations(space, config)


@dataclass
class SearchRun:
    """What a finished search tool run hands back to its domain code (main process only)."""

    result: Any
    search: DDPSearch
    accelerator: Any
    run_dir: pathlib.Path


def run_supernet_search(
    args: argparse.Namespace,
    run_dir: pathlib.Path,
    space: SearchSpace,
    config: SearchConfig,
    make_evaluator: Callable[[Any], Any],
    description: dict[str, Any],
    accelerator,
    title: str,
    costs: dict[str, Any] | None = None,
    count_constraints: Sequence[Any] = (),
) -> SearchRun | None:
    """Build the search on ``accelerator``, run it with one progress bar and the trackers, return on the main
    process (None on the others). ``costs``: the cost tables of ``config.budgets`` (budgets known before the
    search; without budgets the search spreads part of its targets over their range); ``count_constraints``:
    rules those targets obey (:class:`ddp_core.DDPSearch`)."""
    main_process = accelerator.is_main_process
    evaluator = make_evaluator(accelerator)
    callbacks: list[Any] = []
    if main_process:
        callbacks = [TrackerCallback(accelerator.log)] + ([] if args.quiet else [ProgressBar(title)])
    search = DDPSearch(space, evaluator, config, run_dir=run_dir, callbacks=callbacks, writes=main_process,
                       description=description, broadcast=broadcast_function(accelerator), costs=costs,
                       count_constraints=count_constraints)
    try:
        accelerator.init_trackers("search", config=tracker_config({**description, **config.signature()}))
    except BaseException:
        search.close()
        raise
    if main_process and search.steps:
        print(f"resuming {run_dir} at evaluation {search.steps} of {search.total_steps}", flush=True)
    result = search.run()
    accelerator.end_training()
    return SearchRun(result, search, accelerator, run_dir) if main_process else None


def print_summary(run: SearchRun, next_command: str, extra: dict[str, str] | None = None,
                  answer: str | None = None) -> None:
    print(final_summary(run.run_dir, run.result, next_command, extra, answer), flush=True)


def make_search_accelerator(args: argparse.Namespace, run_dir: pathlib.Path):
    """The tools' accelerator: ``--mixed-precision``, ``--cpu``, ``--report-to`` logging under RUN_DIR/logs."""
    return make_accelerator(args.mixed_precision, run_dir=run_dir, cpu=args.cpu, report_to=args.report_to)
