"""DDPNAS search over a layer-wise space (MobileNet/ProxylessNAS or NAS-Bench-Macro): the search command line.

``tools/search_mobilenet.py`` calls :func:`main`. A run directory holds everything (ddp-core's state, the
supernet checkpoint, tracker logs under ``logs/``); ``--resume RUN_DIR`` with the same flags continues it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
from collections.abc import Sequence
from typing import Any

import torch

from ddp_core import SearchResult, add_search_arguments, search_config_from_args
from ddp_core.budgets import budget_flags, budget_type, suggested_budgets
from ddp_core.validation import argument_type
from ddp_vision.arguments import OneLineArgumentParser
from ddp_vision.data import ImageSplits, load_splits, resolve_image_size
from ddp_vision.macro.space import MacroSpaceConfig, macro_space
from ddp_vision.mobilenet.space import LayerwiseSpace, MobileNetSpaceConfig, mobilenet_space
from ddp_vision.mobilenet.supernet import LayerwiseSupernet
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

SPACES = ("mobilenet", "nas-bench-macro")
# live candidates kept per block, so ENG chooses inside the searched distribution; measured in MOBILENET.md
# (NAS-Bench-Macro, 20 seeds, equal evaluations, 3 FLOPs budgets: keeping 2 had the lowest regret in 5 of 6
# cases, pruning to 1 the highest in all 6)
DEFAULT_MIN_LIVE = 2
BUDGET_KEYS = ("flops_m", "params_m")  # the costs of LayerwiseSpace.cost_tables (budgets known before the search)


# Below this the stride-2 stages leave nothing to tell architectures apart (the synthetic data's default is 8).
MIN_IMAGE_SIZE = 8
# MobileNet stages hold 1-4 blocks; 16 leaves room for experiments, 1000 is a typo that builds for minutes.
MAX_STAGE_DEPTH = 16


def stage_depths(text: str) -> tuple[int, ...]:
    """``4,4,4,4,4,1``: blocks per stage, each a positive integer."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--stage-depths must be comma-separated integers such as 4,4,4,4,4,1, "
                                         f"got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"--stage-depths needs at least one block per stage, got {text!r}")
    if max(values) > MAX_STAGE_DEPTH or len(values) > MAX_STAGE_DEPTH:
        raise argparse.ArgumentTypeError(f"--stage-depths takes at most {MAX_STAGE_DEPTH} stages of at most "
                                         f"{MAX_STAGE_DEPTH} blocks (the paper's: 4,4,4,4,4,1), got {text!r}")
    stages = len(MobileNetSpaceConfig.stage_widths)
    if len(values) != stages:
        raise argparse.ArgumentTypeError(f"--stage-depths takes one depth for each of the {stages} stages (widths "
                                         f"{','.join(map(str, MobileNetSpaceConfig.stage_widths))}), got "
                                         f"{len(values)} in {text!r}; e.g. 4,4,4,4,4,1 (the paper's)")
    return values


def build_space(args: argparse.Namespace, splits: ImageSplits) -> LayerwiseSpace:
    """The layer-wise space the options describe, sized to the dataset's classes and images."""
    if args.space == "nas-bench-macro":
        return macro_space(MacroSpaceConfig(num_classes=splits.num_classes, resolution=splits.image_size,
                                            in_channels=splits.in_channels))
    options: dict[str, Any] = dict(
        num_classes=splits.num_classes, resolution=splits.image_size, width_multiplier=args.width_multiplier,
        in_channels=splits.in_channels, dropout=args.dropout,
    )
    if args.stage_depths:
        options["stage_depths"] = args.stage_depths
    return mobilenet_space(MobileNetSpaceConfig(**options))


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="tools/search_mobilenet.py",
        description="DDPNAS search over the MobileNet layer-wise space or NAS-Bench-Macro (resumable).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--space", choices=SPACES, default="mobilenet")
    add_supernet_arguments(parser, dataset=None, batch_size=512, min_learning_rate=0.0)
    parser.set_defaults(dataset=None)  # image_folder for mobilenet, cifar10 for nas-bench-macro
    space = parser.add_argument_group("space")
    space.add_argument("--width-multiplier", type=argument_type("--width-multiplier", minimum=0, exclusive_minimum=True,
                                                                maximum=8),
                       default=1.0)
    space.add_argument("--stage-depths", type=stage_depths, default=None,
                       help="blocks per stage, e.g. 4,4,4,4,4,1 (the paper's)")
    space.add_argument("--dropout", type=argument_type("--dropout", minimum=0, maximum=1, exclusive_maximum=True),
                       default=0.0)
    space.add_argument("--min-live", type=argument_type("--min-live", integer=True, minimum=1),
                       default=DEFAULT_MIN_LIVE,
                       help="pruning stops at this many live candidates per block, so ENG chooses inside the "
                            "searched distribution (1 prunes to a single network, as the paper)")
    add_search_arguments(parser, "DDPNAS (ddp-core)")
    parser.add_argument("--budget", action="append", type=budget_type(BUDGET_KEYS), default=None,
                        metavar="KEY=VALUE[,KEY=VALUE]",
                        help="a budget known before the search (KEY: flops_m, params_m; every pair of one --budget "
                             "holds at once; repeat for several): the default preset's target slots spend their "
                             "evaluations on networks that meet them; saved in the run and checked on resume; "
                             "tools/generate.py afterwards still answers any budget")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run (or resume) a search; returns the exit status (expected failures raise, for ``run_cli``)."""
    args = build_parser().parse_args(argv)
    apply_threads(args.threads)
    args.dataset = args.dataset or ("cifar10" if args.space == "nas-bench-macro" else "image_folder")
    if args.dataset in ("image_folder", "cifar10") and args.data_dir is None:
        raise ValueError(f"--dataset {args.dataset} needs --data-dir (or use --dataset synthetic/digits to try it out)")
    run_dir = prepare_run_dir(args, pathlib.Path("runs") / args.space)
    # budgets are checked as any setting (the paper/authors presets refuse them)
    config = dataclasses.replace(search_config_from_args(args), budgets=[dict(b) for b in args.budget or []] or None)
    image_size = resolve_image_size(args.dataset, args.image_size)
    if image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"--image-size {image_size} is below {MIN_IMAGE_SIZE}: MobileNet's stride-2 stages would "
                         f"reduce it to nothing; pass --image-size {MIN_IMAGE_SIZE} or more (224 for ImageNet)")
    workers = args.workers if args.workers is not None else (8 if args.dataset == "image_folder" else 0)
    description = {**supernet_description(args, image_size, args.batch_size, workers), "--space": args.space,
                   "--width-multiplier": args.width_multiplier, "--dropout": args.dropout,
                   "--stage-depths": None if args.stage_depths is None else list(args.stage_depths),
                   "--min-live": args.min_live}
    check_resume(run_dir, config, description)
    accelerator = make_search_accelerator(args, run_dir)
    splits = load_splits(args.dataset, args.data_dir, image_size=image_size, val_fraction=args.val_fraction,
                         seed=args.seed)
    layerwise = build_space(args, splits)
    space = layerwise.search_space(min_live=args.min_live)
    training = SupernetTrainingConfig(
        learning_rate=args.learning_rate, min_learning_rate=args.min_learning_rate, momentum=args.momentum,
        weight_decay=args.weight_decay, batch_size=args.batch_size, eval_batch_size=args.eval_batch_size,
        steps_per_unit=args.steps_per_unit, total_units=total_units(space, config), grad_clip_norm=args.grad_clip,
        num_workers=workers, seed=args.seed,
    )
    space.metadata["dataset"] = {"name": splits.name, "num_classes": splits.num_classes,
                                 "image_size": splits.image_size, "mean": list(splits.mean), "std": list(splits.std)}
    space.metadata["training"] = training.to_dict()

    def make_evaluator(accelerator) -> SupernetEvaluator:
        torch.manual_seed(args.seed)  # the same initial supernet in every process and on every resume
        return SupernetEvaluator(LayerwiseSupernet(layerwise), splits, training, accelerator)

    run = run_supernet_search(args, run_dir, space, config, make_evaluator, description, accelerator,
                              title=f"{args.space} search", costs=layerwise.cost_tables())
    if run is None:
        return 0
    records = [(r.architecture, r.score) for r in run.result.record.records]
    report_result(run_dir, layerwise, run.result.architecture, records, dataset=splits.name, quiet=True)
    budgets = budget_flags(config.budgets) if config.budgets else suggested_flops_budgets(layerwise, run.result)
    print_summary(run, f"python tools/generate.py {run_dir} {budgets}", {"answer's costs": "result.json"})
    return 0


def suggested_flops_budgets(layerwise: LayerwiseSpace, result: SearchResult) -> str:
    """Three MAC budgets (millions) over what the whole space can cost, each giving a different network under the
    ENG that ``tools/generate.py`` runs by default (checked by running it): a ready ``--budget`` command line."""
    costs = layerwise.cost_tables()
    found = suggested_budgets(result.space, costs, "flops_m", lambda requests: result.generate(costs, requests))
    return budget_flags([{"flops_m": b} for b in found])


def report_result(
    run_dir: pathlib.Path,
    layerwise: LayerwiseSpace,
    architecture: tuple[int, ...],
    records: list[tuple[tuple[int, ...], float]] = (),
    dataset: str = "cifar10",
    quiet: bool = False,
) -> None:
    """Write ``result.json`` with the answer's candidates and costs (and print it unless ``quiet``).

    For NAS-Bench-Macro searched on CIFAR-10 (10 classes, 32 px) it adds the benchmark's row of the answer and
    Kendall's tau between the supernet scores recorded during the search and the benchmark's accuracies.
    """
    from ddp_core import write_json_atomic
    from ddp_vision.mobilenet.costs import network_cost

    config = layerwise.network_config(architecture, name="ddpnas_answer")
    cost = network_cost(config)
    report: dict[str, Any] = {"architecture": list(architecture), "candidates": config.extra["candidates"],
                              "flops_m": cost.flops_m, "params_m": cost.params_m, "network": config.to_dict()}
    on_cifar10 = dataset == "cifar10" and layerwise.base.num_classes == 10 and layerwise.base.resolution == 32
    if layerwise.kind == "nas-bench-macro" and on_cifar10:
        from ddp_vision.macro.benchmark import NasBenchMacro
        from ddp_vision.macro.space import architecture_to_key

        try:
            table = NasBenchMacro.load()
        except FileNotFoundError:
            table = None
        if table is not None:
            key = architecture_to_key(architecture)
            report["nas_bench_macro"] = {"key": key, "mean_test_acc": table[key].mean_acc,
                                         "percentile": table.rank_percentile(key), "best_key": table.best().key,
                                         "best_mean_test_acc": table.best().mean_acc}
            if len({tuple(a) for a, _ in records}) >= 2:
                report["nas_bench_macro"]["supernet_rank_correlation"] = table.rank_correlation(
                    [a for a, _ in records], [s for _, s in records])
    write_json_atomic(run_dir / "result.json", report)
    if not quiet:
        print(json.dumps({k: v for k, v in report.items() if k != "network"}, indent=1))
