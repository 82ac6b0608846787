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

import math
import pathlib
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from ddp_vision.accelerator import make_accelerator
from ddp_vision.checkpoints import (
    CheckpointError,
    atomic_torch_save,
    load_tree,
    load_weights,
    rng_state,
    save_tree,
    save_weights,
    set_rng_state,
)
from ddp_vision.data import BatchStream, ImageSplits

__all__ = ["SupernetTrainingConfig", "SupernetEvaluator", "TrainingDiverged", "make_accelerator", "atomic_torch_save"]


class TrainingDiverged(ValueError):
    """The supernet's loss, gradients or logits stopped being finite: scores would be chance, not a signal."""


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
    weights_file = "supernet.safetensors"
    state_stem = "trainer_state"  # .json + .safetensors

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
        # listed once: walking a supernet's thousands of modules for every clip cost ~16 ms a step (profiled)
        self._parameters = list(self.model.parameters())
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
        self._rank_rng: list[dict] | None = None
        self._snapshot_rng()

    def _bar(self, iterable, total: int, description: str):
        enabled = self.progress and self.accelerator.is_main_process
        return tqdm(iterable, total=total, desc=description, leave=False, disable=not enabled)

    def train(self, architecture: tuple[int, ...]) -> None:
        """One unit of SGD on the training part with only ``architecture``'s ops in the graph.

        Raises :class:`TrainingDiverged` (in every process) when the loss or the gradient norm stops being
        finite, instead of going on to score a broken network at chance.
        """
        architecture = tuple(int(a) for a in architecture)
        self.model.train()
        steps = self.config.steps_per_unit
        total = steps if steps is not None else self.train_stream.batches_per_epoch
        # running sums stay on the device: no host synchronisation inside the loop; NaN and inf propagate
        sums = torch.zeros(4, device=self.accelerator.device, dtype=torch.float64)  # loss, correct, seen, norms
        for images, labels in self._bar(self.train_stream.take(steps), total, f"unit {self.units_trained}"):
            with self.accelerator.autocast():
                logits = self.model(images, architecture)
                loss = F.cross_entropy(logits.float(), labels)
            self.optimizer.zero_grad(set_to_none=True)
            self.accelerator.backward(loss)
            if self.config.grad_clip_norm > 0:
                norm = self.accelerator.clip_grad_norm_(self._parameters, self.config.grad_clip_norm)
                if self.accelerator.scaler is None:  # fp16 loss scaling skips non-finite steps on purpose
                    sums[3] += norm.detach().double()
            self.optimizer.step()
            sums[0] += loss.detach().double() * labels.shape[0]
            sums[1] += (logits.argmax(1) == labels).sum()
            sums[2] += labels.shape[0]
        sums = self.accelerator.reduce(sums, reduction="sum")  # every process sees the same verdict
        learning_rate = self.scheduler.get_last_lr()[0]
        if self.units_trained < self.config.total_units:  # postponed pruning may run past the planned schedule
            self.scheduler.step()
        self.units_trained += 1
        seen = max(1.0, float(sums[2]))
        self.last_train_loss = float(sums[0]) / seen
        if not (math.isfinite(self.last_train_loss) and math.isfinite(float(sums[3]))):
            what = "loss" if not math.isfinite(self.last_train_loss) else "gradient norm"
            raise TrainingDiverged(
                f"training diverged: the supernet's {what} became {self.last_train_loss if what == 'loss' else float(sums[3])} "
                f"while training architecture {list(architecture)} (unit {self.units_trained}, learning rate "
                f"{learning_rate:g}); the search stopped rather than score a broken network at chance: start a new "
                "--run-dir with a lower --learning-rate (or a --grad-clip)"
            )
        self.accelerator.log(
            {"supernet/train_loss": self.last_train_loss, "supernet/train_accuracy": float(sums[1]) / seen,
             "supernet/learning_rate": learning_rate},
            step=self.units_trained,
        )

    @torch.no_grad()
    def score(self, architecture: tuple[int, ...]) -> float:
        """Top-1 accuracy in [0, 1] of ``architecture`` on the held-out part, BatchNorm in eval mode."""
        architecture = tuple(int(a) for a in architecture)
        self.model.eval()
        counts = torch.zeros(3, device=self.accelerator.device, dtype=torch.float64)  # correct, seen, non-finite
        total = self.val_stream.batches_per_epoch
        for images, labels in self._bar(self.val_stream.take(), total, "score"):
            with self.accelerator.autocast():
                logits = self.model(images, architecture)
            counts[0] += (logits.argmax(1) == labels).sum()
            counts[1] += labels.shape[0]
            counts[2] += (~torch.isfinite(logits)).any(dim=1).sum()
        counts = self.accelerator.reduce(counts, reduction="sum")
        if counts[2] > 0:
            raise TrainingDiverged(
                f"training diverged: architecture {list(architecture)} gives non-finite logits for "
                f"{int(counts[2])} of {int(counts[1])} held-out images, so its accuracy would be chance; start a new "
                "--run-dir with a lower --learning-rate (or a --grad-clip)"
            )
        accuracy = float(counts[0] / counts[1].clamp_min(1))
        self.accelerator.log({"supernet/val_accuracy": accuracy}, step=self.units_trained)
        self._snapshot_rng()
        return accuracy

    # ------------------------------------------------------------------ checkpoints
    def _snapshot_rng(self) -> None:
        """Every process's RNG state, held by the main process for its next checkpoint.

        Only the main process writes the run directory, and ddp-core calls ``save_checkpoint`` right after a
        score; so each process hands its state over here, at the end of every score (one small gather).
        """
        state = rng_state()
        if self.accelerator.num_processes > 1:
            from accelerate.utils import gather_object

            self._rank_rng = gather_object([state])
        else:
            self._rank_rng = [state]

    def state_dict(self) -> dict:
        """Optimiser, schedule, batch streams and counters (weights and RNG states are stored apart)."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "train_stream": self.train_stream.state_dict(),
            "val_stream": self.val_stream.state_dict(),
            "units_trained": self.units_trained,
            "config": self.config.to_dict(),
            "num_processes": self.accelerator.num_processes,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned (the same supernet and config)."""
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.train_stream.load_state_dict(state["train_stream"])
        self.val_stream.load_state_dict(state["val_stream"])
        self.units_trained = int(state["units_trained"])

    def save_checkpoint(self, directory: pathlib.Path) -> None:
        """Write ``supernet.safetensors``, ``trainer_state.{json,safetensors}`` and one ``rng-rank{N}.*`` per
        process; nothing is pickled.

        Called by the main process only (it alone owns the run directory); the other processes' RNG states
        come from the last :meth:`score`. No barrier: the others block at the next all-reduce until it is done.
        """
        if not self.accelerator.is_main_process:
            return
        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if self._rank_rng is None:
            self._snapshot_rng()
        save_weights(self.accelerator.unwrap_model(self.model).state_dict(), directory / self.weights_file)
        save_tree(self.state_dict(), directory / self.state_stem)
        for rank, state in enumerate(self._rank_rng):
            save_tree(state, directory / f"rng-rank{rank}")

    def load_checkpoint(self, directory: pathlib.Path) -> None:
        """Load the checkpoint into every process (each takes its own RNG state).

        Nothing in it can run code: it is read as safetensors and JSON only, never unpickled. A crafted or
        corrupt file is a :class:`~ddp_vision.checkpoints.CheckpointError` naming it.
        """
        directory = pathlib.Path(directory)
        if not (directory / self.weights_file).is_file() and (directory / "supernet.pt").is_file():
            raise CheckpointError(f"{directory} holds a checkpoint in the old pickle format (supernet.pt), which is "
                                  "not loaded because it could run code; start a new --run-dir")
        weights = load_weights(directory / self.weights_file)
        state = load_tree(directory / self.state_stem)
        rank = self.accelerator.process_index
        rng_stem = directory / f"rng-rank{rank}"
        if not rng_stem.with_suffix(".json").is_file():  # fewer processes wrote it: the data shards differ anyway
            rng_stem = directory / "rng-rank0"
        rng = load_tree(rng_stem)
        try:
            self.accelerator.unwrap_model(self.model).load_state_dict(weights)
            self.load_state_dict(state)
            set_rng_state(rng)
        except (KeyError, RuntimeError, TypeError, ValueError) as error:
            text = " ".join(str(error).split())[:300]
            raise CheckpointError(f"{directory} does not fit this supernet or its settings ({text}); resume with "
                                  "the flags of the saved run or start a new --run-dir") from None
        self._snapshot_rng()
