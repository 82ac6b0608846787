"""The three ways a stage turns records into θ, one flag apart (``SearchConfig(utility=...)``).

- ``"joint"`` (default): θ updated on softmax(additive effects / τ) of the model of quality fitted on every
  record so far, the best evaluated architecture's candidates never pruned, a third of each round's slots paired
  by the model (with interactions), and the answer the exact argmax of the model's estimate (:mod:`ddp_core.joint`).
- ``"paper"``: Eq. 3-5 as written: the stage's mean score per candidate, softmax(U / τ), momentum, renormalise.
- ``"authors"``: the released code (MAC-AutoML/XNAS, ``CategoricalDDPNAS.update``): per round, softmax over each
  decision's full row of that round's scores x 100 (pruned candidates score 0 and stay in the row); the T
  softmaxes averaged; ``V <- γV + (1 - γ) mean``; ``θ <- θ + V``; prune the argmin of θ over live candidates;
  divide θ by its row sum (pruned entries included).

Every function here is pure: it reads records and θ and returns new arrays.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ddp_core import joint
from ddp_core.distribution import masked_softmax, normalize_rows
from ddp_core.records import PerformanceRecord, Utility
from ddp_core.sampling import active_matrix
from ddp_core.space import Architecture, SearchSpace

Preset = Literal["joint", "paper", "authors"]
PRESETS: tuple[str, ...] = ("joint", "paper", "authors")

# γ and τ each preset uses when SearchConfig leaves them unset.
PRESET_DEFAULTS: dict[str, dict[str, float]] = {
    "joint": {"momentum": 0.9, "temperature": 0.5},  # τ in standard deviations of the normal scores
    "paper": {"momentum": 0.9, "temperature": 0.01},  # τ = 0.01: the x100 of the released code, scores in [0, 1]
    "authors": {"momentum": 0.8, "temperature": 0.01},  # XNAS: softmax(scores * 100), gamma=0.8
}


@dataclass
class StageUpdate:
    """What one stage end computed: new θ and V, the utility that drove them, and what must not be pruned."""

    theta: np.ndarray
    velocity: np.ndarray
    utility: Utility
    protected: np.ndarray  # (E, Kmax) bool
    incumbent: Architecture | None = None


def _momentum(theta, velocity, target, live, rows, momentum, normalization):
    new_velocity = np.where(live, momentum * velocity + (1.0 - momentum) * target, 0.0)
    new_theta = normalize_rows(theta + new_velocity, live, normalization)
    keep = ~rows[:, None]
    return np.where(keep, theta, new_theta), np.where(keep, velocity, new_velocity)


def paper_update(record, stage, live, theta, velocity, *, higher_is_better, momentum, temperature, normalization,
                 space: SearchSpace) -> StageUpdate:
    """Eq. 3-5: U = the stage's mean oriented score per candidate; V <- γV + (1-γ) softmax(U/τ); θ <- norm(θ+V)."""
    utility = record.utility(stage, live, higher_is_better)
    target = masked_softmax(utility.values, live, temperature)
    new_theta, velocity = _momentum(theta, velocity, target, live, utility.recorded, momentum, normalization)
    _warn_if_tied(utility, theta, new_theta, live, temperature, space)
    return StageUpdate(new_theta, velocity, utility, np.zeros_like(live))


def _warn_if_tied(utility: Utility, before: np.ndarray, after: np.ndarray, live: np.ndarray, temperature: float,
                  space: SearchSpace) -> None:
    """θ ties (and pruning silently falls to the lowest index) when softmax(U/τ) underflows for distinct U:
    candidates that θ did not tell apart before the update and whose utilities differ still tie after it."""
    for e in np.flatnonzero(utility.recorded):
        k = np.flatnonzero(live[e])
        values, old, new = utility.values[e, k], before[e, k], after[e, k]
        distinct = values[:, None] != values[None, :]
        tied = (new[:, None] == new[None, :]) & (old[:, None] == old[None, :])
        if np.any(distinct & tied):
            span = float(values.max() - values.min())
            warnings.warn(
                f"utility='paper': softmax(U / τ) with τ={temperature:g} saturates on decision "
                f"{space.decisions[e].name!r} (utilities span {span:.4g}), so θ ties and pruning falls to the "
                "lowest index. Scores look larger than [0, 1] (percent?): pass --temperature 1 for percent, or "
                "use the default preset (utility='joint'), which does not depend on the score's scale.",
                RuntimeWarning, stacklevel=3,
            )
            return


def authors_update(record: PerformanceRecord, stage, live, theta, velocity, *, higher_is_better, momentum,
                   temperature, space: SearchSpace) -> StageUpdate:
    """The released code's update; θ and V keep their pruned entries, as there. Returns θ before the row-sum
    renormalisation, which :func:`authors_renormalize` applies after pruning.

    Per round t: ``performance[t, e, k]`` = the mean oriented score of the round's records crediting (e, k),
    then a softmax over each full row; the rounds' softmaxes averaged. Computed for every round at once
    (bincount over the stage's records, in record order: the same sums as adding record by record)."""
    exists = space.full_mask()
    sign = 1.0 if higher_is_better else -1.0
    architectures, round_of, scores = record.stage_arrays(stage)
    decisions, width = theta.shape
    expectation = np.zeros_like(theta)
    rounds = 0
    if len(scores):
        distinct, slot = np.unique(round_of, return_inverse=True)
        rounds = len(distinct)
        values = sign * scores
        rows, cols = np.nonzero(active_matrix(space, architectures))  # record by record, decisions ascending
        cells = decisions * width
        block = max(1, 2**20 // cells)  # rounds per block: bounds the memory at 50k records on 100 x 16
        for first in range(0, rounds, block):
            chosen = (slot[rows] >= first) & (slot[rows] < first + block)
            n, e = rows[chosen], cols[chosen]
            flat = ((slot[n] - first) * decisions + e) * width + architectures[n, e]
            size = min(block, rounds - first) * cells
            shape = (size // cells, decisions, width)
            sums = np.bincount(flat, weights=values[n], minlength=size).reshape(shape)
            counts = np.bincount(flat, minlength=size).reshape(shape)
            performance = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
            # The released code leaves 0 where a candidate has no score this round (pruned ones). For accuracies
            # in [0, 1] that is the worst score; for negative oriented scores (losses) the row's lowest score is.
            floor = np.minimum(0.0, np.where(counts > 0, performance, np.inf).min(axis=2, keepdims=True))
            performance = np.where(counts > 0, performance, np.where(np.isfinite(floor), floor, 0.0))
            expectation += _row_softmax(performance, exists, temperature).sum(axis=0)
    expectation /= max(rounds, 1)
    utility = record.utility(stage, live, higher_is_better)
    rows = utility.recorded[:, None]
    new_velocity = np.where(rows, momentum * velocity + (1.0 - momentum) * expectation, velocity)
    new_theta = np.where(rows & exists, theta + new_velocity, theta)
    return StageUpdate(new_theta, new_velocity, utility, np.zeros_like(live))


def _row_softmax(values: np.ndarray, mask: np.ndarray, temperature: float) -> np.ndarray:
    """:func:`masked_softmax` over the last axis of a stack of (E, K) arrays."""
    scaled = np.where(mask, values / temperature, -np.inf)
    row_max = np.max(scaled, axis=-1, keepdims=True)
    row_max = np.where(np.isfinite(row_max), row_max, 0.0)
    exp = np.where(mask, np.exp(scaled - row_max), 0.0)
    total = exp.sum(axis=-1, keepdims=True)
    return np.divide(exp, total, out=np.zeros_like(exp), where=total > 0)


def authors_renormalize(theta: np.ndarray, space: SearchSpace) -> np.ndarray:
    """θ /= its row sum over every existing candidate, pruned ones included (as the released code does)."""
    return normalize_rows(theta, space.full_mask(), "sum")


def joint_update(record, stage, live, theta, velocity, *, higher_is_better, momentum, temperature, normalization,
                 space: SearchSpace, cache: joint.ModelCache | None = None) -> StageUpdate:
    """U = the model's additive candidate effects (all records); θ as Eq. 4-5 on softmax(U/τ); protect the
    incumbent (:mod:`ddp_core.joint`)."""
    cache = cache or joint.ModelCache(space, higher_is_better)
    model = cache.get(record, force=True)
    base = record.utility(stage, live, higher_is_better)
    if model is None:
        return StageUpdate(theta, velocity, base, np.zeros_like(live))
    effects = np.where(live, model.effects(), 0.0)
    utility = Utility(effects, base.counts, base.spread, base.recorded)
    target = masked_softmax(effects, live, temperature)
    theta, velocity = _momentum(theta, velocity, target, live, base.recorded, momentum, normalization)
    protected = np.zeros_like(live)
    best = joint.incumbent(model, live)
    if best is not None:
        active = space.active_mask(best)
        protected[np.flatnonzero(active), np.asarray(best)[active]] = True
    return StageUpdate(theta, velocity, utility, protected, best)


def joint_answer(space: SearchSpace, record: PerformanceRecord, live: np.ndarray,
                 higher_is_better: bool) -> tuple[Architecture, dict] | None:
    """The default preset's answer: the exact argmax of the model's estimate over the whole space (``live`` is
    not a constraint of the answer; kept for the signature)."""
    return joint.answer(joint.ModelCache(space, higher_is_better), record)
