"""Command-line pieces every search tool shares, so DARTS, MobileNet, BERT and tabular spell them alike."""

from __future__ import annotations

import argparse
import errno
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from ddp_core.config import SearchConfig
from ddp_core.presets import PRESETS
from ddp_core.rundir import RunDirectoryError, prepare_new_run
from ddp_core.validation import argument_type, positive_int


class OneLineArgumentParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one ``error:`` line naming the flag and the fix (exit 2), not a usage
    block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        # "argument --lr/--learning-rate: --learning-rate must be ..." says the flag twice
        repeated = re.match(r"argument [^:]+: (--[\w-]+ .*)$", message)
        if repeated:
            message = repeated.group(1)
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


probability = argument_type("--theta-momentum", minimum=0, maximum=1, exclusive_maximum=True)
temperature = argument_type("--temperature", minimum=0, exclusive_minimum=True)
threshold = argument_type("--bound-threshold", minimum=0, exclusive_minimum=True)
seed_type = argument_type("--seed", integer=True, minimum=0, maximum=2**32 - 1)  # numpy and torch seeds
# Sane caps: the paper's T is 3 and its runs take a few hundred evaluations; a run past a million evaluations is a
# typo (--rounds-per-stage 1e22 or --stages 3 --no-prune --rounds-per-stage 1e8 would never end).
MAX_EVALUATIONS = 1_000_000
MAX_ROUNDS_PER_STAGE = 10_000
rounds_type = argument_type("--rounds-per-stage", integer=True, minimum=1, maximum=MAX_ROUNDS_PER_STAGE)
stages_type = argument_type("--stages", integer=True, minimum=1, maximum=MAX_ROUNDS_PER_STAGE)
evaluations_type = argument_type("--max-evaluations", integer=True, minimum=1, maximum=MAX_EVALUATIONS)
# torch and BLAS take a C int: --threads 10**40 ended in "Overflow when unpacking long long", naming no flag.
MAX_THREADS = 4096
threads_type = argument_type("--threads", integer=True, minimum=1, maximum=MAX_THREADS)
# A plan this many times the default's (T=3) is legal but almost surely a typo: one warning line.
WARN_PLAN_FACTOR = 100


def check_planned_evaluations(space: Any, config: SearchConfig, stream: TextIO | None = None) -> int:
    """The evaluations the whole search plans (T times the round sizes of every stage), checked before any work.

    Each flag is capped on its own, but their product is what runs: ``--stages 10000 --no-prune
    --rounds-per-stage 10000`` would plan 3e8 evaluations. Above :data:`MAX_EVALUATIONS` it is a ``ValueError``
    naming the flags and the fix; above ``WARN_PLAN_FACTOR`` times the default plan (T=3) without an explicit
    ``--max-evaluations``, one ``warning:`` line on ``stream`` (stderr). Returns the planned count.
    """
    from ddp_core.config import DEFAULT_ROUNDS_PER_STAGE
    from ddp_core.search import rounds_for_budget, stage_schedule

    schedule = stage_schedule(space, config.prune, config.stages)
    rounds = rounds_for_budget(space, config)
    planned = rounds * sum(schedule)
    flags = f"--rounds-per-stage {rounds}" + ("" if config.prune else f" with --no-prune --stages {len(schedule)}")
    shape = (f"{len(schedule)} stages x T={rounds} rounds x {max(schedule)} or fewer evaluations a round "
             f"over {space.num_decisions} decisions")
    if planned > MAX_EVALUATIONS:
        raise ValueError(
            f"{flags} plans {planned:,} evaluations ({shape}), above the {MAX_EVALUATIONS:,} a search may plan: "
            f"lower --rounds-per-stage" + ("" if config.prune else " or --stages")
            + ", or pass --max-evaluations N to let the budget choose T")
    default_plan = DEFAULT_ROUNDS_PER_STAGE * sum(stage_schedule(space, config.prune, None))
    if config.max_evaluations is None and planned > WARN_PLAN_FACTOR * default_plan:
        print(f"warning: {flags} plans {planned:,} evaluations ({shape}), {planned / default_plan:,.0f}x the "
              f"default's {default_plan:,}; if that is a typo, stop (Ctrl-C) and lower --rounds-per-stage"
              + ("" if config.prune else " or --stages") + ", or cap the search with --max-evaluations N",
              file=stream or sys.stderr, flush=True)
    return planned


def add_search_arguments(parser: argparse.ArgumentParser, title: str = "DDPNAS") -> argparse._ArgumentGroup:
    """Add the SearchConfig flags, ``--run-dir`` / ``--resume RUN_DIR`` and ``--debug`` to ``parser``.

    ``--theta-momentum`` is γ of Eq. 4 (named so, because trainers have an SGD ``--momentum`` of their own).
    """
    group = parser.add_argument_group(title)
    group.add_argument("--utility", choices=PRESETS, default="joint",
                       help="preset: joint (default: joint effect estimates, elitist pruning, the best evaluated "
                            "architecture as answer), paper (Eq. 2-5 exactly), authors (the released code exactly)")
    group.add_argument("--rounds-per-stage", type=rounds_type, default=None,
                       help="T: rounds between pruning steps (default 3, the paper's)")
    group.add_argument("--max-evaluations", type=evaluations_type, default=None, metavar="N",
                       help="spend at most N evaluations: chooses T (instead of --rounds-per-stage)")
    group.add_argument("--theta-momentum", type=probability, default=None,
                       help="γ of the θ update (default: joint 0.9, paper 0.9, authors 0.8)")
    group.add_argument("--temperature", type=temperature, default=None,
                       help="τ of softmax(U/τ) (default: joint 0.5; paper and authors 0.01, for scores in [0, 1])")
    group.add_argument("--normalization", choices=("sum", "softmax"), default="sum",
                       help="renormalise θ + V by its row sum (authors' code) or a softmax (paper text)")
    group.add_argument("--no-prune", action="store_true", help="the NoPrune ablation")
    group.add_argument("--stages", type=stages_type, default=None, help="NoPrune only: number of stages")
    group.add_argument("--bound-threshold", type=threshold, default=None,
                       help="postpone pruning while the Theorem 3 bound exceeds this (not in the paper)")
    group.add_argument("--seed", type=seed_type, default=0)
    group.add_argument("--checkpoint-every", type=positive_int, default=1, metavar="N",
                       help="save the run directory every N evaluations (and at every stage end)")
    group.add_argument("--run-dir", type=directory_argument("--run-dir"), default=None,
                       help="where state, checkpoints and reports go (a new or empty directory)")
    group.add_argument("--resume", type=directory_argument("--resume"), default=None, metavar="RUN_DIR",
                       help="continue the search saved in RUN_DIR (its settings must match)")
    group.add_argument("--overwrite", action="store_true",
                       help="replace the search saved in --run-dir (only the search's own files are removed)")
    group.add_argument("--report-to", choices=REPORT_TO, default="tensorboard",
                       help="experiment trackers for scores and stages (accelerate's): logs go to RUN_DIR/logs")
    group.add_argument("--threads", type=threads_type, default=None,
                       help="CPU threads for training (default: the framework's choice)")
    group.add_argument("--debug", action="store_true", help="show a traceback instead of a one-line error")
    return group


# Every tracker accelerate can log to (accelerate.tracking.LOGGER_TYPE_TO_CLASS): the modules any one of which
# provides it (what accelerate's is_*_available checks) and the package that installs it. Checked with
# find_spec, so ddp-core imports neither accelerate nor a tracker.
TRACKER_PACKAGES: dict[str, tuple[tuple[str, ...], str]] = {
    "tensorboard": (("tensorboard", "tensorboardX"), "tensorboard"),
    "wandb": (("wandb",), "wandb"),
    "mlflow": (("mlflow",), "mlflow"),
    "comet_ml": (("comet_ml",), "comet_ml"),
    "aim": (("aim",), "aim"),
    "clearml": (("clearml",), "clearml"),
    "dvclive": (("dvclive",), "dvclive"),
    "swanlab": (("swanlab",), "swanlab"),
    "trackio": (("trackio",), "trackio"),
}
REPORT_TO = (*TRACKER_PACKAGES, "all", "none")


def tracker_installed(name: str) -> bool:
    """Whether the package behind accelerate's tracker ``name`` is importable (nothing is imported)."""
    import importlib.util

    return any(importlib.util.find_spec(module) is not None for module in TRACKER_PACKAGES[name][0])


def trackers(report_to: str) -> list[str]:
    """``--report-to`` as accelerate's ``log_with`` list: [] for ``none``, every installed tracker for ``all``.

    Raises
    ------
    ValueError
        One line naming the package to install, when the named tracker's package is missing (or the name is not
        a tracker).
    """
    if report_to == "none":
        return []
    if report_to == "all":
        return [name for name in TRACKER_PACKAGES if tracker_installed(name)]
    if report_to not in TRACKER_PACKAGES:
        raise ValueError(f"--report-to {report_to!r} is not a tracker; choose one of {', '.join(REPORT_TO)}")
    if not tracker_installed(report_to):
        package = TRACKER_PACKAGES[report_to][1]
        raise ValueError(f"--report-to {report_to}: the {package} package is not installed (pip install {package}); "
                         "pass --report-to tensorboard or none")
    return [report_to]


def search_config_from_args(args: argparse.Namespace) -> SearchConfig:
    return SearchConfig(
        utility=args.utility,
        rounds_per_stage=args.rounds_per_stage,
        max_evaluations=args.max_evaluations,
        momentum=args.theta_momentum,
        temperature=args.temperature,
        normalization=args.normalization,
        prune=not args.no_prune,
        stages=args.stages,
        bound_threshold=args.bound_threshold,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        budgets=[dict(b) for b in getattr(args, "search_budgets", None) or []] or None,
    )


def directory_argument(flag: str) -> Callable[[str], Path]:
    """argparse ``type=`` for a directory flag: an empty string (which would mean the current directory) is an
    error naming the flag."""

    def parse(text: str) -> Path:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"{flag} is empty; pass a directory (e.g. {flag} runs/my-search)")
        return Path(text)

    parse.__name__ = flag
    return parse


def prepare_run_directory(args: argparse.Namespace, default: Path, kind: str | None = None) -> Path:
    """The run directory of a search tool, checked before anything is loaded or written: ``--resume`` needs a
    saved search; a new search needs a new or empty directory, or ``--overwrite`` over a search of the same
    ``kind`` (:func:`ddp_core.rundir.prepare_new_run`)."""
    overwrite = bool(getattr(args, "overwrite", False))
    if args.resume is not None and overwrite:
        raise RunDirectoryError("--overwrite replaces a search and --resume continues one: pass only one of them")
    run_dir = run_directory(args, default)
    if args.resume is None:
        prepare_new_run(run_dir, overwrite, kind)
    return run_dir


def run_directory(args: argparse.Namespace, default: Path) -> Path:
    """``--resume`` wins over ``--run-dir``; both fall back to ``default``."""
    if args.resume is not None:
        if not (Path(args.resume) / "state.json").exists():
            raise RunDirectoryError(f"--resume {args.resume}: no state.json there; start a new run with --run-dir")
        return Path(args.resume)
    return Path(args.run_dir) if args.run_dir is not None else default


_OS_FIXES = {
    errno.ENOSPC: "free some disk space or pass another --run-dir",
    errno.EROFS: "the file system is read-only: pass a writable --run-dir",
    errno.EACCES: "no permission: pass a --run-dir you can write",
    errno.EPERM: "no permission: pass a --run-dir you can write",
    errno.ENOENT: "check the path",
    errno.EDQUOT: "over the disk quota: free some space or pass another --run-dir",
}


def one_line(error: BaseException) -> str:
    """An expected failure as one line that names the file (when there is one) and the fix."""
    if isinstance(error, OSError) and error.errno is not None and not isinstance(error, RunDirectoryError):
        place = f": {error.filename}" if error.filename else ""
        fix = _OS_FIXES.get(error.errno, "")
        return f"{error.strerror or error}{place}" + (f" ({fix})" if fix else "")
    text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    text = text.strip() or type(error).__name__
    return " ".join(text.split())


def weights_only_refusal(error: BaseException) -> str:
    """What a refused ``torch.load(weights_only=True)`` found (``GLOBAL posix.system ...``), without torch's
    paragraph of advice (which suggests ``weights_only=False``); any other error as one whole line."""
    text = " ".join(str(error).split())
    if "Weights only load failed" not in text:
        return text or type(error).__name__
    detail = text.split("trusted source.", 1)[-1].split("Check the documentation", 1)[0]
    detail = re.sub(r"Please file an issue with the following .*?use case:|WeightsUnpickler error:", " ", detail)
    kept = [sentence for sentence in re.split(r"(?<=\.) ", detail.strip())
            if sentence and not sentence.startswith(("Please", "You can", "Alternatively", "To "))]
    detail = " ".join(kept).strip().rstrip(".")
    return "it holds pickled objects that weights-only loading refuses" + (f" ({detail})" if detail else "")


EXPECTED_ERRORS: tuple[type[BaseException], ...] = (RunDirectoryError, ValueError, KeyError, OSError)


def run_cli(main: Callable[[Sequence[str]], int | None], argv: Sequence[str] | None = None,
            expected: tuple[type[BaseException], ...] = EXPECTED_ERRORS) -> int:
    """Run a tool's ``main(argv)``; expected failures print one ``error: ...`` line and exit 2, unless
    ``--debug`` is given (then the traceback shows)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return int(main(argv) or 0)
    except KeyboardInterrupt:
        print("interrupted; continue with --resume RUN_DIR", file=sys.stderr)
        return 130
    except expected as error:
        if "--debug" in argv:
            raise
        print(f"error: {one_line(error)} (--debug shows the traceback)", file=sys.stderr)
        return 2
