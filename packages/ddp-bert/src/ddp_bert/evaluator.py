"""The ddp-core evaluator of a BERT search: train a sampled sub-network N steps, score it on held-out data."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import gather_object
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ddp_bert.elastic import ElasticBertForSequenceClassification, distillation_loss, task_loss
from ddp_bert.glue import GlueTask, load_metric, predictions_from_logits
from ddp_bert.space import SubnetworkShape, decode_architecture
from ddp_core import RunDirectoryError

CHECKPOINT_FILE = "bert_evaluator.pt"


class BatchStream:
    """Endless batches from a DataLoader, epoch after epoch, with a resumable position.

    With accelerate's seedable sampler (``DataLoaderConfiguration(use_seedable_sampler=True)``) the loader
    is reshuffled by ``set_epoch(epoch)``, so the order after a resume is the one an uninterrupted run sees.
    """

    def __init__(self, loader: DataLoader, accelerator: Accelerator) -> None:
        self.loader = loader
        self.accelerator = accelerator
        self.epoch = 0
        self.position = 0
        self._iterator: Iterator | None = None

    def _start_epoch(self, skip: int) -> None:
        if hasattr(self.loader, "set_epoch"):
            self.loader.set_epoch(self.epoch)
        loader = self.accelerator.skip_first_batches(self.loader, skip) if skip else self.loader
        self._iterator = iter(loader)

    def next(self) -> dict[str, torch.Tensor]:
        """The next batch (starting a new epoch when one ends)."""
        if self._iterator is None:
            self._start_epoch(self.position)
        try:
            batch = next(self._iterator)
        except StopIteration:
            self.epoch += 1
            self.position = 0
            self._start_epoch(0)
            batch = next(self._iterator)
        self.position += 1
        return batch

    def state_dict(self) -> dict[str, int]:
        """The epoch and the number of batches already taken from it."""
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue from a :meth:`state_dict` (the next batch skips what was taken)."""
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._iterator = None


class BertSupernetEvaluator:
    """Trains sampled sub-networks of an elastic BERT with shared weights and scores them on a GLUE metric.

    Parameters
    ----------
    supernet
        The accelerate-prepared elastic model (possibly wrapped in DDP).
    space
        The ddp-core space; architectures are decoded with :func:`ddp_bert.space.decode_architecture`.
    task
        The GLUE task; its ``search_metric`` is the score (higher is better).
    accelerator, optimizer, scheduler
        From accelerate (``scheduler`` may be ``None``).
    train_stream
        Batches of the training part of the train split.
    score_loader
        The held-out scoring part of the train split (never the dev set).
    steps_per_unit
        Optimizer steps that make one unit of training (the paper's "epoch").
    distill_weight
        Weight of the soft-target loss (0 disables distillation).
    distill_temperature
        Temperature of the soft targets.
    teacher
        A fine-tuned model giving the soft targets; ``None`` with ``distill_weight > 0`` uses the whole
        supernet's own logits (in-place distillation).
    """

    higher_is_better = True

    def __init__(self, supernet, space, task: GlueTask, accelerator: Accelerator, optimizer, scheduler,
                 train_stream: BatchStream, score_loader: DataLoader, steps_per_unit: int,
                 distill_weight: float = 0.0, distill_temperature: float = 1.0, teacher=None,
                 seed: int = 0) -> None:
        if steps_per_unit < 1:
            raise ValueError(f"--steps-per-unit must be >= 1, got {steps_per_unit}")
        if not 0.0 <= distill_weight <= 1.0:
            raise ValueError(f"--distill-weight must lie in [0, 1], got {distill_weight}")
        self.supernet = supernet
        self.space = space
        self.task = task
        self.accelerator = accelerator
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.train_stream = train_stream
        self.score_loader = score_loader
        self.steps_per_unit = steps_per_unit
        self.distill_weight = distill_weight
        self.distill_temperature = distill_temperature
        self.teacher = teacher
        self.seed = seed
        self.optimizer_steps = 0
        self.last_loss = float("nan")
        self.last_metrics: dict[str, float] = {}
        self._rank_rng: list[dict] | None = None
        with accelerator.main_process_first():  # evaluate copies the module into its cache: one writer
            self._metric = load_metric(task)

    @property
    def elastic(self) -> ElasticBertForSequenceClassification:
        """The unwrapped supernet."""
        return self.accelerator.unwrap_model(self.supernet)

    def train_steps(self, shape: SubnetworkShape, steps: int, description: str | None = None) -> float:
        """Run ``steps`` optimizer steps of one sub-network; returns the mean loss.

        ``description`` shows a progress bar with that title on the main process (for long warm-ups).
        """
        self.supernet.train()
        bar = None
        if description is not None and self.accelerator.is_main_process:
            bar = tqdm(total=steps, desc=description, unit="step")
        torch.manual_seed(hash((self.seed, self.optimizer_steps, self.accelerator.process_index)) % 2**63)
        losses = []
        for _ in range(steps):
            batch = self.train_stream.next()
            labels = batch.pop("labels")
            logits = self.supernet(**batch, subnetwork=shape)
            loss = task_loss(logits, labels)
            if self.distill_weight > 0:
                with torch.no_grad():
                    if self.teacher is not None:
                        soft = self.teacher(**batch).logits
                    else:
                        soft = self.supernet(**batch, subnetwork=None)
                loss = (1 - self.distill_weight) * loss + self.distill_weight * distillation_loss(
                    logits, soft.detach(), self.distill_temperature)
            value = float(loss.detach())
            if not np.isfinite(value):  # a diverged supernet would otherwise score every sub-network at chance
                raise ValueError(
                    f"training diverged: the loss is {value} at optimizer step {self.optimizer_steps + 1} "
                    f"(sub-network depth {shape.depth}); lower --lr, or resume from an earlier run directory"
                )
            self.accelerator.backward(loss)
            self.optimizer.step()
            if self.scheduler is not None:
                self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.optimizer_steps += 1
            losses.append(value)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
        if bar is not None:
            bar.close()
        self.last_loss = float(np.mean(losses))
        return self.last_loss

    def train(self, architecture) -> None:
        """One unit of training of the sampled architecture."""
        self.train_steps(decode_architecture(self.space, architecture), self.steps_per_unit)

    @torch.no_grad()
    def evaluate(self, shape: SubnetworkShape | None, loader: DataLoader | None = None) -> dict[str, float]:
        """Every official metric of the task for one sub-network (``None``: the whole supernet)."""
        self.supernet.eval()
        all_logits, all_labels = [], []
        for batch in loader or self.score_loader:
            labels = batch.pop("labels")
            logits = self.supernet(**batch, subnetwork=shape)
            logits, labels = self.accelerator.gather_for_metrics((logits, labels))
            all_logits.append(logits.float().cpu().numpy())
            all_labels.append(labels.cpu().numpy())
        logits = np.concatenate(all_logits)
        labels = np.concatenate(all_labels)
        predictions = predictions_from_logits(self.task, logits)
        metrics = self._metric.compute(predictions=predictions, references=labels)
        return {name: float(0.0 if np.isnan(value) else value) for name, value in metrics.items()}

    def score(self, architecture) -> float:
        """The task's search metric on the held-out scoring split (NaN correlations count as 0)."""
        self.last_metrics = self.evaluate(decode_architecture(self.space, architecture))
        self.snapshot_rng()
        return self.last_metrics[self.task.search_metric]

    def snapshot_rng(self) -> None:
        """Collect every process's RNG state (all processes call this; the main one saves them).

        Only the main process writes checkpoints, so the others' states travel to it here, after each score
        (the last thing before ddp-core may save) and after the fresh-run preparation.
        """
        state = {"torch": torch.get_rng_state(),
                 "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}
        if self.accelerator.num_processes > 1:
            self._rank_rng = gather_object([state])
        else:
            self._rank_rng = [state]

    def state_dict(self) -> dict:
        """Supernet weights, optimizer, scheduler and data position (RNG states are saved per process)."""
        return {
            "model": self.elastic.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "stream": self.train_stream.state_dict(),
            "optimizer_steps": self.optimizer_steps,
        }

    def load_state_dict(self, state: dict) -> None:
        """Inverse of :meth:`state_dict`."""
        self.elastic.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.train_stream.load_state_dict(state["stream"])
        self.optimizer_steps = int(state["optimizer_steps"])

    def save_checkpoint(self, directory: Path) -> None:
        """Write the state and one RNG file per process into ``directory`` (main process only; ddp-core
        renames the folder atomically)."""
        if not self.accelerator.is_main_process:
            return
        if self._rank_rng is None:
            self.snapshot_rng()
        torch.save(self.state_dict(), Path(directory) / CHECKPOINT_FILE)
        for rank, state in enumerate(self._rank_rng):
            torch.save(state, Path(directory) / rng_file(rank))

    def load_checkpoint(self, directory: Path) -> None:
        """Restore from a folder written by :meth:`save_checkpoint`: this process reloads its own RNG state."""
        directory = Path(directory)
        # to the CPU first: load_state_dict copies onto the parameters' devices (and CPU processes of a
        # multi-process run have device "cpu:N", which torch.load cannot map storages to)
        self.load_state_dict(load_torch_file(directory / CHECKPOINT_FILE, "cpu"))
        rng = load_torch_file(directory / rng_file(self.accelerator.process_index), "cpu")
        torch.set_rng_state(rng["torch"].cpu())
        if rng.get("cuda") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([state.cpu() for state in rng["cuda"]])
        self.snapshot_rng()


def rng_file(rank: int) -> str:
    """The RNG file of one process in a checkpoint folder."""
    return f"rng-rank{rank}.pt"


def load_torch_file(path: Path, device) -> dict:
    """``torch.load(weights_only=True)`` with missing or unreadable files as one RunDirectoryError."""
    if not path.exists():
        raise RunDirectoryError(f"{path} is missing: the run directory's checkpoint is incomplete (written by "
                                "another number of processes?); restore it or start a new --run-dir")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, ValueError) as error:
        from ddp_core.cli import weights_only_refusal

        raise RunDirectoryError(f"{path} cannot be read ({weights_only_refusal(error)}); restore it or start a new "
                                "--run-dir") from None
