"""Train a generated MobileNet-family network from its JSON config (paper recipe defaults), resumably.

Examples
--------
``accelerate launch --multi_gpu --num_processes 8 tools/train_mobilenet.py --config runs/x/generated/network_flops_m-600.json
--data-dir /data/imagenet --output-dir runs/x/train600 --mixed-precision bf16``;
a quick CPU try: ``python tools/train_mobilenet.py --config net.json --dataset digits --image-size 16 --epochs 2
--batch-size 64 --lr 0.05 --output-dir runs/try-train``. ``--resume runs/try-train`` with the same flags continues.
The network lands in the output directory as ``model.safetensors`` + ``config.json``.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from collections.abc import Sequence
from dataclasses import replace

from ddp_core import RunDirectoryError, run_cli
from ddp_core.cli import REPORT_TO
from ddp_vision.accelerator import MIXED_PRECISION, make_accelerator
from ddp_vision.arguments import (
    OneLineArgumentParser,
    epochs,
    image_side,
    number,
    positive_int,
    seed_type,
    steps,
    threads_type,
    workers,
)
from ddp_vision.data import DATASET_NAMES, load_splits
from ddp_vision.mobilenet.config import NetworkConfig
from ddp_vision.mobilenet.train import TrainingRecipe, train_network
from ddp_vision.search_cli import apply_threads


def build_parser() -> OneLineArgumentParser:
    defaults = TrainingRecipe()
    parser = OneLineArgumentParser(prog="tools/train_mobilenet.py", description=__doc__.splitlines()[0],
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--config", type=pathlib.Path, required=True, help="network JSON (from tools/generate.py)")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--output-dir", type=pathlib.Path, help="a new output directory")
    target.add_argument("--resume", type=pathlib.Path, metavar="OUTPUT_DIR",
                        help="continue the training saved there (its settings must match these flags)")
    parser.add_argument("--dataset", choices=DATASET_NAMES, default="image_folder")
    parser.add_argument("--data-dir", type=pathlib.Path, help="ImageNet-style folder (train/, val/) or CIFAR-10 root")
    parser.add_argument("--image-size", "--resolution", dest="image_size", type=image_side(),
                        default=None, help="input size (default: the config's; CIFAR-10 is always 32)")
    parser.add_argument("--epochs", type=epochs(), default=defaults.epochs)
    parser.add_argument("--batch-size", type=positive_int("--batch-size"), default=defaults.batch_size,
                        help="global, across processes")
    parser.add_argument("--learning-rate", "--lr", dest="learning_rate", default=defaults.learning_rate,
                        type=number("--learning-rate", minimum=0, exclusive_minimum=True), help="peak lr for --batch-size")
    parser.add_argument("--momentum", default=defaults.momentum,
                        type=number("--momentum", minimum=0, maximum=1, exclusive_maximum=True))
    parser.add_argument("--weight-decay", type=number("--weight-decay", minimum=0), default=defaults.weight_decay)
    parser.add_argument("--label-smoothing", default=defaults.label_smoothing,
                        type=number("--label-smoothing", minimum=0, maximum=1, exclusive_maximum=True))
    parser.add_argument("--steps-per-epoch", type=steps("--steps-per-epoch"), default=None)
    parser.add_argument("--stop-after-epoch", type=positive_int("--stop-after-epoch"), default=None,
                        help="end this job after that epoch (checkpointed); continue with --resume")
    parser.add_argument("--dropout", default=None, help="override the config's classifier dropout",
                        type=number("--dropout", minimum=0, maximum=1, exclusive_maximum=True))
    parser.add_argument("--mixed-precision", choices=MIXED_PRECISION, default="auto")
    parser.add_argument("--cpu", action="store_true")
    parser.add_argument("--threads", type=threads_type, default=None, help="CPU threads")
    parser.add_argument("--workers", type=workers(), default=8,
                        help="data loading workers for image folders (as in the other vision tools)")
    parser.add_argument("--seed", type=seed_type, default=0)
    parser.add_argument("--report-to", choices=REPORT_TO, default="tensorboard",
                        help="accelerate trackers; logs go to OUTPUT_DIR/logs")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--debug", action="store_true", help="show a traceback instead of a one-line error")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    apply_threads(args.threads)
    output_dir = args.resume or args.output_dir
    has_checkpoint = (output_dir / "checkpoint.pt").exists()
    if args.resume is not None and not has_checkpoint:
        raise RunDirectoryError(f"--resume {output_dir}: no checkpoint.pt there; start a new training with --output-dir")
    if args.resume is None and has_checkpoint:
        raise RunDirectoryError(f"{output_dir} already holds a training; continue it with --resume {output_dir} "
                                "(with the same flags) or pass another --output-dir")
    config = NetworkConfig.load(args.config)
    if args.dataset in ("image_folder", "cifar10") and args.data_dir is None:
        raise ValueError(f"--dataset {args.dataset} needs --data-dir")
    # the whole training set trains; the official test split (val/ for image folders) evaluates
    image_size = args.image_size or (None if args.dataset == "cifar10" else config.resolution)
    splits = load_splits(args.dataset, args.data_dir, image_size=image_size, val_fraction=0.0, seed=args.seed)
    changes = {"num_classes": splits.num_classes, "resolution": splits.image_size, "in_channels": splits.in_channels}
    if args.dropout is not None:
        changes["dropout"] = args.dropout
    config = replace(config, **changes)
    recipe = TrainingRecipe(epochs=args.epochs, batch_size=args.batch_size, eval_batch_size=args.batch_size,
                            learning_rate=args.learning_rate, momentum=args.momentum, weight_decay=args.weight_decay,
                            label_smoothing=args.label_smoothing, steps_per_epoch=args.steps_per_epoch, seed=args.seed,
                            workers=args.workers if args.dataset == "image_folder" else 0)
    accelerator = make_accelerator(args.mixed_precision, run_dir=output_dir, cpu=args.cpu, report_to=args.report_to)
    accelerator.init_trackers("train")
    result = train_network(config, splits, recipe, output_dir, accelerator, progress=not args.quiet,
                           stop_after_epoch=args.stop_after_epoch)
    accelerator.end_training()
    if accelerator.is_main_process:
        done = len(result["history"])
        where = (f"network in {output_dir}/model.safetensors + config.json" if done == args.epochs
                 else f"continue with --resume {output_dir}")
        print(f"top-1 {result['top1']:.4f} after {done} of {args.epochs} epochs; {where}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
