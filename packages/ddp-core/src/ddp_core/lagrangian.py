"""Lagrangian bounds and first answers for the group knapsack with several budgets (ENG's engine).

Moving the budgets into the values gives, for any multipliers λ >= 0, an upper bound on the best choice that
costs one maximum per group (weak duality):

    L(λ) = Σ_g max_i (v_gi - λ·c_gi) + λ·b.

- **The dual.** λ minimising L, by projected subgradient steps (Polyak's step towards the best answer known,
  each budget scaled to 1), for every budget row at once. L below the smallest total value any choice has
  proves a row infeasible.
- **A first answer.** The Lagrangian choice at the best λ, repaired greedily until it meets the budgets (the
  swap that removes the most excess per value lost), then improved by single swaps that stay within them.
- **Bounds of partial choices.** With budget ``left`` after groups 0..g-1, the suffix sum of the per-group
  maxima plus λ·left bounds every completion; the minimum over a few multiples of the dual λ (a node deep in
  the search may want another λ than the root) costs O(families) per node, with nothing rebuilt.
- **Reduced costs.** ``max_g - (v_gi - λ·c_gi)`` is what choosing option i costs the bound: options whose
  reduced cost exceeds the gap between the bound and the best answer cannot improve on it, and the search
  branches first on the groups with the fewest options left.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

DUAL_STEPS = 60  # subgradient steps; the bound after them is within a few tenths of a percent of the dual's
# Multiples of the dual λ, per budget, for the bounds of partial choices, by the number of budgets (a product
# grid: 9, 25 and 27 families). Measured on random 100 x 16 instances: [0.5, 1, 2] for two budgets let single
# requests take 4-8x the median; one budget wants a fine grid near 1.
MULTIPLES = {1: np.array([1.0, 0.5, 0.7, 0.85, 0.95, 1.05, 1.15, 1.4, 2.0]),
             2: np.array([0.6, 0.8, 1.0, 1.25, 1.6]),
             3: np.array([0.7, 1.0, 1.4])}


def padded(values: Sequence[np.ndarray], costs: Sequence[np.ndarray], cols: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """(G, K) values with -inf where a group has fewer options, and (G, K, budgets) costs (0 there)."""
    width = max(len(v) for v in values)
    table = np.full((len(values), width), -np.inf)
    spend = np.zeros((len(values), width, len(cols)))
    for g, (v, c) in enumerate(zip(values, costs, strict=True)):
        table[g, :len(v)] = v
        spend[g, :len(v)] = c[:, cols]
    return table, spend


def dual(table: np.ndarray, spend: np.ndarray, limit: np.ndarray,
         steps: int = DUAL_STEPS) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per row of ``limit`` (R, B): (λ (R, B), bound L(λ) (R,), best feasible Lagrangian choice (R, G) and its
    value (R,), -inf where none was met)."""
    rows, groups = len(limit), len(table)
    finite = np.isfinite(table)
    spread = float(np.sum(table.max(axis=1) - np.where(finite, table, np.inf).min(axis=1)))
    lowest = float(np.where(finite, table, np.inf).min(axis=1).sum())  # no choice is worth less
    cost_spread = (np.where(finite[..., None], spend, -np.inf).max(axis=1)
                   - np.where(finite[..., None], spend, np.inf).min(axis=1)).sum(axis=0)  # (B,)
    scale = np.maximum(np.maximum(np.abs(limit), cost_spread[None, :] / groups), 1e-300)
    # scaled multipliers ν = λ · scale, starting at the exchange rate of value for (scaled) cost
    nu = np.where(cost_spread[None, :] > 0, spread / np.maximum(cost_spread[None, :] / scale, 1e-300), 0.0)
    nu = nu / limit.shape[1]
    best_bound, best_lam = np.full(rows, np.inf), nu / scale
    known, known_picks = np.full(rows, -np.inf), np.zeros((rows, groups), dtype=np.int64)
    step_size, stall = np.full(rows, 2.0), np.zeros(rows, dtype=np.int64)
    at = np.arange(groups)[None, :]
    flat_spend = spend.reshape(-1, spend.shape[2])
    everywhere = np.arange(rows)[:, None]
    for _ in range(steps):
        lam = nu / scale
        reduced = table[None] - (flat_spend @ lam.T).T.reshape(rows, groups, -1)
        picks = reduced.argmax(axis=2)
        bound = reduced[everywhere, at, picks].sum(axis=1) + (lam * limit).sum(axis=1)
        spent = spend[at, picks].sum(axis=1)
        value = table[at, picks].sum(axis=1)
        met = np.all(spent <= limit, axis=1) & (value > known)
        if met.any():
            known[met], known_picks[met] = value[met], picks[met]
        better = bound < best_bound
        best_bound[better], best_lam[better] = bound[better], lam[better]
        stall = np.where(better, 0, stall + 1)
        step_size[stall >= 4] /= 2
        stall[stall >= 4] = 0
        if np.all((step_size < 1e-3) | (best_bound - known <= 1e-9 * spread) | (best_bound < lowest - spread)):
            break  # converged, the bound is met by a known choice, or the row is proven infeasible
        slope = (limit - spent) / scale
        slope[(nu <= 0) & (slope > 0)] = 0.0  # projected: a multiplier at 0 whose budget is slack stays there
        target = np.where(np.isfinite(known), known, best_bound - 0.02 * spread)
        move = step_size * np.maximum(bound - target, 1e-9 * spread) / np.maximum((slope * slope).sum(axis=1), 1e-300)
        nu = np.maximum(nu - move[:, None] * slope, 0.0)
    return best_lam, best_bound, known_picks, known


def repair(table: np.ndarray, spend: np.ndarray, limit: np.ndarray, picks: np.ndarray) -> np.ndarray | None:
    """A choice meeting ``limit`` (B,) from ``picks`` (G,): greedy swaps out of the excess, then single swaps
    that raise the value within the budgets; None when the greedy repair gets stuck."""
    groups, width = table.shape
    at = np.arange(groups)
    finite = np.isfinite(table)
    scale = np.maximum(np.abs(limit), 1e-300)
    picks = picks.copy()
    spent = spend[at, picks].sum(axis=0)
    tiny = 1e-12 * (1.0 + float(np.abs(table[finite]).max()))
    for _ in range(4 * groups + 1):
        excess = np.maximum(spent - limit, 0.0) / scale
        if not excess.any():
            break
        delta_v = table - table[at, picks][:, None]
        delta_c = spend - spend[at, picks][:, None, :]
        removed = excess.sum() - (np.maximum(spent + delta_c - limit, 0.0) / scale).sum(axis=2)
        ratio = np.where(finite & (removed > 1e-15), removed / np.maximum(-delta_v, tiny), -np.inf)
        flat = int(np.argmax(ratio))
        if not np.isfinite(ratio.flat[flat]):
            return None
        g, k = divmod(flat, width)
        spent, picks[g] = spent + delta_c[g, k], k
    if np.any(spent > limit):
        return None
    for _ in range(4 * groups):
        delta_v = table - table[at, picks][:, None]
        delta_c = spend - spend[at, picks][:, None, :]
        ok = finite & (delta_v > 0) & np.all(spent + delta_c <= limit, axis=2)
        if not ok.any():
            break
        flat = int(np.argmax(np.where(ok, delta_v, -np.inf)))
        g, k = divmod(flat, width)
        spent, picks[g] = spent + delta_c[g, k], k
    return picks


def families(lam: np.ndarray) -> np.ndarray:
    """(R, B) dual multipliers -> (R, F, B), the dual λ itself first: every product of :data:`MULTIPLES` for up
    to 3 budgets, one budget at a time beyond (F = 1 + 2B)."""
    budgets = lam.shape[1]
    if budgets in MULTIPLES:
        grid = np.array(list(itertools.product(MULTIPLES[budgets], repeat=budgets)))
        grid = grid[np.argsort(~np.all(grid == 1.0, axis=1), kind="stable")]  # the dual λ itself first
    else:
        grid = np.ones((1 + 2 * budgets, budgets))
        for b in range(budgets):
            grid[1 + 2 * b, b], grid[2 + 2 * b, b] = MULTIPLES[3][0], MULTIPLES[3][-1]
    return lam[:, None, :] * grid[None, :, :]


def suffix_maxima(table: np.ndarray, spend: np.ndarray, lams: np.ndarray) -> np.ndarray:
    """(R, F, G + 1): for each family, Σ over groups g.. of max_i (v_gi - λ·c_gi)."""
    best = np.empty(lams.shape[:2] + (len(table),))
    for f in range(lams.shape[1]):  # one family at a time: (R, G, K) at most in memory
        best[:, f] = (table[None] - np.einsum("gkb,rb->rgk", spend, lams[:, f])).max(axis=2)
    suffix = np.cumsum(best[:, :, ::-1], axis=2)[:, :, ::-1]
    return np.concatenate([suffix, np.zeros(suffix.shape[:2] + (1,))], axis=2)


def reduced_costs(table: np.ndarray, spend: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """(R, G, K): what each option costs the bound L(λ) of its row (inf for padding)."""
    reduced = table[None] - np.einsum("gkb,rb->rgk", spend, lam)
    return reduced.max(axis=2, keepdims=True) - reduced
