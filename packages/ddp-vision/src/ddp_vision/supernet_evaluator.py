"""Train and score sampled architectures of a weight-sharing supernet (ddp-core's ``Evaluator``).

Any ``nn.Module`` whose ``forward(x, architecture)`` runs the single path of ``architecture`` (a tuple of
candidate indices, one per decision) and returns logits can be searched with DDPNAS through
:class:`SupernetEvaluator`: ``train`` runs one unit of SGD on the search's training part, ``score``
returns the accuracy on the held-out part with the model in ``eval`` mode (BatchNorm uses its running
statistics; the authors' code scored in training mode), and the checkpoint methods save everything a
resumed search needs to continue bit for bit.

It runs through an ``accelerate.Accelerator``: the CPU, one GPU (bf16 autocast when
asked), or several GPUs under ``accelerate launch`` (each process takes its share of every batch; all
processes train the same sampled architecture, so ddp-core's seeded sampling must run in every process).
"""

from __future__ import annotations

import os
import pathlib
import random
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from ddp_vision.data import BatchStream, ImageSplits

__all__ = ["SupernetTrainingConfig", "SupernetEvaluator", "make_accelerator", "atomic_torch_save"]


@dataclass(frozen=True)
class SupernetTrainingConfig:
    """How the shared weights are trained during a search (defaults: the paper's DARTS-space search).

    Parameters
    ----------
    learning_rate, momentum, weight_decay : float
        SGD with momentum; the learning rate follows a cosine from ``learning_rate`` to
        ``min_learning_rate`` over ``total_units`` units of training (stepped once per unit).
    batch_size : int
        Global training batch (split across processes).
    eval_batch_size : int
        Global batch for scoring.
    steps_per_unit : int or None
        Batches per unit of training; ``None`` means one epoch of the training part (the paper's unit).
    total_units : int
        Length of the cosine schedule, normally the number of samples of the whole search.
    grad_clip_norm : float
        Gradient norm clip (DARTS uses 5); ``0`` turns it off.
    num_workers : int
        DataLoader workers for datasets that are not held as tensors (image folders); tensors need none.
    channels_last : bool
        Supernet and batches in channels_last memory format, on every device: on the CPU it trained the DARTS
        supernet 1.3-1.8x and the MobileNet one 1.7-3.1x faster than the default layout (BENCHMARKS.md).
    seed : int
        Seeds batch order and augmentation.
    """

    learning_rate: float = 0.025
    min_learning_rate: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    batch_size: int = 512
    eval_batch_size: int = 1024
    steps_per_unit: int | None = None
    total_units: int = 100
    grad_clip_norm: float = 5.0
    num_workers: int = 0
    channels_last: bool = True
    seed: int = 0

    def to_dict(self) -> dict:
        """Plain-JSON form (for ``space.json`` metadata and logs)."""
        return asdict(self)


def make_accelerator(mixed_precision: str = "no", log_dir: str | os.PathLike | None = None, cpu: bool = False):
    """An ``accelerate.Accelerator`` fit for single-path supernets.

    Unused parameters are expected (only the sampled ops run), so DDP is told to look for them; with
    ``log_dir`` TensorBoard logging goes through accelerate's trackers. ``mixed_precision="auto"`` means bf16
    autocast on a CUDA GPU that supports it and full precision elsewhere.
    """
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    if mixed_precision == "auto":
        gpu = not cpu and torch.cuda.is_available()
        mixed_precision = "bf16" if gpu and torch.cuda.is_bf16_supported() else "no"
    return Accelerator(
        mixed_precision=mixed_precision,
        cpu=cpu,
        log_with="tensorboard" if log_dir is not None else None,
        project_dir=str(log_dir) if log_dir is not None else None,
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )


def atomic_torch_save(obj, path: pathlib.Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then ``os.replace`` (no half-written files)."""
    path = pathlib.Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class SupernetEvaluator:
    """ddp-core ``Evaluator`` for a single-path supernet on image classification.

    Parameters
    ----------
    supernet : nn.Module
        ``forward(x, architecture: tuple[int, ...]) -> logits``.
    splits : ImageSplits
        ``train`` trains the shared weights, ``val`` (required) scores architectures.
    config : SupernetTrainingConfig
        Optimiser, schedule and batch settings.
    accelerator : accelerate.Accelerator, optional
        Device placement, mixed precision and multi-process training; a CPU/GPU default when omitted.
    progress : bool
        Show a tqdm bar over the batches of each unit (main process only).
    """

    higher_is_better = True
    checkpoint_file = "supernet.pt"

    def __init__(
        self,
        supernet: nn.Module,
        splits: ImageSplits,
        config: SupernetTrainingConfig = SupernetTrainingConfig(),
        accelerator=None,
        progress: bool = False,
    ) -> None:
        if splits.val is None:
            raise ValueError("a search needs a held-out part of the training set: build the splits with val_fraction > 0")
        self.accelerator = accelerator if accelerator is not None else make_accelerator()
        self.config = config
        self.progress = progress
        device = self.accelerator.device
        self.channels_last = config.channels_last
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        if self.channels_last:
            supernet = supernet.to(memory_format=torch.channels_last)
        optimizer = torch.optim.SGD(
            supernet.parameters(), lr=config.learning_rate, momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
        self.model, self.optimizer = self.accelerator.prepare(supernet, optimizer)
        # stepped once per unit by us: accelerate's scheduler wrapper would step it once per process
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimizer.optimizer if hasattr(self.optimizer, "optimizer") else self.optimizer,
            T_max=max(1, config.total_units), eta_min=config.min_learning_rate,
        )
        stream_args = dict(
            mean=splits.mean, std=splits.std, device=device, process_index=self.accelerator.process_index,
            num_processes=self.accelerator.num_processes, channels_last=self.channels_last,
            num_workers=config.num_workers,
        )
        self.train_stream = BatchStream(
            splits.train, config.batch_size, shuffle=True, augmentation=splits.train_augmentation,
            seed=config.seed, **stream_args,
        )
        self.val_stream = BatchStream(splits.val, config.eval_batch_size, shuffle=False, **stream_args)
        self.units_trained = 0
        self.last_train_loss = float("nan")

    def _bar(self, iterable, total: int, description: str):
        enabled = self.progress and self.accelerator.is_main_process
        return tqdm(iterable, total=total, desc=description, leave=False, disable=not enabled)

    def train(self, architecture: tuple[int, ...]) -> None:
        """One unit of SGD on the training part with only ``architecture``'s ops in the graph."""
        architecture = tuple(int(a) for a in architecture)
        self.model.train()
        steps = self.config.steps_per_unit
        total = steps if steps is not None else self.train_stream.batches_per_epoch
        # running sums stay on the device: no host synchronisation inside the loop
        loss_sum = torch.zeros((), device=self.accelerator.device)
        correct = torch.zeros((), device=self.accelerator.device)
        seen = 0
        for images, labels in self._bar(self.train_stream.take(steps), total, f"unit {self.units_trained}"):
            with self.accelerator.autocast():
                logits = self.model(images, architecture)
                loss = F.cross_entropy(logits.float(), labels)
            self.optimizer.zero_grad(set_to_none=True)
            self.accelerator.backward(loss)
            if self.config.grad_clip_norm > 0:
                self.accelerator.clip_grad_norm_(self.model.parameters(), self.config.grad_clip_norm)
            self.optimizer.step()
            loss_sum += loss.detach() * labels.shape[0]
            correct += (logits.argmax(1) == labels).sum()
            seen += labels.shape[0]
        if self.units_trained < self.config.total_units:  # postponed pruning may run past the planned schedule
            self.scheduler.step()
        self.units_trained += 1
        self.last_train_loss = float(loss_sum) / max(1, seen)
        self.accelerator.log(
            {"supernet/train_loss": self.last_train_loss, "supernet/train_accuracy": float(correct) / max(1, seen),
             "supernet/learning_rate": self.scheduler.get_last_lr()[0]},
            step=self.units_trained,
        )

    @torch.no_grad()
    def score(self, architecture: tuple[int, ...]) -> float:
        """Top-1 accuracy in [0, 1] of ``architecture`` on the held-out part, BatchNorm in eval mode."""
        architecture = tuple(int(a) for a in architecture)
        self.model.eval()
        counts = torch.zeros(2, device=self.accelerator.device, dtype=torch.float64)
        total = self.val_stream.batches_per_epoch
        for images, labels in self._bar(self.val_stream.take(), total, "score"):
            with self.accelerator.autocast():
                logits = self.model(images, architecture)
            counts[0] += (logits.argmax(1) == labels).sum()
            counts[1] += labels.shape[0]
        counts = self.accelerator.reduce(counts, reduction="sum")
        accuracy = float(counts[0] / counts[1].clamp_min(1))
        self.accelerator.log({"supernet/val_accuracy": accuracy}, step=self.units_trained)
        return accuracy

    def state_dict(self) -> dict:
        """Supernet weights, optimiser, schedule, batch streams and every RNG this process uses."""
        state = {
            "model": self.accelerator.unwrap_model(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "train_stream": self.train_stream.state_dict(),
            "val_stream": self.val_stream.state_dict(),
            "units_trained": self.units_trained,
            "rng": {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()},
            "config": self.config.to_dict(),
        }
        if torch.cuda.is_available():
            state["rng"]["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned (the same supernet and config)."""
        self.accelerator.unwrap_model(self.model).load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.train_stream.load_state_dict(state["train_stream"])
        self.val_stream.load_state_dict(state["val_stream"])
        self.units_trained = int(state["units_trained"])
        torch.set_rng_state(state["rng"]["torch"])
        random.setstate(state["rng"]["python"])
        np.random.set_state(state["rng"]["numpy"])
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])

    def save_checkpoint(self, directory: pathlib.Path) -> None:
        """Write ``directory/supernet.pt`` atomically from the main process.

        No barrier: under several processes only the main one is given a run directory (so only it calls
        this); the others block at the next gradient all-reduce until it is done.
        """
        if not self.accelerator.is_main_process:
            return
        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        atomic_torch_save(self.state_dict(), directory / self.checkpoint_file)

    def load_checkpoint(self, directory: pathlib.Path) -> None:
        """Load ``directory/supernet.pt`` into every process."""
        path = pathlib.Path(directory) / self.checkpoint_file
        if not path.is_file():
            raise FileNotFoundError(f"no supernet checkpoint at {path}: the run directory is incomplete")
        # our own file: it holds RNG states (numpy arrays, tuples) that weights_only loading refuses
        state = torch.load(path, map_location="cpu", weights_only=False)
        self.load_state_dict(state)
