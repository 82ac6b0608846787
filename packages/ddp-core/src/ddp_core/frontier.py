"""Upper bounds for the group knapsack of ENG: exact suffix Pareto frontiers of one cost column.

For groups g..G-1 and one cost column, the frontier lists (cost, best total value) pairs: the best value any
completion reaches within a budget left for that cost. With one budget it is the exact answer (a walk down the
frontiers); with one budget and a predicate on whole choices it bounds the branch and bound. Several budgets
are bounded by Lagrangian relaxation instead (:mod:`ddp_core.lagrangian`).

Frontiers with more than ``cap`` points are coarsened by rounding costs *down* onto a grid: a relaxation, so
they stay upper bounds (and the caller learns that the frontier is no longer exact).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PRODUCT_CAP = 1 << 20  # points of one frontier merge before the frontier is coarsened to fit


def pareto(costs: np.ndarray, values: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Frontier of (cost, value) points: costs ascending, values strictly increasing; False when coarsened."""
    order = np.lexsort((-values, costs))
    costs, values = costs[order], values[order]
    running = np.maximum.accumulate(values)
    keep = np.empty(len(values), dtype=bool)
    keep[0] = True
    keep[1:] = running[1:] > running[:-1]
    costs, values = costs[keep], running[keep]
    if len(costs) <= cap:
        return costs, values, True
    return (*coarsen(costs, values, cap), False)


def coarsen(costs: np.ndarray, values: np.ndarray, points: int) -> tuple[np.ndarray, np.ndarray]:
    """Round frontier costs down onto a grid of ``points`` cells: a relaxation, so still an upper bound."""
    step = (costs[-1] - costs[0]) / max(points, 1)
    if step <= 0 or len(costs) <= points:
        return costs, values
    bucket = np.floor((costs - costs[0]) / step)
    last = np.r_[bucket[1:] != bucket[:-1], True]
    return costs[0] + bucket[last] * step, values[last]


def suffix_frontiers(values: list[np.ndarray], column: list[np.ndarray], cap: int) -> tuple[list, list, bool]:
    """For g = 0..G, the frontier of groups g.. in one cost column; True when no frontier was coarsened."""
    groups = len(values)
    costs_out, values_out = [np.zeros(0)] * (groups + 1), [np.zeros(0)] * (groups + 1)
    costs_out[groups], values_out[groups] = np.zeros(1), np.zeros(1)
    exact = True
    for g in range(groups - 1, -1, -1):
        own_c, own_v, ok = pareto(column[g], values[g], cap)  # only a group's own frontier points can be optimal
        next_c, next_v = costs_out[g + 1], values_out[g + 1]
        if len(next_c) * len(own_c) > PRODUCT_CAP:
            next_c, next_v = coarsen(next_c, next_v, PRODUCT_CAP // len(own_c))
            ok = False
        merged = pareto((next_c[:, None] + own_c[None, :]).ravel(), (next_v[:, None] + own_v[None, :]).ravel(), cap)
        costs_out[g], values_out[g] = merged[0], merged[1]
        exact = exact and ok and merged[2]
    return costs_out, values_out, exact


@dataclass
class FrontierStack:
    """Frontiers of one or more columns stacked per level, so one searchsorted looks all of them up.

    Family f is the frontier of column ``kept[f]`` (a position in a row's budgeted columns).
    """

    keys: list[np.ndarray]  # per level: family f's costs - base[f] + f * span, concatenated (sorted)
    vals: list[np.ndarray]
    base: list[np.ndarray]  # per level (F,)
    starts: list[np.ndarray]  # per level (F,)
    span: list[float]
    kept: np.ndarray  # (F,)

    @classmethod
    def build(cls, groups: int, plain: list[tuple[list, list]]) -> FrontierStack:
        """Stack the suffix frontiers ``plain`` (one per budgeted column) of a problem with ``groups`` groups."""
        keys, vals, base, starts, spans = [], [], [], [], []
        for g in range(groups + 1):
            fc = [f[0][g] for f in plain]
            span = max(c[-1] - c[0] for c in fc) * (1 + 1e-6) + 1.0
            keys.append(np.concatenate([c - c[0] + f * span for f, c in enumerate(fc)]))
            vals.append(np.concatenate([f[1][g] for f in plain]))
            base.append(np.array([c[0] for c in fc]))
            starts.append(np.cumsum([0] + [len(c) for c in fc[:-1]]))
            spans.append(span)
        return cls(keys, vals, base, starts, spans, np.arange(len(plain)))

    def each(self, g: int, left: np.ndarray, families: np.ndarray) -> np.ndarray:
        """Bounds of groups g.. by some families, for each row of ``left`` (n, A): the same families for every
        row (F,), or one set per row (n, F); returns (n, F)."""
        if families.ndim == 1:
            kept = left[:, self.kept[families]]
        else:
            kept = np.take_along_axis(left, self.kept[families], axis=1)
        q = np.clip(kept - self.base[g][families], -1.0, self.span[g] - 1.0) + families * self.span[g]
        idx = self.keys[g].searchsorted(q, side="right") - 1
        bound = self.vals[g][np.maximum(idx, 0)]
        bound[idx < self.starts[g][families]] = -np.inf
        return bound

    def best_at_root(self, left: np.ndarray) -> np.ndarray:
        """Per row of root budgets ``left`` (n, A), the family that bounds it best, (n, 1)."""
        return np.argmin(self.each(0, left, np.arange(len(self.kept))), axis=1)[:, None]
