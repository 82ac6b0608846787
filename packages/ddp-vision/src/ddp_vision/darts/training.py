"""Train a DARTS evaluation network from a genotype (behind ``tools/train_darts.py``).

Defaults are DARTS' CIFAR-10 recipe: 20 cells of 36 channels, 600 epochs, batch 96, SGD 0.025 cosine,
momentum 0.9, weight decay 3e-4, auxiliary head weight 0.4, drop path 0.2 (ramped linearly), cutout 16,
gradient clip 5. ``--network imagenet`` switches to the mobile setting (14 cells, 48 channels). On the
digits default a couple of epochs of a small network make a smoke run. Training runs through accelerate
(CPU, one GPU with bf16/channels_last, several GPUs with ``accelerate launch``), logs through ``--report-to``
under ``OUTPUT_DIR/logs``, checkpoints every epoch (``--resume OUTPUT_DIR`` with the same flags) and writes
the network as ``model.safetensors`` + ``config.json`` (:mod:`ddp_vision.artifacts`), ``metrics.json`` and
``training_curves.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import pathlib
import time
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from ddp_core import RunDirectoryError, write_json_atomic
from ddp_core.cli import REPORT_TO
from ddp_core.plotting import new_figure, save_figure
from ddp_core.rundir import describe_mismatch
from ddp_vision.accelerator import MIXED_PRECISION, make_accelerator
from ddp_vision.arguments import (
    MAX_IMAGE_SIDE,
    OneLineArgumentParser,
    cells,
    channels,
    epochs,
    image_side,
    number,
    positive_int,
    seed_type,
    threads_type,
    workers,
)
from ddp_vision.artifacts import NetworkArtifact, save_network
from ddp_vision.checkpoints import load_state, rng_state, save_state, set_rng_state
from ddp_vision.darts.costs import EvalNetworkSpec, network_costs
from ddp_vision.darts.genotypes import (
    PUBLISHED_GENOTYPES,
    Genotype,
    format_genotype,
    genotype_from_dict,
    parse_genotype,
)
from ddp_vision.data import DATASET_NAMES, Augmentation, BatchStream, load_splits, resolve_image_size
from ddp_vision.search_cli import apply_threads
from ddp_vision.supernet_evaluator import TrainingDiverged

__all__ = ["build_parser", "load_genotype", "main"]

DATASET_PRESETS = {
    "cifar10": {"batch_size": 96, "cutout": 16, "image_size": 32},
    "digits": {"batch_size": 64, "cutout": 0, "image_size": 8},
    "image_folder": {"batch_size": 128, "cutout": 0, "image_size": 224},
    "synthetic": {"batch_size": 16, "cutout": 0, "image_size": 8},
}


def load_genotype(text: str) -> Genotype:
    """A genotype from a run directory (its ``genotype.json``), a ``.json``/``.txt`` file, or text/name."""
    stripped = text.strip()
    if stripped.startswith(("Genotype(", "{")) or stripped in PUBLISHED_GENOTYPES:
        return parse_genotype(stripped)
    path = pathlib.Path(stripped)
    if path.is_dir():
        path = path / "genotype.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: run tools/generate.py on that run directory first")
    if path.is_file():
        fix = "pass a genotype.json that tools/generate.py wrote, a run directory, a published name or Genotype(...) text"
        try:
            content = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"--genotype {path} is not text (a binary file, such as a pickle?): {fix}") from None
        try:
            if path.suffix == ".json":
                data = json.loads(content)
                return genotype_from_dict(data.get("genotype", data) if isinstance(data, dict) else data)
            return parse_genotype(content)
        except ValueError as error:  # json.JSONDecodeError included
            raise ValueError(f"--genotype {path}: {' '.join(str(error).split())}; {fix}") from None
    raise ValueError(
        f"--genotype {text!r} is neither a file, a run directory, a published name ({', '.join(PUBLISHED_GENOTYPES)}) "
        "nor Genotype(...) text / JSON"
    )


def build_parser() -> OneLineArgumentParser:
    """Flags of ``tools/train_darts.py``."""
    parser = OneLineArgumentParser(prog="tools/train_darts.py", description=__doc__.split("\n\n")[0],
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--genotype", default="DARTS_V2",
                        help="published name, Genotype(...) text, JSON, a file, or a search run directory")
    parser.add_argument("--network", choices=("cifar", "imagenet"), default="cifar")
    parser.add_argument("--dataset", choices=DATASET_NAMES, default="digits")
    parser.add_argument("--data-dir", type=pathlib.Path, default=None)
    parser.add_argument("--image-size", "--resolution", dest="image_size", type=image_side(), default=None)
    parser.add_argument("--channels", type=channels(), default=None,
                        help="default 36 (cifar) / 48 (imagenet)")
    parser.add_argument("--layers", type=cells(), default=None,
                        help="default 20 (cifar) / 14 (imagenet)")
    parser.add_argument("--epochs", type=epochs(), default=600)
    parser.add_argument("--batch-size", type=positive_int("--batch-size"), default=None)
    parser.add_argument("--learning-rate", "--lr", dest="learning_rate", default=0.025,
                        type=number("--learning-rate", minimum=0, exclusive_minimum=True))
    parser.add_argument("--momentum", type=number("--momentum", minimum=0, maximum=1, exclusive_maximum=True),
                        default=0.9)
    parser.add_argument("--weight-decay", type=number("--weight-decay", minimum=0), default=3e-4)
    parser.add_argument("--auxiliary-weight", type=number("--auxiliary-weight", minimum=0), default=0.4,
                        help="0 turns the auxiliary head off")
    parser.add_argument("--drop-path", type=number("--drop-path", minimum=0, maximum=1, exclusive_maximum=True),
                        default=0.2)
    parser.add_argument("--cutout", type=number("--cutout", integer=True, minimum=0, maximum=MAX_IMAGE_SIDE),
                        default=None,
                        help="cutout length (0: off)")
    parser.add_argument("--label-smoothing", default=0.0, help="DARTS uses 0.1 on ImageNet",
                        type=number("--label-smoothing", minimum=0, maximum=1, exclusive_maximum=True))
    parser.add_argument("--grad-clip", type=number("--grad-clip", minimum=0), default=5.0)
    parser.add_argument("--mixed-precision", choices=MIXED_PRECISION, default="auto")
    parser.add_argument("--cpu", action="store_true")
    parser.add_argument("--threads", type=threads_type, default=None,
                        help="CPU threads (default: torch's choice)")
    parser.add_argument("--workers", type=workers(), default=8,
                        help="data loading workers for image folders")
    parser.add_argument("--seed", type=seed_type, default=0)
    parser.add_argument("--output-dir", type=pathlib.Path, default=None)
    parser.add_argument("--resume", type=pathlib.Path, default=None, metavar="OUTPUT_DIR",
                        help="continue the training saved in OUTPUT_DIR (its settings must match these flags)")
    parser.add_argument("--report-to", choices=REPORT_TO, default="tensorboard",
                        help="accelerate trackers; logs go to OUTPUT_DIR/logs")
    parser.add_argument("--quiet", "--no-progress", dest="quiet", action="store_true", help="no progress bars")
    parser.add_argument("--debug", action="store_true", help="show a traceback instead of a one-line error")
    return parser


class _TrainingForward(nn.Module):
    """Routes ``forward`` to ``forward_train`` so DDP sees (and synchronises) the auxiliary head too."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor):
        return self.network.forward_train(x)


def _plot_curves(history: list[dict], path: pathlib.Path) -> None:
    from matplotlib.ticker import MaxNLocator

    figure = new_figure(figsize=(9, 3.4))
    left, right = figure.subplots(1, 2)
    epochs = [h["epoch"] for h in history]
    left.plot(epochs, [h["train_loss"] for h in history], marker="o")
    left.set(xlabel="epoch", ylabel="training loss")
    right.plot(epochs, [h["train_accuracy"] for h in history], marker="o", label="train")
    right.plot(epochs, [h["test_accuracy"] for h in history], marker="o", label="test")
    right.set(xlabel="epoch", ylabel="top-1 accuracy", ylim=(0, 1))
    right.legend()
    for axis in (left, right):
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.tight_layout()
    save_figure(figure, path, dpi=100)


def _output_dir(args) -> pathlib.Path:
    if args.resume is not None:
        if not (args.resume / "checkpoint.pt").is_file():
            raise RunDirectoryError(f"--resume {args.resume}: no checkpoint.pt there; start a new training with "
                                    "--output-dir")
        return args.resume
    output_dir = args.output_dir or pathlib.Path("runs") / f"train-darts-{time.strftime('%Y%m%d-%H%M%S')}"
    if (output_dir / "checkpoint.pt").exists():
        raise RunDirectoryError(f"{output_dir} already holds a training; continue it with --resume {output_dir} "
                                "(with the same flags) or pass another --output-dir")
    return output_dir


def main(argv: Sequence[str] | None = None) -> int:
    """Train (or resume) an evaluation network; returns the exit status (expected failures raise for
    ``ddp_core.run_cli``: one ``error:`` line, exit status 2)."""
    args = build_parser().parse_args(argv)
    apply_threads(args.threads)
    output_dir = _output_dir(args)
    preset = DATASET_PRESETS[args.dataset]
    image_size = resolve_image_size(args.dataset, args.image_size or preset["image_size"])
    genotype = load_genotype(args.genotype)
    base = EvalNetworkSpec() if args.network == "cifar" else EvalNetworkSpec.imagenet()
    settings = {  # every setting that changes the result, by flag: --resume must repeat them
        "--genotype": format_genotype(genotype), "--network": args.network, "--dataset": args.dataset,
        "--data-dir": None if args.data_dir is None else str(args.data_dir.expanduser().resolve()),
        "--image-size": image_size, "--channels": args.channels or base.channels, "--layers": args.layers or base.layers,
        "--epochs": args.epochs, "--batch-size": args.batch_size or preset["batch_size"],
        "--learning-rate": args.learning_rate, "--momentum": args.momentum, "--weight-decay": args.weight_decay,
        "--auxiliary-weight": args.auxiliary_weight, "--drop-path": args.drop_path,
        "--cutout": args.cutout if args.cutout is not None else preset["cutout"],
        "--label-smoothing": args.label_smoothing, "--grad-clip": args.grad_clip,
        "--mixed-precision": args.mixed_precision, "--seed": args.seed,
    }
    checkpoint = output_dir / "checkpoint.pt"
    state = load_state(checkpoint) if args.resume is not None else None
    if state is not None:
        problems = describe_mismatch(state.get("settings", {}), settings)
        if problems:
            raise RunDirectoryError(f"cannot resume {output_dir}: settings differ from the saved training ("
                                    + "; ".join(problems) + "); pass the saved values or use a new --output-dir")
    splits = load_splits(args.dataset, args.data_dir, image_size, val_fraction=0.0, seed=args.seed)
    if splits.test is None:
        raise ValueError(f"--dataset {args.dataset} has no test split to evaluate on (image folders need val/)")
    spec = dataclasses.replace(base, channels=settings["--channels"], layers=settings["--layers"],
                               num_classes=splits.num_classes, in_channels=splits.in_channels,
                               image_size=splits.image_size)
    accelerator = make_accelerator(args.mixed_precision, run_dir=output_dir, cpu=args.cpu, report_to=args.report_to)
    main_process = accelerator.is_main_process
    if main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    network = spec.build(genotype, auxiliary=args.auxiliary_weight > 0)
    costs = network_costs(network, spec.image_size, spec.in_channels)
    # channels_last on every device: it also trains these convolutions faster on the CPU (BENCHMARKS.md)
    if accelerator.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    network = network.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(network.parameters(), lr=args.learning_rate, momentum=args.momentum,
                                weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    model, optimizer = accelerator.prepare(_TrainingForward(network), optimizer)
    augmentation = dataclasses.replace(splits.train_augmentation, cutout_length=settings["--cutout"])
    stream_args = dict(mean=splits.mean, std=splits.std, device=accelerator.device, channels_last=True,
                       num_workers=args.workers if args.dataset == "image_folder" else 0,
                       process_index=accelerator.process_index, num_processes=accelerator.num_processes)
    train_stream = BatchStream(splits.train, settings["--batch-size"], shuffle=True,
                               augmentation=augmentation, seed=args.seed, **stream_args)
    test_stream = BatchStream(splits.test, 512, shuffle=False, augmentation=Augmentation(), **stream_args)
    history, start_epoch = [], 0
    if state is not None:
        network.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        train_stream.load_state_dict(state["train_stream"])
        set_rng_state(state["rng"])
        history, start_epoch = list(state["history"]), int(state["epoch"])
    accelerator.init_trackers("train", config={"epochs": args.epochs, "channels": spec.channels,
                                               "layers": spec.layers, "dataset": args.dataset})
    if main_process:
        print(f"training {format_genotype(genotype)}\n{spec.kind} network: {costs['params_m']:.3f}M params, "
              f"{costs['flops_m']:.1f}M MACs, {len(splits.train)} training images, {args.epochs} epochs")
    parameters = list(model.parameters())  # listed once, not walked through every module at every step
    for epoch in range(start_epoch, args.epochs):
        network.drop_path_probability = args.drop_path * epoch / args.epochs
        model.train()
        totals = torch.zeros(3, device=accelerator.device, dtype=torch.float64)
        bar = tqdm(train_stream.take(), total=train_stream.batches_per_epoch, desc=f"epoch {epoch + 1}/{args.epochs}",
                   leave=False, disable=args.quiet or not main_process)
        for images, labels in bar:
            with accelerator.autocast():
                logits, aux = model(images)
                loss = F.cross_entropy(logits.float(), labels, label_smoothing=args.label_smoothing)
                if aux is not None:
                    loss = loss + args.auxiliary_weight * F.cross_entropy(aux.float(), labels,
                                                                          label_smoothing=args.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            if args.grad_clip > 0:
                accelerator.clip_grad_norm_(parameters, args.grad_clip)
            optimizer.step()
            totals += torch.stack([loss.detach().double() * labels.shape[0],
                                   (logits.argmax(1) == labels).sum().double(),
                                   torch.tensor(labels.shape[0], device=accelerator.device, dtype=torch.float64)])
        scheduler.step()
        totals = accelerator.reduce(totals, reduction="sum")
        if not math.isfinite(float(totals[0])):
            raise TrainingDiverged(f"training diverged at epoch {epoch + 1}: the loss became {float(totals[0])}; "
                                   "start again with a lower --learning-rate")
        test_accuracy = _evaluate(network, test_stream, accelerator)
        record = {"epoch": epoch + 1, "train_loss": float(totals[0] / totals[2]),
                  "train_accuracy": float(totals[1] / totals[2]), "test_accuracy": test_accuracy,
                  "learning_rate": scheduler.get_last_lr()[0]}
        history.append(record)
        accelerator.log({f"train/{k}": v for k, v in record.items() if k != "epoch"}, step=epoch + 1)
        if main_process:
            print(f"epoch {epoch + 1}: loss {record['train_loss']:.4f}, train {record['train_accuracy']:.4f}, "
                  f"test {test_accuracy:.4f}")
            save_state({"model": accelerator.unwrap_model(model).network.state_dict(),
                        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                        "train_stream": train_stream.state_dict(), "rng": rng_state(), "history": history,
                        "epoch": epoch + 1, "settings": settings}, checkpoint)
    accelerator.end_training()
    if main_process and history:
        artifact = NetworkArtifact(
            model=f"ddpnas_darts_{spec.kind}",
            arguments={"genotype": format_genotype(genotype), "channels": spec.channels, "layers": spec.layers,
                       "num_classes": spec.num_classes, "in_channels": spec.in_channels, "auxiliary": False},
            architecture={"genotype": format_genotype(genotype)},
            input_size=(spec.in_channels, spec.image_size, spec.image_size), mean=splits.mean, std=splits.std,
            num_classes=spec.num_classes,
            extra={**costs, "dataset": args.dataset, "test_accuracy": history[-1]["test_accuracy"]},
            preprocessing=splits.preprocessing.to_dict(),
        )
        save_network(output_dir, network, artifact, drop_prefixes=("auxiliary_head.",))
        write_json_atomic(output_dir / "metrics.json", {
            "genotype": format_genotype(genotype), "network": spec.to_dict(), **costs,
            "final_test_accuracy": history[-1]["test_accuracy"], "history": history,
        })
        _plot_curves(history, output_dir / "training_curves.png")
        print(f"test accuracy {history[-1]['test_accuracy']:.4f}; wrote {output_dir}/model.safetensors, config.json, "
              f"metrics.json, training_curves.png\nnext: python tools/export_network.py --train-dir {output_dir} "
              f"--format onnx  (writes {output_dir}/model.onnx)")
    return 0


@torch.no_grad()
def _evaluate(network: nn.Module, stream: BatchStream, accelerator) -> float:
    """Top-1 accuracy on the test split, eval mode, summed over processes."""
    network.eval()
    counts = torch.zeros(2, device=accelerator.device, dtype=torch.float64)
    for images, labels in stream.take():
        with accelerator.autocast():
            logits = network(images)
        counts += torch.stack([(logits.argmax(1) == labels).sum().double(),
                               torch.tensor(labels.shape[0], device=accelerator.device, dtype=torch.float64)])
    counts = accelerator.reduce(counts, reduction="sum")
    return float(counts[0] / counts[1].clamp_min(1))
