"""Upper bounds for the group knapsack of ENG: suffix Pareto frontiers, plain and Lagrangian.

For groups g..G-1 and one cost column, the frontier lists (cost, best total value) pairs: the best value any
completion reaches within a budget left for that cost. With one budget it is the exact answer. With several,

- the frontier of each budget alone (the others dropped) is an upper bound, weak when two budgets bind;
- a Lagrangian frontier keeps budget j exactly and moves the others into the values, ``value - λ·cost``,
  then adds ``λ·(budget left)``: for any λ >= 0 an upper bound (weak duality), close to the true best for
  the right λ. A geometric grid of λ per kept budget is built once per problem, shared by all rows;
  every family bounds every partial choice (a deep node's best λ can be far from the root's), the family
  best at the root first, as a cheap first cut.

Frontiers with more than ``cap`` points are coarsened by rounding costs *down* onto a grid: a relaxation, so
they stay upper bounds (and the caller learns that the frontier is no longer exact).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PRODUCT_CAP = 1 << 20  # points of one frontier merge before the frontier is coarsened to fit
# Multiples of each pair's natural exchange rate. Five (1/4 to 4) build the bounds at half the cost of eleven
# (1/64 to 16) and bounded as well on random 28 x 8 / 50 x 8 / 100 x 16 instances (benchmarks/core_engine.py);
# 1 alone, or a sparse wide grid, let some instances take minutes.
LAMBDA_GRID = 2.0 ** np.arange(-2.0, 2.01)


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


def multiplier_grid(others: int) -> np.ndarray:
    """λ vectors (multiples of each column's natural exchange rate) for ``others`` penalised columns: the whole
    grid for one, a coarse product grid for two (a family ignoring the third budget is weak), and one column
    at a time plus a common multiple for more."""
    if others == 0:
        return np.zeros((0, 0))
    if others == 1:
        return LAMBDA_GRID[:, None]
    if others == 2:
        coarse = np.r_[0.0, LAMBDA_GRID[::2]]
        grid = np.array(np.meshgrid(coarse, coarse, indexing="ij")).reshape(2, -1).T
        return grid[grid.any(axis=1)]
    single = [np.eye(others)[b] * lam for b in range(others) for lam in LAMBDA_GRID]
    return np.array(single + [np.ones(others) * lam for lam in LAMBDA_GRID])


@dataclass
class FrontierStack:
    """Frontier families stacked per level, so one searchsorted looks all of them up.

    Family f keeps column ``kept[f]`` exactly and adds ``lam[f] @ left`` (``lam[f] = 0``: a plain frontier).
    Columns are positions in a row's budgeted columns.
    """

    keys: list[np.ndarray]  # per level: family f's costs - base[f] + f * span, concatenated (sorted)
    vals: list[np.ndarray]
    base: list[np.ndarray]  # per level (F,)
    starts: list[np.ndarray]  # per level (F,)
    span: list[float]
    kept: np.ndarray  # (F,)
    lam: np.ndarray  # (F, A) multipliers, 0 for the kept column

    @classmethod
    def build(cls, values: list[np.ndarray], costs: list[np.ndarray], columns: tuple[int, ...],
              plain: list[tuple[list, list]], cap: int) -> FrontierStack:
        """Plain frontiers ``plain`` of ``columns`` plus Lagrangian families keeping each column in turn."""
        frontiers, kept, lams = [], [], []
        spread = sum(np.ptp(v) for v in values)
        cost_spread = np.array([sum(np.ptp(c[:, k]) for c in costs) for k in columns])
        # a column whose cost never varies needs no multiplier (and a huge one would swamp the values)
        rate = np.where(cost_spread > 0, spread / np.maximum(cost_spread, 1e-300), 0.0)
        for a, j in enumerate(columns):
            frontiers.append(plain[a])
            kept.append(a), lams.append(np.zeros(len(columns)))
            others = [b for b in range(len(columns)) if b != a]
            for multiples in multiplier_grid(len(others)) if spread > 0 else []:
                lam = np.zeros(len(columns))
                lam[others] = multiples * rate[others]
                if not lam.any():
                    continue
                shifted = [v - c[:, list(columns)] @ lam for v, c in zip(values, costs, strict=True)]
                frontiers.append(suffix_frontiers(shifted, [c[:, j] for c in costs], cap)[:2])
                kept.append(a), lams.append(lam)
        keys, vals, base, starts, spans = [], [], [], [], []
        for g in range(len(values) + 1):
            fc = [f[0][g] for f in frontiers]
            span = max(c[-1] - c[0] for c in fc) * (1 + 1e-6) + 1.0
            keys.append(np.concatenate([c - c[0] + f * span for f, c in enumerate(fc)]))
            vals.append(np.concatenate([f[1][g] for f in frontiers]))
            base.append(np.array([c[0] for c in fc]))
            starts.append(np.cumsum([0] + [len(c) for c in fc[:-1]]))
            spans.append(span)
        return cls(keys, vals, base, starts, spans, np.array(kept), np.array(lams).reshape(len(kept), len(columns)))

    def each(self, g: int, left: np.ndarray, families: np.ndarray) -> np.ndarray:
        """Bounds of groups g.. by some families, for each row of ``left`` (n, A): the same families for every
        row (F,), or one set per row (n, F); returns (n, F)."""
        if families.ndim == 1:
            kept, penalty = left[:, self.kept[families]], left @ self.lam[families].T
        else:
            kept = np.take_along_axis(left, self.kept[families], axis=1)
            penalty = np.einsum("na,nfa->nf", left, self.lam[families])
        q = np.clip(kept - self.base[g][families], -1.0, self.span[g] - 1.0) + families * self.span[g]
        idx = self.keys[g].searchsorted(q, side="right") - 1
        bound = self.vals[g][np.maximum(idx, 0)] + penalty
        bound[idx < self.starts[g][families]] = -np.inf
        return bound

    def best_at_root(self, left: np.ndarray) -> np.ndarray:
        """Per row of root budgets ``left`` (n, A), the family that bounds it best, (n, 1)."""
        return np.argmin(self.each(0, left, np.arange(len(self.kept))), axis=1)[:, None]
