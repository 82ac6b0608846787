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
REPAIR = True  # repair rounds so that no slot re-scores by accident
RESCORE = "noise"  # "noise": re-score where the measured noise makes it worth it; "always": to 2 scores per stage
INTERACTIONS = True  # False: the model keeps its additive part only (ablation)
ANSWER = "model"  # "model": the exact argmax of the estimate over the space; "evaluated": the best evaluated
GLOBAL_TIME_S = 0.5  # time limit of the per-round model argmax (a best-found answer is fine there)
EXACT_TARGET_DECISIONS = 12  # up to this many decisions a round's model target is the exact argmax
MAX_NEIGHBOURS = 256  # one-decision changes a target compares at most


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
            self.model = QualityModel(self.space, RIDGE, MAX_POINTS, interactions=INTERACTIONS,
                                      stage_levels="one" if getattr(record, "stationary", False) else None)
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

    def evaluated(self, record: PerformanceRecord):
        """Every architecture with a score (kept in step with the records)."""
        self.get(record)
        if self.model is None:
            return {r.architecture for r in record.records}
        return _Avoid(self.model)

    def pairwise(self) -> tuple[np.ndarray, np.ndarray]:
        if self._pairwise is None:
            self._pairwise = self.model.pairwise()
        return self._pairwise


def ranked_inside(model: QualityModel, live: np.ndarray, top: int | None = None,
                  ) -> tuple[list[Architecture], np.ndarray, np.ndarray, np.ndarray]:
    """Evaluated architectures: (keys, estimates, counts, indices of those inside the live space, best first;
    only the ``top`` best when given)."""
    keys, estimates, counts = model.estimates(optimistic=True)
    archs = model.distinct_rows()
    active = model.distinct_active()
    inside = np.flatnonzero(np.all(~active | live[np.arange(archs.shape[1])[None, :], archs], axis=1))
    if top is not None and len(inside) > top:
        inside = inside[np.argpartition(-estimates[inside], top - 1)[:top]]
    order = inside[np.argsort(-estimates[inside], kind="stable")]
    return keys, estimates, counts, order


class _Avoid:
    """Evaluated architectures (the model's dictionary, no copy) plus the ones chosen for this round."""

    def __init__(self, model: QualityModel) -> None:
        self.model, self.extra = model, set()

    def __contains__(self, architecture) -> bool:
        """Membership of an architecture or of its canonical form (branch and bound asks with the latter)."""
        canonical = self.model.canonical_of(architecture)
        return canonical in self.model.canonical or canonical in self.extra

    def add(self, architecture) -> None:
        self.extra.add(self.model.canonical_of(architecture))


def incumbent(model: QualityModel, live: np.ndarray) -> Architecture | None:
    keys, _, _, order = ranked_inside(model, live, top=1)
    return keys[order[0]] if len(order) else None


def _rescore_worth_it(model: QualityModel, estimates, counts, order, stage_evaluations: int) -> bool:
    """Re-score the incumbent when the measured noise makes the runner-up plausibly better; with no repeated
    score yet, once (in a stage large enough) to measure the noise at all. Noise-free scores: never."""
    top = order[0]
    if counts[top] >= MAX_SCORES or stage_evaluations < NOISE_CHECK_MIN_STAGE:
        return False
    if RESCORE == "always":
        return counts[top] < 2
    if not model.has_repeats:
        return counts[top] < 2
    if model.repeat_noise <= 1e-9 or len(order) < 2:
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
                avoid: set[Architecture], rng: np.random.Generator, keep=None) -> Architecture | None:
    """``parent`` with the one-decision change that a posterior sample values most (not in ``avoid`` where
    possible): sampled additive effects, plus the interaction part's mean and a draw of its uncertainty.
    ``keep(children)``: a mask of the changes allowed at all (budgets known before the search); None when it
    allows none."""
    children = _neighbours(space, parent, live, model.active(np.asarray([parent]))[0])
    if keep is not None:
        children = children[keep(children)] if len(children) else children
        if not len(children):
            return None
    if not len(children):
        return parent
    fresh = np.array([tuple(c) not in avoid for c in children.tolist()], dtype=bool)
    if fresh.any():
        children = children[fresh]
    if len(children) > MAX_NEIGHBOURS:  # large spaces: a random share of the changes competes
        children = children[rng.choice(len(children), MAX_NEIGHBOURS, replace=False)]
    mean, std = model.predict(children, return_std=True)
    sampled = model.additive(children, model.sample_coefficients(rng)) - model.additive(children)
    value = mean + sampled + std * rng.standard_normal(len(children))
    return tuple(int(k) for k in children[int(np.argmax(value))])


def model_optimum(cache: ModelCache, live: np.ndarray, avoid: set[Architecture], rng: np.random.Generator,
                  sample: bool = True, start: Architecture | None = None) -> Architecture | None:
    """A best architecture of the live space not in ``avoid`` by the model with sampled additive effects:
    exact (branch and bound) on small spaces, coordinate ascent from the sampled additive optimum (and
    ``start``) on large ones, where a round's target does not need a proof."""
    model = cache.model
    unary, pair = cache.pairwise()
    if sample:
        unary = unary + model.encode_coefficients(model.sample_coefficients(rng) - model.coefficients)
    if model.space.num_decisions <= EXACT_TARGET_DECISIONS:
        found = maximise_pairwise(model.space, unary, pair, model.encoded_offsets, {}, [{}], allowed=live,
                                  exclude=avoid, time_limit_s=GLOBAL_TIME_S)[0]
        return found.architecture
    return coordinate_ascent(model, unary, pair, live, avoid, rng, start)


def _pairwise_value(model: QualityModel, unary: np.ndarray, pair: np.ndarray, architecture) -> float:
    ids = model.encoded_offsets + model.encoded(np.asarray([architecture]))[0]
    return float(unary[ids].sum() + np.triu(pair[np.ix_(ids, ids)], 1).sum())


def coordinate_ascent(model: QualityModel, unary: np.ndarray, pair: np.ndarray, live: np.ndarray,
                      avoid: set[Architecture], rng: np.random.Generator,
                      start: Architecture | None = None, sweeps: int = 6) -> Architecture | None:
    """Local maximum of the pairwise objective over the live space (one decision at a time, random order),
    then, if it was evaluated already, its best neighbour that was not. Conditional spaces: activity is
    re-derived after each change (the objective of an inactive decision is its "inactive" value)."""
    space = model.space
    offsets = model.encoded_offsets
    starts = [tuple(int(k) for k in np.argmax(np.where(live, _unary_rows(model, unary), -np.inf), axis=1))]
    if start is not None:
        starts.append(tuple(start))
    best, best_value = None, -np.inf
    for first in starts:
        x = list(first)
        conditional = bool(model.conditional.any())
        ids = offsets + model.encoded(np.asarray([x]))[0]
        context = pair[:, ids].sum(axis=1)  # every option's interactions with the current choices
        for _ in range(sweeps):
            changed = False
            for e in rng.permutation(space.num_decisions):
                options = np.flatnonzero(live[e])
                if len(options) < 2:
                    continue
                if conditional:  # activity may have changed with the last move
                    ids = offsets + model.encoded(np.asarray([x]))[0]
                    context = pair[:, ids].sum(axis=1)
                # diagonal blocks of pair are zero, so option e's own current choice adds nothing here
                values = unary[offsets[e] + options] + context[offsets[e] + options]
                k = int(options[int(np.argmax(values))])
                current = values[int(np.flatnonzero(options == x[e])[0])] if x[e] in options else -np.inf
                if k != x[e] and values.max() > current + 1e-12:
                    if not conditional:
                        context += pair[:, offsets[e] + k] - pair[:, offsets[e] + x[e]]
                    x[e], changed = k, True
            if not changed:
                break
        value = _pairwise_value(model, unary, pair, x)
        if value > best_value:
            best, best_value = tuple(x), value
    if best is None:
        return None
    if best not in avoid:
        return best
    parent = best
    children = _neighbours(space, parent, live, model.active(np.asarray([parent]))[0])
    children = [c for c in map(tuple, children.tolist()) if c not in avoid]
    if not children:
        return None
    values = [_pairwise_value(model, unary, pair, c) for c in children]
    return children[int(np.argmax(values))]


def _unary_rows(model: QualityModel, unary: np.ndarray) -> np.ndarray:
    out = np.full((model.space.num_decisions, model.space.max_candidates), -np.inf)
    for e, size in enumerate(model.space.sizes):
        out[e, :size] = unary[model.encoded_offsets[e]: model.encoded_offsets[e] + size]
    return out


def targets(cache: ModelCache, record: PerformanceRecord, live: np.ndarray, size: int, rng: np.random.Generator,
            stage_start: bool, stage_evaluations: int) -> tuple[list[Architecture | None], list[np.ndarray | None],
                                                                set[int]]:
    """Per-slot targets and preferences of the next round, and the slots meant as re-scores."""
    model = cache.get(record)
    if model is None:
        return [], [], set()
    keys, estimates, counts, order = ranked_inside(model, live, top=ELITE_POOL)
    if not len(order):
        return [], [], set()
    pool = [keys[i] for i in order[:ELITE_POOL]]
    avoid = _Avoid(model)
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


def replace_forced_repeats(cache: ModelCache, record: PerformanceRecord, architectures: list[Architecture],
                           keep: set[int], rng: np.random.Generator) -> list[Architecture]:
    """Slots that still repeat an evaluated architecture after :func:`repair_round` (the live space is nearly
    exhausted, as in the last stages of a search pruned to one candidate) re-score for nothing when the scores
    are noise-free: once repeated scores have measured the noise as zero, such a slot takes the model's best
    unevaluated architecture of the whole space instead (with sampled additive effects)."""
    model = cache.get(record)
    if model is None or not model.has_repeats or model.repeat_noise > 1e-9 * max(model.residual_variance, 1e-12):
        return architectures
    out = list(architectures)
    full = model.space.full_mask()
    for r, a in enumerate(out):
        if r in keep or model.canonical_of(a) not in model.distinct:
            continue
        avoid = _Avoid(model)
        for other in out:
            avoid.add(other)
        child = model_optimum(cache, full, avoid, rng)
        if child is not None:
            out[r] = child
    return out


def answer(cache: ModelCache, record: PerformanceRecord, live: np.ndarray | None = None) -> tuple[Architecture, dict] | None:
    """The recommended network without a budget: the exact argmax of the estimate over the whole space."""
    model = cache.get(record, force=True)
    if model is None:
        return None
    found = recommend(model.space, model, {}, [{}])[0]
    if found.architecture is None:
        return None
    if ANSWER == "live" and live is not None:  # the old default: the best evaluated architecture inside the live space
        keys, estimates, counts, order = ranked_inside(model, live, top=1)
        if len(order):
            found.architecture, found.source, found.estimate = keys[order[0]], "evaluated", float(estimates[order[0]])
            found.times_evaluated = int(counts[order[0]])
    elif ANSWER == "evaluated" and found.best_evaluated is not None:
        found.architecture, found.source, found.estimate = found.best_evaluated, "evaluated", \
            found.best_evaluated_estimate
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
