"""The DDPNAS loop (Alg. 1) as ask/tell: sample a round disjointly, score it, update and prune per stage.

``run()`` drives an :class:`Evaluator` through ``ask()`` / ``tell()``; any other executor (a cluster
scheduler, Ray, a tabular oracle) can call them directly. A run directory makes every step resumable
(:mod:`ddp_core.rundir`). The schedule (:mod:`ddp_core.schedule`) and :class:`SearchResult`
(:mod:`ddp_core.search_result`) live beside it and are importable from here as well.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ddp_core import joint, presets, search_budgets
from ddp_core.config import SearchConfig
from ddp_core.distribution import CategoricalDistribution, choose_pruned, normalize_rows, prunable_mask
from ddp_core.records import PerformanceRecord, pruning_error_bound
from ddp_core.sampling import DisjointSampler, reachable_decisions, round_size
from ddp_core.schedule import rounds_for_budget, stage_schedule
from ddp_core.search_result import SearchResult
from ddp_core.space import Architecture, SearchSpace
from ddp_core.trials import FAILED, Trial, TrialLog, best_trial, matches
from ddp_core.validation import check_number


@runtime_checkable
class Evaluator(Protocol):
    """What a domain package implements for ``run()``: train a sampled architecture one unit, then score it.

    ``higher_is_better`` is required (accuracy: True; loss or error: False). ``save_checkpoint(directory)`` /
    ``load_checkpoint(directory)`` are optional; implement them when the evaluator holds state (supernet
    weights, optimizer, RNG) so that a resumed search is exact.
    """

    higher_is_better: bool

    def train(self, architecture: Architecture) -> None: ...

    def score(self, architecture: Architecture) -> float: ...


class DDPSearch:
    """Alg. 1 over ``space``: ``ask()`` the next round, ``tell()`` each score, or ``run()`` with an evaluator.

    Parameters
    ----------
    evaluator : Evaluator, optional
        Needed by ``run()`` / ``step()``; ask/tell users may pass None and give ``higher_is_better``.
    higher_is_better : bool, optional
        Direction of the scores; default the evaluator's attribute. One of the two is required.
    run_dir, resume, writes :
        Where state goes; resume from it if it holds a state; only a writer (``writes=True``, the main process
        of ``accelerate launch``) writes and locks it.
    description : dict, optional
        The domain's training and data settings (flag name -> value): resuming with different ones is an error
        naming each flag.
    broadcast : callable, optional
        Multi-process runs: ``broadcast(obj)`` returns the main process's ``obj`` on every process. The main
        process then decides each round and each recorded score; the others check they sampled the same round.
    costs : dict, optional
        Cost tables by name: those ``config.budgets`` name (infeasible ones are refused); without budgets the
        ``joint`` preset spreads part of its targets over their range (:mod:`ddp_core.search_budgets`).
    count_constraints : sequence of CountConstraint, optional
        With ``costs``: rules every budgeted target obeys, those the networks users take home obey (the DARTS
        cell rule); disjoint, on unconditional decisions. Give ENG the same ones.
    """

    def __init__(
        self,
        space: SearchSpace,
        evaluator: Evaluator | None = None,
        config: SearchConfig | None = None,
        run_dir: str | Path | None = None,
        callbacks: Sequence[Any] = (),
        resume: bool = True,
        writes: bool = True,
        higher_is_better: bool | None = None,
        description: dict[str, Any] | None = None,
        broadcast: Callable[[Any], Any] | None = None,
        costs: Mapping[str, Any] | None = None,
        count_constraints: Sequence[Any] = (),
    ) -> None:
        from ddp_core.run_state import RunState

        self.space = space
        self.evaluator = evaluator
        self.config = config or SearchConfig()
        if higher_is_better is None:
            higher_is_better = getattr(evaluator, "higher_is_better", None)
        if not isinstance(higher_is_better, bool):
            raise ValueError(
                "the score direction is unknown: give the evaluator a higher_is_better attribute (True for "
                "accuracy, False for a loss or an error rate) or pass higher_is_better= to DDPSearch"
            )
        self.higher_is_better = higher_is_better
        self.budgets = search_budgets.SearchBudgets.prepare(space, self.config.budgets, costs, self.config.utility,
                                                            count_constraints)
        self.model_cache = joint.ModelCache(space, higher_is_better)
        self.callbacks = list(callbacks)
        self.broadcast = broadcast
        self.distribution = CategoricalDistribution.uniform(space)
        self.sampler = DisjointSampler(space, self.config.seed)
        self.record = PerformanceRecord(space, stationary=self.config.stationary_scores)
        self.rounds_per_stage = rounds_for_budget(space, self.config)
        self.num_stages = len(stage_schedule(space, self.config.prune, self.config.stages))
        self.stage = self.round = self.steps = self.postponed = self.steps_before_stage = 0
        self.stage_rounds = self.rounds_per_stage
        self._schedule_key: tuple | None = None  # the live mask _schedule was computed for
        self._schedule: list[int] = []
        self.pending: list[Architecture] = []
        self.pending_scores: list[float | None] = []
        self.finished = False
        self.history: dict[str, list] = {"theta": [self.distribution.theta.tolist()], "pruned": [], "stages": []}
        self.trial_log = TrialLog()
        self.state = RunState(self, run_dir, writes, description or {})
        try:
            if resume:
                self.state.resume_if_present()
            self.state.open()
        except BaseException:
            self.state.close()
            raise

    # ------------------------------------------------------------------ ask / tell
    @property
    def total_steps(self) -> int:
        """Evaluations a full run spends: exact for the stages done, planned for the rest."""
        if self.finished:
            return self.steps
        done_before = self.steps_before_stage
        rest = self._remaining_schedule()
        if not self.config.prune:
            return done_before + self.rounds_per_stage * rest[0] * (self.num_stages - self.stage)
        return done_before + self.stage_rounds * rest[0] + self.rounds_per_stage * sum(rest[1:])

    def _remaining_schedule(self) -> list[int]:
        """Round sizes of this stage and the later ones, as :func:`stage_schedule` from the live mask (NoPrune:
        only this stage's). Computed once per live mask: ``tell`` asks for it at every evaluation."""
        live = self.distribution.live
        key = (live.shape, live.tobytes())
        if self._schedule_key != key:
            if self.config.prune:
                self._schedule = stage_schedule(self.space, True, live=live)
            else:
                self._schedule = [round_size(self.space, live)]
            self._schedule_key = key
        return self._schedule

    def ask(self, described: bool = False) -> list[Architecture] | list[dict[str, str]]:
        """The architectures of the current round still waiting for a score (a new round if none is open).

        ``described=True`` gives each as ``{decision: candidate name}`` (active decisions), which ``tell()``
        accepts as well.
        """
        if self.finished:
            return []
        if not self.pending:
            self._open_round()
            if self.finished:
                return []
        waiting = [a for a, s in zip(self.pending, self.pending_scores, strict=True) if s is None]
        return [self.space.describe(a) for a in waiting] if described else waiting

    def _open_round(self) -> None:
        live = self.distribution.live
        size = self.sampler.round_size(live)
        budget = self.config.max_evaluations
        if budget is not None and self.steps + size > budget:
            self.state.note("budget", f"stopped before stage {self.stage}: the next round needs {size} evaluations, "
                            f"{budget - self.steps} left of max_evaluations={budget}")
            self.finished = True
            self.state.save()
            self._finish()
            return
        if self.config.utility == "joint":
            architectures = search_budgets.joint_round(self, live, size)
        else:
            architectures = self.sampler.sample_round(live, [], [])
        if self.broadcast is not None:
            agreed = [tuple(int(k) for k in a) for a in self.broadcast(architectures)]
            if agreed != architectures:
                raise RuntimeError(
                    "this process sampled a different round than the main process, so their search states "
                    "diverged; start every process from the same --resume RUN_DIR and the same flags"
                )
        self.pending, self.pending_scores = architectures, [None] * len(architectures)

    def _waiting_slot(self, architecture: Sequence[int] | Mapping[str, str]) -> tuple[Architecture, int]:
        waiting = [i for i, s in enumerate(self.pending_scores) if s is None]
        if type(architecture) is tuple:  # what ask() returned, back as it was: a waiting one needs no check
            slot = next((i for i in waiting if self.pending[i] == architecture), None)
            if slot is not None:
                return self.pending[slot], slot
        if isinstance(architecture, Mapping):
            slot = next((i for i in waiting if matches(self.space, self.pending[i], architecture)), None)
        else:
            architecture = self.space.validate(architecture)
            slot = next((i for i in waiting if self.pending[i] == architecture), None)
        if slot is None:
            raise ValueError(f"architecture {architecture} is not waiting for a score in this round; tell() "
                             "takes the architectures ask() returned")
        return self.pending[slot], slot

    def tell(self, architecture: Sequence[int] | Mapping[str, str], score: float | None,
             seconds: float | None = None) -> None:
        """Record ``score`` for one architecture of the current round (any order); ``None`` records a failed
        evaluation (:meth:`fail`). ``architecture`` as ``ask()`` gave it: indices or ``{decision: candidate}``."""
        architecture, slot = self._waiting_slot(architecture)
        if score is not None and (type(score) is not float or not math.isfinite(score)):  # else: checked
            try:
                score = float(check_number("score", score))
            except (ValueError, TypeError):
                raise ValueError(
                    f"the score for architecture {architecture} is {score!r}; an evaluator must return a finite "
                    "number (check for a diverged loss or an empty validation split; tell None for a failed one)"
                ) from None
        if self.broadcast is not None:
            score = self.broadcast(score)
            score = None if score is None else float(score)
        number = self.steps
        self.pending_scores[slot] = FAILED if score is None else score
        if score is None:  # counts against the budget, never enters P, the utility or the model
            self.trial_log.add_failure(number, self.stage, self.round, architecture)
        else:
            self.record.add(self.stage, self.round, architecture, score, validated=True)
        if seconds is not None:
            self.trial_log.seconds[number] = float(seconds)
        self.steps += 1
        event = {
            "stage": self.stage, "round": self.round, "index": sum(s is not None for s in self.pending_scores),
            "round_size": len(self.pending), "step": self.steps, "total_steps": self.total_steps,
            "architecture": architecture, "score": score, "seconds": seconds, "failed": score is None,
        }
        stage_ended = False
        if all(s is not None for s in self.pending_scores):
            self.pending, self.pending_scores = [], []
            self.round += 1
            if self.round >= self.stage_rounds:
                self._end_stage()
                stage_ended = True
        event["total_steps"] = self.total_steps
        hook = "on_fail" if score is None else "on_sample"  # on_sample always has a score to show
        for callback in self.callbacks:
            if hasattr(callback, hook):
                getattr(callback, hook)(self, event)
        if stage_ended:
            for callback in self.callbacks:
                if hasattr(callback, "on_stage_end"):
                    callback.on_stage_end(self, self.history["stages"][-1])
        if stage_ended or self.finished or self.steps % self.config.checkpoint_every == 0:
            self.state.save()
        if self.finished:
            self._finish()

    def fail(self, architecture: Sequence[int] | Mapping[str, str], seconds: float | None = None) -> None:
        """Record a failed evaluation (out of memory, a crashed worker): it counts against the budget, its slot
        of the round is closed, it is kept in :attr:`trials` and across a resume, and it never enters the
        performance record, the utility or the model."""
        self.tell(architecture, None, seconds)

    @property
    def trials(self) -> list[Trial]:
        """Every evaluation told so far, in order: complete (with a score) or failed."""
        return self.trial_log.trials(self.space, self.record)

    @property
    def best(self) -> Trial | None:
        """The complete trial with the best score (``higher_is_better`` respected); None before any."""
        return best_trial(self.trials, self.higher_is_better)

    def _finish(self) -> None:
        """The end of a search, however it was driven: callbacks' on_end, summary.json and the θ plot."""
        result = self.result()
        for callback in self.callbacks:
            if hasattr(callback, "on_end"):
                callback.on_end(self, result)
        self.state.finish(result)

    def step(self) -> float:
        """Train and score the next waiting architecture with the evaluator."""
        if self.evaluator is None:
            raise RuntimeError("step() and run() need an evaluator; with ask()/tell() you score architectures yourself")
        waiting = self.ask()
        if not waiting:
            raise RuntimeError("the search has finished; nothing left to train")
        architecture = waiting[0]
        started = time.perf_counter()
        self.evaluator.train(architecture)
        score = self.evaluator.score(architecture)
        if score is None:  # an evaluator that forgot to return is a bug, not a failed evaluation
            raise ValueError(f"the evaluator returned None for architecture {architecture}; score() must return a "
                             "finite number (with ask/tell, search.fail(architecture) records a failed one)")
        self.tell(architecture, score, seconds=time.perf_counter() - started)
        return float(score)

    def run(self) -> SearchResult:
        """Train until every decision is at its floor (or the NoPrune stages or the budget are done)."""
        try:
            self.state.save_if_new()
            while not self.finished:
                if not self.ask():
                    break
                self.step()
            return self.result()
        finally:
            for callback in self.callbacks:
                if hasattr(callback, "close"):
                    callback.close()
            self.state.close()

    def close(self) -> None:
        """Release the run directory's lock (run() does this itself)."""
        self.state.close()

    # ------------------------------------------------------------------ stage end
    def _end_stage(self) -> None:
        config, dist, space = self.config, self.distribution, self.space
        common = {"higher_is_better": self.higher_is_better, "momentum": config.gamma,
                  "temperature": config.tau, "space": space}
        if config.utility == "paper":
            update = presets.paper_update(self.record, self.stage, dist.live, dist.theta, dist.velocity,
                                          normalization=config.normalization, **common)
        elif config.utility == "authors":
            update = presets.authors_update(self.record, self.stage, dist.live, dist.theta, dist.velocity, **common)
        else:
            update = presets.joint_update(self.record, self.stage, dist.live, dist.theta, dist.velocity,
                                          normalization=config.normalization, cache=self.model_cache, **common)
        dist.theta, dist.velocity = update.theta, update.velocity
        means = self.record.utility(self.stage, dist.live, self.higher_is_better)
        bound = pruning_error_bound(means, dist.live)
        reach = reachable_decisions(space, dist.live)
        prunable = prunable_mask(space, dist.live) & means.recorded[:, None] & reach[:, None] & ~update.protected
        valid = bound[prunable.any(axis=1) & np.isfinite(bound)]
        worst = float(valid.max()) if valid.size else float("nan")
        postpone = bool(config.prune and config.bound_threshold is not None and valid.size
                        and worst > config.bound_threshold and self.postponed < config.max_postponed_stages)
        pruned: list[dict[str, Any]] = []
        if config.prune and not postpone:
            self.postponed = 0
            for e, k in enumerate(choose_pruned(dist.theta, prunable)):
                if k < 0:
                    continue
                decision = space.decisions[e]
                pruned.append({"stage": self.stage, "decision": decision.name, "candidate": decision.candidates[k].name,
                               "theta": float(dist.theta[e, k])})
                dist.live[e, k] = False
                dist.pruned_theta[e, k] = dist.theta[e, k]
            if config.utility == "authors":
                dist.theta = presets.authors_renormalize(dist.theta, space)
            else:
                dist.theta = normalize_rows(dist.theta, dist.live, "sum")
                dist.velocity = np.where(dist.live, dist.velocity, 0.0)
        elif postpone:
            self.postponed += 1
        elif config.utility == "authors":
            dist.theta = presets.authors_renormalize(dist.theta, space)
        info = {"stage": self.stage, "rounds": self.stage_rounds, "utility": update.utility.values.tolist(),
                "counts": means.counts.tolist(), "bound": bound.tolist(), "max_bound": worst,
                "postponed": postpone, "pruned": pruned,
                "incumbent": None if update.incumbent is None else list(update.incumbent)}
        self.history["pruned"].extend(pruned)
        self.history["stages"].append(info)
        self.history["theta"].append(dist.theta.tolist())
        self.stage += 1
        self.round = 0
        self.steps_before_stage = self.steps
        if config.prune:
            left = prunable_mask(space, dist.live) & reachable_decisions(space, dist.live)[:, None]
            self.finished = not left.any()
        else:
            self.finished = self.stage >= self.num_stages
        self.stage_rounds = self._rounds_for_next_stage()

    def _rounds_for_next_stage(self) -> int:
        """T, or fewer where max_evaluations cannot pay for T rounds of this stage plus one of each later one."""
        budget = self.config.max_evaluations
        if budget is None or self.finished:
            return self.rounds_per_stage
        if self.config.prune:
            sizes = self._remaining_schedule()
        else:
            sizes = self._remaining_schedule() * max(self.num_stages - self.stage, 1)
        spare = budget - self.steps - sum(sizes[1:])
        return int(min(self.rounds_per_stage, max(1, spare // sizes[0])))

    # ------------------------------------------------------------------ answer
    def result(self) -> SearchResult:
        theta_architecture = self.distribution.best_architecture()
        architecture, answer = theta_architecture, {"source": "argmax θ"}
        if self.config.utility == "joint":
            found = joint.answer(self.model_cache, self.record, self.distribution.live)
            if found is not None:
                architecture, answer = found
        return SearchResult(self.space, self.distribution, architecture, self.history, self.steps, self.record,
                            theta_architecture, answer, self.config.utility, self.higher_is_better)
