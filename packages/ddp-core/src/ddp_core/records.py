"""The performance record P (Eq. 2), the utility U (Eq. 3) and the Theorem 3 diagnostic (Sec. 3.4)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ddp_core.space import Architecture, SearchSpace


@dataclass(frozen=True)
class Record:
    """One trained and scored architecture."""

    stage: int
    round: int
    architecture: Architecture
    score: float


@dataclass
class Utility:
    """Utility of each candidate over one stage.

    Attributes
    ----------
    values : (E, Kmax)
        Mean oriented score (higher is better) of the records that credited the candidate; candidates with no
        record take their decision's mean, so they are neither favoured nor punished.
    counts : (E, Kmax) int
        How many records credited each candidate.
    spread : (E,)
        Pooled standard deviation of repeated scores of one candidate (σ_t of Theorem 3); NaN if no candidate
        of the decision was scored twice.
    recorded : (E,) bool
        Decisions with at least one credited record in the stage (only these are updated).
    """

    values: np.ndarray
    counts: np.ndarray
    spread: np.ndarray
    recorded: np.ndarray


class PerformanceRecord:
    """Every score of the search, kept for utility, diagnostics, plots and resume."""

    def __init__(self, space: SearchSpace, stationary: bool = False) -> None:
        self.space = space
        self.stationary = bool(stationary)  # scores do not depend on the stage (SearchConfig.stationary_scores)
        self.records: list[Record] = []
        self._columns = _Columns(space.num_decisions)

    def add(self, stage: int, round_index: int, architecture: Architecture, score: float,
            validated: bool = False) -> Record:
        """Append one record. ``validated=True``: ``architecture`` is a tuple of ints the space accepted
        already (``tell`` checks it against the round), so it is not checked twice."""
        score = float(score)
        if not math.isfinite(score):
            raise ValueError(
                f"score {score!r} for architecture {architecture} is not a finite number; the evaluator must "
                "return a real score (check for a diverged loss or an empty validation split)"
            )
        architecture = architecture if validated else self.space.validate(architecture)
        record = Record(int(stage), int(round_index), architecture, score)
        self.records.append(record)
        return record

    def for_stage(self, stage: int) -> list[Record]:
        return [r for r in self.records if r.stage == stage]

    def stage_arrays(self, stage: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(architectures (N, E) int, rounds (N,) int, scores (N,)) of the stage's records, in record order.

        Kept as columns that grow with the appended records, so a stage end converts each record once instead
        of rebuilding arrays from every record object at each call."""
        stages, rounds, architectures, scores = self._columns.sync(self.records)
        chosen = np.flatnonzero(stages == stage)
        return architectures[chosen], rounds[chosen], scores[chosen]

    def utility(self, stage: int, live: np.ndarray, higher_is_better: bool) -> Utility:
        """U[e, k] = mean over the stage's records crediting (e, k) of the oriented score (Eq. 3)."""
        shape = (self.space.num_decisions, self.space.max_candidates)
        sums = np.zeros(shape)
        squares = np.zeros(shape)
        counts = np.zeros(shape, dtype=np.int64)
        sign = 1.0 if higher_is_better else -1.0
        architectures, _, scores = self.stage_arrays(stage)
        if len(scores):  # every record at once; bincount adds in record order, as a loop over records would
            from ddp_core.sampling import active_matrix

            values = sign * scores
            n, e = np.nonzero(active_matrix(self.space, architectures))
            flat = e * shape[1] + architectures[n, e]
            size = shape[0] * shape[1]
            sums = np.bincount(flat, weights=values[n], minlength=size).reshape(shape)
            squares = np.bincount(flat, weights=values[n] * values[n], minlength=size).reshape(shape)
            counts = np.bincount(flat, minlength=size).reshape(shape).astype(np.int64)
        seen = (counts > 0) & live
        means = np.divide(sums, counts, out=np.zeros(shape), where=counts > 0)
        recorded = seen.any(axis=1)
        fill = np.array([means[e, seen[e]].mean() if recorded[e] else 0.0 for e in range(shape[0])])
        values = np.where(seen, means, fill[:, None])
        values = np.where(live, values, 0.0)
        # pooled within-candidate variance: sum of squared deviations over (n - 1) summed per decision
        deviation = np.where(counts > 1, squares - counts * means**2, 0.0)
        dof = np.where(counts > 1, counts - 1, 0).sum(axis=1)
        spread = np.full(shape[0], np.nan)
        has_dof = dof > 0
        spread[has_dof] = np.sqrt(np.maximum(deviation.sum(axis=1)[has_dof], 0.0) / dof[has_dof])
        return Utility(values, counts, spread, recorded)

    def state_dict(self) -> dict[str, Any]:
        return {"records": [[r.stage, r.round, list(r.architecture), r.score] for r in self.records]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.records = [Record(int(s), int(t), tuple(int(k) for k in a), float(v)) for s, t, a, v in state["records"]]
        self._columns = _Columns(self.space.num_decisions)


class _Columns:
    """Every record's stage, round, architecture and score as arrays, extended with the records appended to
    ``PerformanceRecord.records`` since the last call (records are only ever appended; a shorter list, as
    after ``load_state_dict``, starts them again)."""

    def __init__(self, num_decisions: int) -> None:
        self.count = 0
        self.stages = np.zeros(0, dtype=np.int64)
        self.rounds = np.zeros(0, dtype=np.int64)
        self.architectures = np.zeros((0, num_decisions), dtype=np.int64)
        self.scores = np.zeros(0)

    def sync(self, records: list[Record]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        n = len(records)
        if n < self.count:
            self.__init__(self.architectures.shape[1])
        if n > self.count:
            new = records[self.count:]
            if n > len(self.scores):  # grow by doubling: each record is copied O(1) times overall
                capacity = max(n, 2 * len(self.scores))
                self.stages = np.resize(self.stages, capacity)
                self.rounds = np.resize(self.rounds, capacity)
                self.scores = np.resize(self.scores, capacity)
                grown = np.zeros((capacity, self.architectures.shape[1]), dtype=np.int64)
                grown[: self.count] = self.architectures[: self.count]
                self.architectures = grown
            self.stages[self.count:n] = [r.stage for r in new]
            self.rounds[self.count:n] = [r.round for r in new]
            self.scores[self.count:n] = [r.score for r in new]
            self.architectures[self.count:n] = np.array([r.architecture for r in new], dtype=np.int64).reshape(
                len(new), self.architectures.shape[1])
            self.count = n
        return self.stages[:n], self.rounds[:n], self.architectures[:n], self.scores[:n]


def pruning_error_bound(utility: Utility, live: np.ndarray) -> np.ndarray:
    """Theorem 3: per decision, ``2 (K σ_t / ζ_t)^2``, the bound on pruning a wrong candidate this stage.

    K is the decision's live count and ζ_t the gap between the best and worst utility among its scored live
    candidates. σ_t is the spread of the *utility*, a mean of n scores: the pooled spread of single scores
    divided by sqrt(n), n the mean number of scores per candidate (using the single-score spread would make
    the bound about n times too conservative). NaN where σ_t cannot be estimated (no candidate scored twice)
    or where every score ties (no evidence either way); inf where the utilities tie but scores vary.
    Values above 1 say the bound is vacuous.
    """
    scored = live & (utility.counts > 0)
    bound = np.full(live.shape[0], np.nan)
    for e in range(live.shape[0]):
        if scored[e].sum() < 2 or not np.isfinite(utility.spread[e]):
            continue
        values = utility.values[e, scored[e]]
        gap = float(values.max() - values.min())
        sigma = float(utility.spread[e]) / math.sqrt(float(utility.counts[e, scored[e]].mean()))
        if gap <= 0:
            bound[e] = math.nan if sigma == 0 else math.inf
            continue
        k = int(live[e].sum())
        bound[e] = 2.0 * (k * sigma / gap) ** 2
    return bound
