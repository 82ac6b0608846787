"""DDPNAS search over a layer-wise space (MobileNet/ProxylessNAS or NAS-Bench-Macro): the search command line.

``tools/search_mobilenet.py`` calls :func:`main`. A run directory holds everything (ddp-core's state, the
supernet checkpoint, TensorBoard logs); running the same command again resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import Any

import torch

from ddp_core import (
    DDPSearch,
    ProgressPrinter,
    add_search_arguments,
    run_directory,
    search_config_from_args,
    stage_schedule,
)
from ddp_vision.data import DATASET_NAMES, ImageSplits, load_splits
from ddp_vision.macro.space import MacroSpaceConfig, macro_space
from ddp_vision.mobilenet.space import LayerwiseSpace, MobileNetSpaceConfig, mobilenet_space
from ddp_vision.mobilenet.supernet import LayerwiseSupernet
from ddp_vision.supernet_evaluator import SupernetEvaluator, SupernetTrainingConfig, make_accelerator

SPACES = ("mobilenet", "nas-bench-macro")


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
        options["stage_depths"] = tuple(int(v) for v in args.stage_depths.split(","))
    return mobilenet_space(MobileNetSpaceConfig(**options))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="DDPNAS search over the MobileNet layer-wise space or NAS-Bench-Macro (resumable).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--space", choices=SPACES, default="mobilenet")
    parser.add_argument("--dataset", choices=DATASET_NAMES, default=None,
                        help="default: image_folder (mobilenet) or cifar10 (nas-bench-macro)")
    parser.add_argument("--data-dir", type=pathlib.Path, help="ImageNet-style folder (train/, val/) or CIFAR-10 root")
    parser.add_argument("--resolution", type=int, default=None, help="input size (default: 224 image folders, 32 CIFAR)")
    parser.add_argument("--width-multiplier", type=float, default=1.0)
    parser.add_argument("--stage-depths", default=None, help="blocks per stage, e.g. 4,4,4,4,4,1 (the paper's)")
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--val-fraction", type=float, default=0.5, help="part of the training set held out to score")
    # defaults: the paper's search settings, used for CIFAR-10 and, unchanged, for the ImageNet layer-wise search
    training = parser.add_argument_group("supernet training (paper defaults)")
    training.add_argument("--batch-size", type=int, default=512, help="global batch across processes")
    training.add_argument("--eval-batch-size", type=int, default=1024)
    training.add_argument("--lr", type=float, default=0.025, help="cosine-annealed over the whole search")
    training.add_argument("--min-lr", type=float, default=0.0)
    training.add_argument("--weight-decay", type=float, default=3e-4)
    training.add_argument("--steps-per-unit", type=int, default=None, help="batches per sample (default: one epoch)")
    training.add_argument("--mixed-precision", choices=("no", "bf16", "fp16"), default="no")
    training.add_argument("--cpu", action="store_true", help="force the CPU even when a GPU is visible")
    add_search_arguments(parser, "DDPNAS (a --run-dir that holds a search is resumed; default runs/<space>)")
    parser.add_argument("--quiet", action="store_true", help="no per-sample lines or progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run (or resume) a search; returns the exit status."""
    args = build_parser().parse_args(argv)
    args.run_dir = run_directory(args, pathlib.Path("runs") / args.space)
    dataset = args.dataset or ("cifar10" if args.space == "nas-bench-macro" else "image_folder")
    if dataset in ("image_folder", "cifar10") and args.data_dir is None:
        print(f"error: --dataset {dataset} needs --data-dir (or use --dataset synthetic/digits to try it out)",
              file=sys.stderr)
        return 2
    try:
        splits = load_splits(dataset, args.data_dir, image_size=args.resolution, val_fraction=args.val_fraction,
                             seed=args.seed)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    layerwise = build_space(args, splits)
    space = layerwise.search_space()
    space.metadata["dataset"] = {"name": splits.name, "num_classes": splits.num_classes,
                                 "image_size": splits.image_size}
    config = search_config_from_args(args)
    total_units = config.rounds_per_stage * sum(stage_schedule(space, config.prune, config.stages))
    training = SupernetTrainingConfig(
        learning_rate=args.lr, min_learning_rate=args.min_lr, momentum=0.9, weight_decay=args.weight_decay,
        batch_size=args.batch_size, eval_batch_size=args.eval_batch_size, steps_per_unit=args.steps_per_unit,
        total_units=total_units, grad_clip_norm=5.0, seed=args.seed,
    )
    space.metadata["training"] = training.to_dict()
    accelerator = make_accelerator(args.mixed_precision, log_dir=args.run_dir / "logs", cpu=args.cpu)
    accelerator.init_trackers("search", config={"space": args.space, "dataset": splits.name})
    torch.manual_seed(args.seed)  # the same initial supernet in every process and on every resume
    supernet = LayerwiseSupernet(layerwise)
    evaluator = SupernetEvaluator(supernet, splits, training, accelerator, progress=not args.quiet)
    callbacks = [] if args.quiet or not accelerator.is_main_process else [ProgressPrinter()]
    try:
        search = DDPSearch(space, evaluator, config, run_dir=args.run_dir, callbacks=callbacks,
                           writes=accelerator.is_main_process)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if accelerator.is_main_process and search.steps:
        print(f"resuming {args.run_dir} at sample {search.steps}/{search.total_steps}")
    result = search.run()
    accelerator.end_training()
    if accelerator.is_main_process:
        records = [(r.architecture, r.score) for r in result.record.records]
        report_result(args.run_dir, layerwise, result.architecture, records, dataset=splits.name)
    return 0


def report_result(
    run_dir: pathlib.Path,
    layerwise: LayerwiseSpace,
    architecture: tuple[int, ...],
    records: list[tuple[tuple[int, ...], float]] = (),
    dataset: str = "cifar10",
) -> None:
    """Print the most likely architecture and write ``result.json`` with its costs.

    For NAS-Bench-Macro searched on CIFAR-10 (10 classes, 32 px) it adds the benchmark's row of the answer and
    Kendall's tau between the supernet scores recorded during the search and the benchmark's accuracies.
    """
    from ddp_core import write_json_atomic
    from ddp_vision.mobilenet.costs import network_cost

    config = layerwise.network_config(architecture, name="ddpnas_argmax")
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
    print(json.dumps({k: v for k, v in report.items() if k != "network"}, indent=1))
    print(f"ENG: python tools/generate.py {run_dir} --flops <budgets in M MACs>")
