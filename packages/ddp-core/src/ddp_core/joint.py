"""The default preset (``utility="joint"``): θ from additive effects, rounds paired by a model with interactions.

Still DDPNAS: a distribution θ per decision, disjoint rounds that train every live candidate every round, one
pruning step per stage. What the model of quality (:mod:`ddp_core.quality`) adds:

- θ moves by Eq. 4-5 on softmax(additive effects / τ); the candidates of the best evaluated architecture (the
  incumbent) are never pruned.
- A third of each round's slots (at least one) are *targets*: slot 0 the incumbent's best one-decision change
  under a posterior sample (or the incumbent itself, when the measured noise makes a re-score worth it), slot 1
  the exact argmax over the live space of the model with sampled additive effects, among architectures not yet
  evaluated, the next ones changes of tournament winners among the best evaluated architectures. The other
  slots take their best free candidates under their own posterior samples. What each decision covers is
  unchanged; only how the columns are paired.
- A round never re-scores an architecture by accident: slots that repeat an evaluated architecture, or each
  other, are repaired by swapping candidates between slots of the same decision (coverage is unchanged).
- The answer and ENG are :func:`ddp_core.recommend.recommend`: the exact argmax of the model's estimate over the
  whole space (under budgets, for ENG).

Knobs are module constants, measured in ``benchmarks/search_quality.py`` (BENCHMARKS.md).
"""

from __future__ import annotations

import math

import numpy as np

from ddp_core.quality import QualityModel
from ddp_core.recommend import maximise_pairwise, recommend
from ddp_core.records import PerformanceRecord
from ddp_core.space import Architecture, SearchSpace

ELITE_FRACTION = 0.34  # share of a round's slots (at least one) paired around the best evaluated architectures
ELITE_POOL = 10  # tournament pool: the best this many evaluated architectures still inside the live space
TOURNAMENT = 5
RIDGE = 1.0
MAX_POINTS = 400  # distinct architectures the interaction GP is fitted on
REFIT_GROWTH = 0.01  # refit when the records grew by this share since the last fit (every round while small)
NOISE_CHECK_MIN_STAGE = 8  # measure the noise (re-score the incumbent once) in stages of at least this many
MAX_SCORES = 4  # never score one architecture more often than this on purpose
GLOBAL_SLOTS = 1
GLOBAL_TIME_S = 0.5  # time limit of the per-round model argmax (a best-found answer is fine there)


class ModelCache:
    """The search's :class:`QualityModel`, updated with every new record and refitted when worth it."""

    def __init__(self, space: SearchSpace, higher_is_better: bool) -> None:
        self.space = space
        self.sign = 1.0 if higher_is_better else -1.0
        self.model: QualityModel | None = None
        self.consumed = 0
        self.fitted_records = 0
        self._pairwise = None

    def get(self, record: PerformanceRecord, force: bool = False) -> QualityModel | None:
        records = record.records
        if self.model is None or len(records) < self.consumed:
            self.model = QualityModel(self.space, RIDGE, MAX_POINTS)
            self.consumed = self.fitted_records = 0
        new = [r for r in records[self.consumed:] if not getattr(r, "failed", False)
               and r.score is not None and math.isfinite(r.score)]
        self.consumed = len(records)
        if new:
            self.model.update([r.architecture for r in new], [self.sign * r.score for r in new],
                              [r.stage for r in new])
        n = self.model.num_records
        if n < 2:
            return None
        grown = n - self.fitted_records
        if grown > 0 and (self.fitted_records == 0 or force or grown >= max(1.0, REFIT_GROWTH * n)):
            self.model.fit()
            self.fitted_records = n
            self._pairwise = None
        return self.model

    def evaluated(self, record: PerformanceRecord) -> set[Architecture]:
        """Every architecture with a score (kept in step with the records)."""
        self.get(record)
        return set(self.model.distinct) if self.model is not None else {r.architecture for r in record.records}

    def pairwise(self) -> tuple[np.ndarray, np.ndarray]:
        if self._pairwise is None:
            self._pairwise = self.model.pairwise()
        return self._pairwise


def ranked_inside(model: QualityModel, live: np.ndarray) -> tuple[list[Architecture], np.ndarray, np.ndarray,
                                                                   np.ndarray]:
    """Evaluated architectures: (keys, estimates, counts, order of those inside the live space, best first)."""
    keys, estimates, counts = model.estimates()
    archs = np.asarray(keys, dtype=np.int64)
    active = model.active(archs)
    inside = np.all(~active | live[np.arange(archs.shape[1])[None, :], archs], axis=1)
    order = np.argsort(-estimates, kind="stable")
    return keys, estimates, counts, order[inside[order]]


def incumbent(model: QualityModel, live: np.ndarray) -> Architecture | None:
    keys, _, _, order = ranked_inside(model, live)
    return keys[order[0]] if len(order) else None


def _rescore_worth_it(model: QualityModel, estimates, counts, order, stage_evaluations: int) -> bool:
    """Re-score the incumbent when the measured noise makes the runner-up plausibly better; with no repeated
    score yet, once (in a stage large enough) to measure the noise at all. Noise-free scores: never."""
    top = order[0]
    if counts[top] >= MAX_SCORES or stage_evaluations < NOISE_CHECK_MIN_STAGE:
        return False
    if not model.has_repeats:
        return counts[top] < 2
    if model.noise <= 1e-9 or len(order) < 2:
        return False
    runner = order[1]
    spread = math.sqrt(model.noise / counts[top] + model.noise / counts[runner])
    return float(estimates[top] - estimates[runner]) < spread


def _neighbours(space: SearchSpace, parent: Architecture, live: np.ndarray, active: np.ndarray) -> np.ndarray:
    rows = []
    for e in np.flatnonzero(active):
        options = np.flatnonzero(live[e])
        if len(options) < 2:
            continue
        for k in options:
            if k != parent[e]:
                child = list(parent)
                child[e] = int(k)
                rows.append(child)
    return np.asarray(rows, dtype=np.int64).reshape(len(rows), space.num_decisions)


def best_change(space: SearchSpace, model: QualityModel, parent: Architecture, live: np.ndarray,
                avoid: set[Architecture], rng: np.random.Generator) -> Architecture:
    """``parent`` with the one-decision change that a posterior sample values most (not in ``avoid`` where
    possible): sampled additive effects, plus the interaction part's mean and a draw of its uncertainty."""
    children = _neighbours(space, parent, live, model.active(np.asarray([parent]))[0])
    if not len(children):
        return parent
    fresh = np.array([tuple(int(k) for k in c) not in avoid for c in children])
    if fresh.any():
        children = children[fresh]
    mean, std = model.predict(children, return_std=True)
    sampled = model.additive(children, model.sample_coefficients(rng)) - model.additive(children)
    value = mean + sampled + std * rng.standard_normal(len(children))
    return tuple(int(k) for k in children[int(np.argmax(value))])


def model_optimum(cache: ModelCache, live: np.ndarray, avoid: set[Architecture], rng: np.random.Generator,
                  sample: bool = True) -> Architecture | None:
    """The best architecture of the live space not in ``avoid`` by the model, with sampled additive effects."""
    model = cache.model
    unary, pair = cache.pairwise()
    if sample:
        unary = unary + model.encode_coefficients(model.sample_coefficients(rng) - model.coefficients)
    found = maximise_pairwise(model.space, unary, pair, model.encoded_offsets, {}, [{}], allowed=live,
                              exclude=avoid, time_limit_s=GLOBAL_TIME_S)[0]
    return found.architecture


def targets(cache: ModelCache, record: PerformanceRecord, live: np.ndarray, size: int, rng: np.random.Generator,
            stage_start: bool, stage_evaluations: int) -> tuple[list[Architecture | None], list[np.ndarray | None],
                                                                set[int]]:
    """Per-slot targets and preferences of the next round, and the slots meant as re-scores."""
    model = cache.get(record)
    if model is None:
        return [], [], set()
    keys, estimates, counts, order = ranked_inside(model, live)
    if not len(order):
        return [], [], set()
    pool = [keys[i] for i in order[:ELITE_POOL]]
    avoid = set(keys)
    chosen: list[Architecture | None] = []
    rescore: set[int] = set()
    elites = max(1, int(round(ELITE_FRACTION * size)))
    for slot in range(elites):
        if slot == 0 and stage_start and _rescore_worth_it(model, estimates, counts, order, stage_evaluations):
            chosen.append(pool[0])
            rescore.add(0)
            continue
        if 0 < slot <= GLOBAL_SLOTS:
            child = model_optimum(cache, live, avoid, rng)
            if child is not None:
                avoid.add(child)
                chosen.append(child)
                continue
            parent = pool[0]
        elif slot == 0:
            parent = pool[0]
        else:
            entrants = rng.choice(len(pool), size=min(TOURNAMENT, len(pool)), replace=False)
            parent = pool[int(entrants.min())]
        child = best_change(model.space, model, parent, live, avoid, rng)
        avoid.add(child)
        chosen.append(child)
    preferences: list[np.ndarray | None] = [None] * elites
    preferences += [model.sample_effects(rng) for _ in range(size - elites)]
    return chosen, preferences, rescore


def repair_round(space: SearchSpace, architectures: list[Architecture], evaluated: set[Architecture],
                 keep: set[int], rng: np.random.Generator, attempts: int = 200) -> list[Architecture]:
    """Swap candidates between slots of one decision until no slot (outside ``keep``) repeats an evaluated
    architecture or another slot, where some swap allows it. Each decision's column keeps its multiset, so the
    round covers exactly what it covered."""
    rows = np.array(architectures, dtype=np.int64)
    size = len(rows)
    if size < 2:
        return architectures

    def bad(r: int, seen: dict) -> bool:
        a = tuple(int(k) for k in rows[r])
        return r not in keep and (a in evaluated or seen.get(a, r) != r)

    for _ in range(attempts):
        seen: dict[Architecture, int] = {}
        for r in range(size):
            seen.setdefault(tuple(int(k) for k in rows[r]), r)
        broken = [r for r in range(size) if bad(r, seen)]
        if not broken:
            break
        r = broken[0]
        fixed = False
        for e in rng.permutation(space.num_decisions):
            for other in rng.permutation(size):
                if other == r or other in keep or rows[other, e] == rows[r, e]:
                    continue
                rows[[r, other], e] = rows[[other, r], e]
                a, b = tuple(int(k) for k in rows[r]), tuple(int(k) for k in rows[other])
                if a not in evaluated and b not in evaluated and a != b and \
                        sum(tuple(int(k) for k in x) in (a, b) for x in rows) == 2:
                    fixed = True
                    break
                rows[[r, other], e] = rows[[other, r], e]
            if fixed:
                break
        if not fixed:
            keep = keep | {r}  # nothing helps this slot: let it be a re-score
    return [tuple(int(k) for k in row) for row in rows]


def answer(cache: ModelCache, record: PerformanceRecord) -> tuple[Architecture, dict] | None:
    """The recommended network without a budget: the exact argmax of the estimate over the whole space."""
    model = cache.get(record, force=True)
    if model is None:
        return None
    found = recommend(model.space, model, {}, [{}])[0]
    if found.architecture is None:
        return None
    info = {"source": "model optimum (not evaluated yet)" if found.source == "model"
            else "best evaluated architecture (model-adjusted estimate)",
            "times_evaluated": found.times_evaluated, "estimate_normal_score": found.estimate,
            "best_evaluated": list(found.best_evaluated) if found.best_evaluated else None,
            "proven_optimal": found.proven_optimal}
    scores = [r.score for r in record.records if r.architecture == found.architecture
              and not getattr(r, "failed", False)]
    if scores:
        info["mean_score"] = float(np.mean(scores))
    return found.architecture, info
