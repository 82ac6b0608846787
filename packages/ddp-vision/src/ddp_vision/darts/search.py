"""The DARTS-space search behind ``tools/search_darts.py``: DDPNAS with a single-path supernet.

With no arguments it searches scikit-learn's digits (embedded, nothing to download) with a supernet small
enough for a 2-core CPU, then prints one genotype per budget for a few budgets (the recommended genotype under
the DARTS cell rule by default, with a line on how it was chosen; alternatives in ``eng.json``). The same
command runs CIFAR-10 (``--dataset cifar10 --data-dir DIR``, the paper's supernet), on one GPU, on the CPU,
or on several GPUs through ``accelerate launch tools/search_darts.py ...``. ``--resume RUN_DIR`` (with the
same flags) continues a killed run exactly where its last checkpoint left it.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import time
from collections.abc import Sequence

import torch

from ddp_core import add_search_arguments, search_config_from_args
from ddp_core.run_eng import ENG_CHOICES, ENG_HELP
from ddp_vision.arguments import OneLineArgumentParser, cells, channels
from ddp_vision.darts.costs import eval_cost_tables
from ddp_vision.darts.generate import (
    DEFAULT_BUDGETS,
    default_spec,
    format_report,
    parse_budget,
    run_generation,
)
from ddp_vision.darts.recommendation import rule_constraints
from ddp_vision.darts.space import DartsSupernetConfig, build_search_space
from ddp_vision.darts.supernet import DartsSupernet
from ddp_vision.data import load_splits, resolve_image_size
from ddp_vision.search_cli import (
    add_supernet_arguments,
    apply_threads,
    check_resume,
    make_search_accelerator,
    prepare_run_dir,
    print_summary,
    run_supernet_search,
    supernet_description,
    total_units,
)
from ddp_vision.supernet_evaluator import SupernetEvaluator, SupernetTrainingConfig

__all__ = ["DATASET_PRESETS", "build_parser", "main"]

SEARCH_BUDGET_KEYS = ("params_m", "flops_m")  # budgets the search can be told (additive over edges)
# supernet and batch settings per dataset; digits is sized to finish on a 2-core CPU in a few minutes
DATASET_PRESETS = {
    "digits": {"image_size": 8, "channels": 8, "layers": 5, "batch_size": 64, "workers": 0},
    "cifar10": {"image_size": 32, "channels": 16, "layers": 8, "batch_size": 512, "workers": 0},
    "image_folder": {"image_size": 64, "channels": 16, "layers": 8, "batch_size": 256, "workers": 8},
    "synthetic": {"image_size": 8, "channels": 4, "layers": 3, "batch_size": 16, "workers": 0},
}


def build_parser() -> argparse.ArgumentParser:
    """Flags of ``tools/search_darts.py``."""
    parser = OneLineArgumentParser(
        prog="tools/search_darts.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_supernet_arguments(parser, dataset="digits", batch_size=None, min_learning_rate=0.001)
    net = parser.add_argument_group("supernet")
    net.add_argument("--channels", type=channels(), default=None,
                     help="initial channels, even (default: per dataset; paper: 16)")
    net.add_argument("--layers", type=cells(), default=None,
                     help="cells (default: per dataset; paper: 8)")
    add_search_arguments(parser, "DDPNAS (ddp-core)")
    # small supernet ops gain nothing from more threads, and oversubscribed cores slow them down badly
    parser.set_defaults(threads=1)
    parser.add_argument("--budget", action="append", type=parse_budget, default=None,
                        help="ENG budget KEY=VALUE[,KEY=VALUE] after the search (repeatable; 'none': unconstrained): "
                        "one genotype is printed per budget, the recommended one by default; with the default "
                        "preset a budget of params_m / flops_m only is also known to the search, which spends part "
                        "of its evaluations on genotypes that meet it")
    parser.add_argument("--eng", choices=ENG_CHOICES, default=None,
                        help=ENG_HELP + "; see tools/generate.py RUN_DIR --help")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run (or resume) a search, then derive and generate; returns the exit status.

    Expected failures (bad flags, missing data, a mismatching or corrupt run directory) raise; the tool wraps
    this in ``ddp_core.run_cli`` for one ``error:`` line and exit status 2.
    """
    args = build_parser().parse_args(argv)
    apply_threads(args.threads)
    preset = DATASET_PRESETS[args.dataset]
    pick = lambda name: getattr(args, name) if getattr(args, name) is not None else preset[name]  # noqa: E731
    run_dir = prepare_run_dir(args, pathlib.Path("runs") / f"darts-{args.dataset}-{time.strftime('%Y%m%d-%H%M%S')}")
    config = search_config_from_args(args)
    if config.utility == "joint":  # additive budgets are known before the search (the others are ENG's only)
        known = [dict(b) for b in args.budget or [] if b and set(b) <= set(SEARCH_BUDGET_KEYS)]
        config = dataclasses.replace(config, budgets=known or None)
    image_size = resolve_image_size(args.dataset, pick("image_size"))
    channels, layers = pick("channels"), pick("layers")
    DartsSupernetConfig(channels=channels, layers=layers)  # bad sizes fail here, before any data is read
    description = {**supernet_description(args, image_size, pick("batch_size"), pick("workers")),
                   "--channels": channels, "--layers": layers}
    check_resume(run_dir, config, description)
    accelerator = make_search_accelerator(args, run_dir)
    splits = load_splits(args.dataset, args.data_dir, image_size, args.val_fraction, args.seed)
    supernet = DartsSupernetConfig(channels=channels, layers=layers, in_channels=splits.in_channels,
                                   num_classes=splits.num_classes, image_size=splits.image_size)
    provisional = build_search_space(supernet)
    training = SupernetTrainingConfig(
        learning_rate=args.learning_rate, min_learning_rate=args.min_learning_rate, momentum=args.momentum,
        weight_decay=args.weight_decay, batch_size=pick("batch_size"), eval_batch_size=args.eval_batch_size,
        steps_per_unit=args.steps_per_unit, total_units=total_units(provisional, config),
        grad_clip_norm=args.grad_clip, num_workers=pick("workers"), seed=args.seed,
    )
    dataset = {"name": args.dataset, "image_size": splits.image_size, "val_fraction": args.val_fraction,
               "mean": list(splits.mean), "std": list(splits.std)}
    space = build_search_space(supernet, dataset=dataset, training=training.to_dict())

    def make_evaluator(accelerator) -> SupernetEvaluator:
        torch.manual_seed(args.seed)  # the same initial supernet in every process and on every resume
        return SupernetEvaluator(DartsSupernet(supernet), splits, training, accelerator)

    started = time.perf_counter()
    # budgets known before the search: the evaluation network's costs and the DARTS rule, so its budgeted targets
    # are genotypes priced as ENG prices them afterwards. Without budgets no costs (no spread over the cost range):
    # on a synthetic DARTS-like benchmark it changed nothing measurable (benchmarks/rules_quality.py) and under
    # weight-sharing noise the spread cost the cell benchmark (BENCHMARKS.md)
    steps = supernet.steps
    known = {"costs": eval_cost_tables(space, default_spec(space), steps),
             "count_constraints": rule_constraints(space, steps)} if config.budgets else {}
    run = run_supernet_search(args, run_dir, space, config, make_evaluator, description, accelerator,
                              title="DARTS search", **known)
    if run is None:
        return 0
    print(f"search: {run.result.steps} architectures trained, {time.perf_counter() - started:.1f}s in this process")
    report = run_generation(run_dir, args.budget or list(DEFAULT_BUDGETS), eng=args.eng)
    print(format_report(report), end="")
    best = run.search.state.best_score
    chosen = ("the first budget's recommended genotype above (genotype.json; per budget and alternatives in "
              "eng.json)" if report["eng"] == "model" else "the DARTS rule's genotype above (genotype.json)")
    print_summary(run, f"python tools/generate.py {run_dir} --budget params_m=2.0 --budget nonparam_ops=2,cell_height=2"
                  f"  (then: python tools/train_darts.py --genotype {run_dir})",
                  {"ENG and drawings": "eng.json, eng.txt, genotype.txt, cells.png, eng_cells_*.png",
                   "best held-out accuracy seen": "n/a" if best is None else f"{best:.4f}"},
                  answer=chosen if report["written"] else None)
    return 0
