"""Train a generated MobileNet-family network from its JSON config (paper recipe defaults), resumably.

Examples
--------
``accelerate launch --multi_gpu --num_processes 8 tools/train_mobilenet.py --config runs/x/generated/network_flops_m-600.json
--data-dir /data/imagenet --output-dir runs/x/train600 --mixed-precision bf16``;
a quick CPU try: ``python tools/train_mobilenet.py --config net.json --dataset digits --resolution 32 --epochs 2
--batch-size 64 --lr 0.05 --output-dir runs/try-train``. Re-running the same command resumes.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from dataclasses import replace

from ddp_vision.data import DATASET_NAMES, load_splits
from ddp_vision.mobilenet.config import NetworkConfig
from ddp_vision.mobilenet.train import TrainingRecipe, train_network
from ddp_vision.supernet_evaluator import make_accelerator


def main(argv: list[str] | None = None) -> int:
    defaults = TrainingRecipe()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--config", type=pathlib.Path, required=True, help="network JSON (from tools/generate.py)")
    parser.add_argument("--output-dir", type=pathlib.Path, required=True)
    parser.add_argument("--dataset", choices=DATASET_NAMES, default="image_folder")
    parser.add_argument("--data-dir", type=pathlib.Path, help="ImageNet-style folder (train/, val/) or CIFAR-10 root")
    parser.add_argument("--resolution", type=int, default=None, help="input size (default: the config's)")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="global, across processes")
    parser.add_argument("--lr", type=float, default=defaults.learning_rate, help="peak lr for --batch-size")
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    parser.add_argument("--label-smoothing", type=float, default=defaults.label_smoothing)
    parser.add_argument("--steps-per-epoch", type=int, default=None)
    parser.add_argument("--stop-after-epoch", type=int, default=None,
                        help="end this job after that epoch (checkpointed); run again to continue")
    parser.add_argument("--dropout", type=float, default=None, help="override the config's classifier dropout")
    parser.add_argument("--mixed-precision", choices=("no", "bf16", "fp16"), default="no")
    parser.add_argument("--cpu", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        config = NetworkConfig.load(args.config)
        if args.dataset in ("image_folder", "cifar10") and args.data_dir is None:
            raise ValueError(f"--dataset {args.dataset} needs --data-dir")
        # the whole training set trains; the official test split (val/ for image folders) evaluates
        splits = load_splits(args.dataset, args.data_dir, image_size=args.resolution or config.resolution,
                             val_fraction=0.0, seed=args.seed)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    changes = {"num_classes": splits.num_classes, "resolution": splits.image_size, "in_channels": splits.in_channels}
    if args.dropout is not None:
        changes["dropout"] = args.dropout
    config = replace(config, **changes)
    recipe = TrainingRecipe(epochs=args.epochs, batch_size=args.batch_size, eval_batch_size=args.batch_size,
                            learning_rate=args.lr, weight_decay=args.weight_decay,
                            label_smoothing=args.label_smoothing, steps_per_epoch=args.steps_per_epoch, seed=args.seed)
    accelerator = make_accelerator(args.mixed_precision, log_dir=args.output_dir / "logs", cpu=args.cpu)
    accelerator.init_trackers("train")
    try:
        result = train_network(config, splits, recipe, args.output_dir, accelerator,
                               stop_after_epoch=args.stop_after_epoch)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    accelerator.end_training()
    if accelerator.is_main_process:
        print(f"top-1 {result['top1']:.4f} after {len(result['history'])} epochs; weights in {args.output_dir}/model.pt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
