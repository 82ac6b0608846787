"""The DDPNAS loop (Alg. 1): sample disjointly, train, score, record, update, prune; resumable."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ddp_core.distribution import (
    CategoricalDistribution,
    Normalization,
    choose_pruned,
    momentum_update,
    normalize_rows,
    prunable_mask,
)
from ddp_core.persistence import read_json, remove_other_directories, replace_directory, write_json_atomic
from ddp_core.records import PerformanceRecord, pruning_error_bound
from ddp_core.sampling import DisjointSampler
from ddp_core.space import Architecture, SearchSpace


@runtime_checkable
class Evaluator(Protocol):
    """What a domain package implements: train a sampled architecture one unit, then score it.

    ``save_checkpoint(directory)`` / ``load_checkpoint(directory)`` are optional; implement them when the
    evaluator holds state (supernet weights, optimizer, RNG) so that a resumed search is exact.
    """

    higher_is_better: bool

    def train(self, architecture: Architecture) -> None: ...

    def score(self, architecture: Architecture) -> float: ...


@dataclass
class SearchConfig:
    """Settings of a DDPNAS search.

    Parameters
    ----------
    rounds_per_stage : int
        T, rounds between two pruning steps (paper: 3; Fig. 6 finds 2-4 best).
    momentum : float
        γ of Eq. 4 (paper: 0.7-0.9 make no significant difference).
    temperature : float
        τ: utilities are divided by it before the softmax of Eq. 4. The authors' code multiplies accuracies by
        100, i.e. τ = 0.01 for scores in [0, 1]; use τ = 1 for scores in percent.
    normalization : {"sum", "softmax"}
        How θ + V is renormalised (Eq. 5): by its row sum (authors' code, default) or a softmax (paper text).
    prune : bool
        False runs the NoPrune ablation: the same updates for ``stages`` stages without pruning.
    stages : int, optional
        Number of stages for NoPrune; default: the number a pruning run takes.
    bound_threshold : float, optional
        Postpone pruning while the largest Theorem 3 bound over prunable decisions exceeds this (not in
        the paper); at most ``max_postponed_stages`` stages in a row.
    seed : int
        Seeds the sampler (the evaluator seeds itself).
    checkpoint_every : int
        Save the run directory every this many trained architectures (and at every stage end).
    """

    rounds_per_stage: int = 3
    momentum: float = 0.9
    temperature: float = 0.01
    normalization: Normalization = "sum"
    prune: bool = True
    stages: int | None = None
    bound_threshold: float | None = None
    max_postponed_stages: int = 2
    seed: int = 0
    checkpoint_every: int = 1

    def __post_init__(self) -> None:
        if self.rounds_per_stage < 1:
            raise ValueError(f"rounds_per_stage must be >= 1, got {self.rounds_per_stage}")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.normalization not in ("sum", "softmax"):
            raise ValueError(f"normalization must be 'sum' or 'softmax', got {self.normalization!r}")
        if self.stages is not None and self.stages < 1:
            raise ValueError(f"stages must be >= 1, got {self.stages}")
        if self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {self.checkpoint_every}")

    def signature(self) -> dict[str, Any]:
        """Settings that change results: a run directory resumes only under the same ones."""
        data = dataclasses.asdict(self)
        data.pop("checkpoint_every")
        return data


@dataclass
class SearchResult:
    space: SearchSpace
    distribution: CategoricalDistribution
    architecture: Architecture
    history: dict[str, list]
    steps: int
    record: PerformanceRecord = field(repr=False)

    def describe(self) -> dict[str, str]:
        return self.space.describe(self.architecture)


def stage_schedule(
    space: SearchSpace, prune: bool = True, stages: int | None = None, live: np.ndarray | None = None
) -> list[int]:
    """Round sizes R of each stage from ``live`` (default: the full space) on, assuming one candidate per
    decision is pruned per stage."""
    live = space.full_mask() if live is None else np.array(live, dtype=bool)
    if not prune:
        count = stages or len(stage_schedule(space))
        return [int(live.sum(axis=1).max())] * count
    sizes: list[int] = []
    while True:
        prunable = prunable_mask(space, live)
        if not prunable.any():
            return sizes or [int(live.sum(axis=1).max())]
        sizes.append(int(live.sum(axis=1).max()))
        choice = choose_pruned(np.zeros(live.shape), prunable)
        for e, k in enumerate(choice):
            if k >= 0:
                live[e, k] = False


class DDPSearch:
    """Runs Alg. 1 over ``space`` with ``evaluator``; resumable from ``run_dir`` at any trained architecture.

    Under several processes (``accelerate launch``) every process runs the same seeded search; pass
    ``writes=accelerator.is_main_process`` so that only the main process writes ``run_dir`` while the others
    still resume from it.
    """

    def __init__(
        self,
        space: SearchSpace,
        evaluator: Evaluator,
        config: SearchConfig | None = None,
        run_dir: str | Path | None = None,
        callbacks: Sequence[Any] = (),
        resume: bool = True,
        writes: bool = True,
    ) -> None:
        self.space = space
        self.evaluator = evaluator
        self.config = config or SearchConfig()
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.callbacks = list(callbacks)
        self.writes = writes
        self.higher_is_better = bool(getattr(evaluator, "higher_is_better", True))
        self.distribution = CategoricalDistribution.uniform(space)
        self.sampler = DisjointSampler(space, self.config.seed)
        self.record = PerformanceRecord(space)
        self.stage = 0
        self.round = 0
        self.pending: list[Architecture] = []
        self.position = 0
        self.steps = 0
        self.postponed = 0
        self.finished = False
        self.num_stages = len(stage_schedule(space, self.config.prune, self.config.stages))
        self.history: dict[str, list] = {"theta": [self.distribution.theta.tolist()], "pruned": [], "stages": []}
        if self.run_dir is not None and resume and (self.run_dir / "state.json").exists():
            self.load(self.run_dir)

    # ------------------------------------------------------------------ loop
    @property
    def total_steps(self) -> int:
        """Architectures a full run trains: exact for the stages done, an estimate for those left (it assumes
        no postponed pruning and one candidate pruned per decision per stage)."""
        rounds = self.config.rounds_per_stage
        if not self.config.prune:
            return rounds * sum(stage_schedule(self.space, False, self.config.stages))
        if self.finished:
            return self.steps
        done_before_stage = sum(1 for r in self.record.records if r.stage < self.stage)
        return done_before_stage + rounds * sum(stage_schedule(self.space, True, live=self.distribution.live))

    def run(self) -> SearchResult:
        """Train until every decision is at its floor (or the NoPrune stages are done)."""
        if self.run_dir is not None and self.writes and not (self.run_dir / "state.json").exists():
            self.save()
        while not self.finished:
            self.step()
        result = self.result()
        for callback in self.callbacks:
            if hasattr(callback, "on_end"):
                callback.on_end(self, result)
        if self.run_dir is not None and self.writes:
            from ddp_core.plotting import plot_theta_history

            plot_theta_history(self.space, self.history, self.run_dir / "theta_history.png")
        return result

    def step(self) -> float:
        """Train and score one architecture, then update/prune if that closed a stage."""
        if self.finished:
            raise RuntimeError("the search has finished; nothing left to train")
        if not self.pending:
            self.pending = self.sampler.sample_round(self.distribution.live)
            self.position = 0
        architecture = self.pending[self.position]
        started = time.perf_counter()
        self.evaluator.train(architecture)
        score = float(self.evaluator.score(architecture))
        self.record.add(self.stage, self.round, architecture, score)
        self.position += 1
        self.steps += 1
        event = {
            "stage": self.stage,
            "round": self.round,
            "index": self.position,
            "round_size": len(self.pending),
            "step": self.steps,
            "total_steps": self.total_steps,
            "architecture": architecture,
            "score": score,
            "seconds": time.perf_counter() - started,
        }
        for callback in self.callbacks:
            if hasattr(callback, "on_sample"):
                callback.on_sample(self, event)
        stage_ended = False
        if self.position == len(self.pending):
            self.pending = []
            self.position = 0
            self.round += 1
            if self.round == self.config.rounds_per_stage:
                self._end_stage()
                stage_ended = True
        if stage_ended or self.finished or self.steps % self.config.checkpoint_every == 0:
            self.save()
        return score

    def _reachable(self, live: np.ndarray) -> np.ndarray:
        """Decisions that can still be active given the live candidates of their controllers."""
        reachable = np.ones(self.space.num_decisions, dtype=bool)
        for e, decision in enumerate(self.space.decisions):
            if decision.requires is not None:
                parent = self.space.decision_index(decision.requires.decision)
                allowed = [self.space.decisions[parent].index(n) for n in decision.requires.candidates]
                reachable[e] = bool(live[parent, allowed].any())
        return reachable

    def _end_stage(self) -> None:
        config = self.config
        dist = self.distribution
        utility = self.record.utility(self.stage, dist.live, self.higher_is_better)
        bound = pruning_error_bound(utility, dist.live)
        dist.theta, dist.velocity = momentum_update(
            dist.theta,
            dist.velocity,
            utility.values,
            dist.live,
            momentum=config.momentum,
            temperature=config.temperature,
            normalization=config.normalization,
            rows=utility.recorded,
        )
        prunable = prunable_mask(self.space, dist.live) & utility.recorded[:, None]
        rows_bound = bound[prunable.any(axis=1)]
        valid = rows_bound[~np.isnan(rows_bound)]
        worst_bound = float(valid.max()) if valid.size else float("nan")
        postpone = bool(
            config.prune
            and config.bound_threshold is not None
            and valid.size
            and worst_bound > config.bound_threshold
            and self.postponed < config.max_postponed_stages
        )
        pruned: list[dict[str, Any]] = []
        if config.prune and not postpone:
            self.postponed = 0
            for e, k in enumerate(choose_pruned(dist.theta, prunable)):
                if k < 0:
                    continue
                decision = self.space.decisions[e]
                pruned.append(
                    {"stage": self.stage, "decision": decision.name, "candidate": decision.candidates[k].name,
                     "theta": float(dist.theta[e, k])}
                )
                dist.live[e, k] = False
                dist.pruned_theta[e, k] = dist.theta[e, k]
            dist.theta = normalize_rows(dist.theta, dist.live, "sum")
            dist.velocity = np.where(dist.live, dist.velocity, 0.0)
        elif postpone:
            self.postponed += 1
        stage_info = {
            "stage": self.stage,
            "utility": utility.values.tolist(),
            "counts": utility.counts.tolist(),
            "bound": bound.tolist(),
            "max_bound": worst_bound,
            "postponed": bool(postpone),
            "pruned": pruned,
        }
        self.history["pruned"].extend(pruned)
        self.history["stages"].append(stage_info)
        self.history["theta"].append(dist.theta.tolist())
        self.stage += 1
        self.round = 0
        if config.prune:
            left = prunable_mask(self.space, dist.live) & self._reachable(dist.live)[:, None]
            self.finished = not left.any()
        else:
            self.finished = self.stage >= self.num_stages
        for callback in self.callbacks:
            if hasattr(callback, "on_stage_end"):
                callback.on_stage_end(self, stage_info)

    def result(self) -> SearchResult:
        return SearchResult(
            self.space, self.distribution, self.distribution.best_architecture(), self.history, self.steps,
            self.record,
        )

    # ------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {
            "format": 1,
            "space": self.space.signature(),
            "config": self.config.signature(),
            "distribution": self.distribution.state_dict(),
            "sampler": self.sampler.state_dict(),
            "record": self.record.state_dict(),
            "counters": {
                "stage": self.stage, "round": self.round, "position": self.position, "steps": self.steps,
                "postponed": self.postponed, "finished": self.finished,
            },
            "pending": [list(a) for a in self.pending],
            "history": self.history,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("space") != self.space.signature():
            raise ValueError(
                "the run directory was written for a different search space; use a new --run-dir or the "
                "original space settings"
            )
        saved = state.get("config", {})
        mine = self.config.signature()
        changed = {k: (saved.get(k), mine[k]) for k in mine if saved.get(k) != mine[k]}
        if changed:
            detail = ", ".join(f"{k}: saved {a!r} vs now {b!r}" for k, (a, b) in changed.items())
            raise ValueError(f"cannot resume: search settings differ from the saved run ({detail})")
        self.distribution.load_state_dict(state["distribution"])
        self.sampler.load_state_dict(state["sampler"])
        self.record.load_state_dict(state["record"])
        counters = state["counters"]
        self.stage, self.round = int(counters["stage"]), int(counters["round"])
        self.position, self.steps = int(counters["position"]), int(counters["steps"])
        self.postponed, self.finished = int(counters["postponed"]), bool(counters["finished"])
        self.pending = [tuple(int(k) for k in a) for a in state["pending"]]
        self.history = state["history"]

    def save(self) -> None:
        """Write evaluator checkpoint, state and summary to the run directory, each atomically."""
        if self.run_dir is None or not self.writes:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.run_dir / "space.json", self.space.to_dict())
        write_json_atomic(self.run_dir / "config.json", dataclasses.asdict(self.config))
        checkpoint = None
        if hasattr(self.evaluator, "save_checkpoint"):
            checkpoint = f"step-{self.steps:06d}"
            parent = self.run_dir / "checkpoints"
            tmp = parent / f".{checkpoint}.tmp"
            tmp.mkdir(parents=True, exist_ok=True)
            self.evaluator.save_checkpoint(tmp)
            replace_directory(tmp, parent / checkpoint)
        state = self.state_dict()
        state["checkpoint"] = checkpoint
        write_json_atomic(self.run_dir / "state.json", state)
        if checkpoint is not None:
            remove_other_directories(self.run_dir / "checkpoints", checkpoint)
        write_json_atomic(self.run_dir / "summary.json", self.summary())

    def load(self, run_dir: str | Path) -> None:
        run_dir = Path(run_dir)
        state = read_json(run_dir / "state.json")
        self.load_state_dict(state)
        checkpoint = state.get("checkpoint")
        if checkpoint is not None and hasattr(self.evaluator, "load_checkpoint"):
            self.evaluator.load_checkpoint(run_dir / "checkpoints" / checkpoint)

    def summary(self) -> dict[str, Any]:
        best = self.distribution.best_architecture()
        last = self.history["stages"][-1] if self.history["stages"] else None
        return {
            "finished": self.finished,
            "stage": self.stage,
            "stages_planned": self.num_stages,
            "round": self.round,
            "steps": self.steps,
            "total_steps": self.total_steps,
            "higher_is_better": self.higher_is_better,
            "best_architecture": list(best),
            "best_described": self.space.describe(best),
            "live_counts": {d.name: int(c) for d, c in zip(self.space.decisions, self.distribution.live_counts, strict=True)},
            "pruned": self.history["pruned"],
            "last_max_bound": None if last is None else last["max_bound"],
            "best_score_seen": max((r.score for r in self.record.records), default=None)
            if self.higher_is_better
            else min((r.score for r in self.record.records), default=None),
        }
