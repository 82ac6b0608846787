"""Train a generated network from its JSON config (the paper's ImageNet recipe as defaults), resumably.

Everything runs through ``accelerate`` (CPU, one GPU, several GPUs with ``accelerate launch``); the output
directory holds ``checkpoint.pt`` (model, optimiser, schedule, data order, RNG; rewritten atomically every
epoch and read back with ``weights_only=True``), ``metrics.json`` and, at the end, the network as
``model.safetensors`` + ``config.json`` (:mod:`ddp_vision.artifacts`: input size, mean/std, architecture).
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ddp_core import RunDirectoryError, write_json_atomic
from ddp_core.rundir import describe_mismatch
from ddp_vision.artifacts import NetworkArtifact, load_network, save_network
from ddp_vision.checkpoints import load_state, rng_state, save_state, set_rng_state
from ddp_vision.data import BatchStream, ImageSplits
from ddp_vision.mobilenet.config import NetworkConfig
from ddp_vision.mobilenet.network import LayerwiseMobileNet
from ddp_vision.supernet_evaluator import TrainingDiverged

# recipe field -> the flag of tools/train_mobilenet.py that sets it (for resume errors)
RECIPE_FLAGS = {"epochs": "--epochs", "batch_size": "--batch-size", "eval_batch_size": "--batch-size",
                "learning_rate": "--learning-rate", "momentum": "--momentum", "weight_decay": "--weight-decay",
                "label_smoothing": "--label-smoothing", "steps_per_epoch": "--steps-per-epoch", "seed": "--seed"}


@dataclass(frozen=True)
class TrainingRecipe:
    """Training hyper-parameters; defaults are the paper's ImageNet recipe for the generated networks.

    Parameters
    ----------
    epochs : int
        120 in the paper.
    batch_size : int
        Global batch across processes (1024 in the paper).
    learning_rate : float
        Peak learning rate for ``batch_size`` (0.4 for 1024), cosine-annealed per step to 0.
    momentum, weight_decay : float
        SGD (Nesterov) momentum and L2 weight decay (not applied to BatchNorm and biases).
    label_smoothing : float
        0.1 in the paper.
    steps_per_epoch : int or None
        Cap on batches per epoch (for quick trials); ``None`` is a full pass.
    seed : int
    workers : int
        DataLoader workers for datasets not held as tensors (image folders); not part of the result.
    """

    epochs: int = 120
    batch_size: int = 1024
    eval_batch_size: int = 1024
    learning_rate: float = 0.4
    momentum: float = 0.9
    weight_decay: float = 4e-5
    label_smoothing: float = 0.1
    steps_per_epoch: int | None = None
    seed: int = 0
    workers: int = 0


def _parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for parameter in model.parameters():
        (no_decay if parameter.ndim <= 1 else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def train_network(
    config: NetworkConfig,
    splits: ImageSplits,
    recipe: TrainingRecipe,
    output_dir: pathlib.Path,
    accelerator=None,
    progress: bool = True,
    stop_after_epoch: int | None = None,
) -> dict[str, Any]:
    """Train ``config`` on ``splits.train`` and report top-1 on ``splits.test`` (or ``splits.val``) each epoch.

    ``stop_after_epoch`` ends this call after that epoch (checkpoint written), for time-limited jobs: the same
    call without it continues the run exactly.
    """
    from ddp_vision.accelerator import make_accelerator

    accelerator = accelerator or make_accelerator()
    evaluation = splits.test if splits.test is not None else splits.val
    if evaluation is None:
        raise ValueError("no split to evaluate on: the dataset has no test split and nothing was held out")
    output_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(recipe.seed)
    model = LayerwiseMobileNet(config)
    optimizer = torch.optim.SGD(_parameter_groups(model, recipe.weight_decay), lr=recipe.learning_rate,
                                momentum=recipe.momentum, nesterov=True)
    device = accelerator.device
    # channels_last on every device: on the CPU, depthwise backward in the default layout is up to 30x slower
    stream_args = dict(mean=splits.mean, std=splits.std, device=device, process_index=accelerator.process_index,
                       num_processes=accelerator.num_processes, channels_last=True, num_workers=recipe.workers)
    train_stream = BatchStream(splits.train, recipe.batch_size, shuffle=True, augmentation=splits.train_augmentation,
                               seed=recipe.seed, **stream_args)
    eval_stream = BatchStream(evaluation, recipe.eval_batch_size, shuffle=False, **stream_args)
    steps = min(recipe.steps_per_epoch or train_stream.batches_per_epoch, train_stream.batches_per_epoch)
    model = model.to(memory_format=torch.channels_last)
    model, optimizer = accelerator.prepare(model, optimizer)
    inner = optimizer.optimizer if hasattr(optimizer, "optimizer") else optimizer
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(inner, T_max=max(1, recipe.epochs * steps))
    history: list[dict[str, float]] = []
    start_epoch = 0
    checkpoint = output_dir / "checkpoint.pt"
    if checkpoint.is_file():
        state = load_state(checkpoint)
        # --workers changes how fast batches come, never which: not a setting a resume must repeat
        saved = {k: v for k, v in state.get("recipe", {}).items() if k != "workers"}
        now = {k: v for k, v in dataclasses.asdict(recipe).items() if k != "workers"}
        problems = describe_mismatch(saved, now, RECIPE_FLAGS)
        if state.get("network") != config.to_dict():
            problems.append("--config: another network (or --image-size/--dropout/classes) than the saved one")
        if problems:
            raise RunDirectoryError(f"cannot resume {output_dir}: settings differ from the saved training ("
                                    + "; ".join(problems) + "); pass the saved values or use a new --output-dir")
        accelerator.unwrap_model(model).load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        train_stream.load_state_dict(state["train_stream"])
        set_rng_state(state["rng"])
        start_epoch, history = int(state["epoch"]), list(state["history"])
    last_epoch = recipe.epochs if stop_after_epoch is None else min(recipe.epochs, stop_after_epoch)
    for epoch in range(start_epoch, last_epoch):
        model.train()
        loss_sum, seen = 0.0, 0
        bar = tqdm(train_stream.take(steps), total=steps, desc=f"epoch {epoch + 1}/{recipe.epochs}", leave=False,
                   disable=not (progress and accelerator.is_main_process))
        for images, labels in bar:
            with accelerator.autocast():
                loss = F.cross_entropy(model(images).float(), labels, label_smoothing=recipe.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            optimizer.step()
            scheduler.step()
            loss_sum += float(loss.detach()) * labels.shape[0]
            seen += labels.shape[0]
        if not math.isfinite(loss_sum):
            raise TrainingDiverged(f"training diverged at epoch {epoch + 1}: the loss became {loss_sum}; start again "
                                   "with a lower --learning-rate")
        accuracy = evaluate(model, eval_stream, accelerator)
        history.append({"epoch": epoch + 1, "train_loss": loss_sum / max(1, seen), "top1": accuracy,
                        "learning_rate": scheduler.get_last_lr()[0]})
        accelerator.log(history[-1], step=epoch + 1)
        if accelerator.is_main_process:
            save_state({
                "epoch": epoch + 1, "history": history, "recipe": dataclasses.asdict(recipe),
                "network": config.to_dict(), "model": accelerator.unwrap_model(model).state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "train_stream": train_stream.state_dict(), "rng": rng_state(),
            }, checkpoint)
            write_json_atomic(output_dir / "metrics.json", {"recipe": dataclasses.asdict(recipe), "history": history})
        accelerator.wait_for_everyone()
    if accelerator.is_main_process and len(history) == recipe.epochs:
        save_network(output_dir, accelerator.unwrap_model(model), network_artifact(config, splits, history))
    return {"history": history, "top1": history[-1]["top1"] if history else float("nan")}


@torch.no_grad()
def evaluate(model: torch.nn.Module, stream: BatchStream, accelerator) -> float:
    """Top-1 accuracy in [0, 1] over one pass of ``stream`` (summed across processes)."""
    model.eval()
    counts = torch.zeros(2, device=accelerator.device, dtype=torch.float64)
    for images, labels in stream.take():
        with accelerator.autocast():
            logits = model(images)
        counts[0] += (logits.argmax(1) == labels).sum()
        counts[1] += labels.shape[0]
    counts = accelerator.reduce(counts, reduction="sum")
    return float(counts[0] / counts[1].clamp_min(1))


def network_artifact(config: NetworkConfig, splits: ImageSplits, history: list[dict[str, float]]) -> NetworkArtifact:
    """The ``config.json`` of a trained layer-wise network: its config, input size, mean/std, candidates."""
    architecture = {key: config.extra[key] for key in ("space_kind", "architecture", "candidates") if key in config.extra}
    return NetworkArtifact(
        model="ddpnas_mobilenet", arguments={"config": config.to_dict()}, architecture=architecture or None,
        input_size=(config.in_channels, config.resolution, config.resolution), mean=splits.mean, std=splits.std,
        num_classes=config.num_classes, extra={"top1": history[-1]["top1"] if history else None,
                                               "dataset": splits.name},
        preprocessing=splits.preprocessing.to_dict(),
    )


def load_trained(output_dir: pathlib.Path) -> LayerwiseMobileNet:
    """The trained network of an output directory (``model.safetensors`` + ``config.json``), in eval mode."""
    model, _ = load_network(output_dir)
    return model


def read_metrics(output_dir: pathlib.Path) -> dict[str, Any]:
    return json.loads((output_dir / "metrics.json").read_text())
