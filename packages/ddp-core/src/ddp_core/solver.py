"""Exact maximisation of a sum of per-group values under several additive budgets.

Each group picks one option; option i of group g has value ``values[g][i]`` and costs ``costs[g][i, j]``.
The solver is a depth-first branch and bound whose bound is, per constraint, the Pareto frontier
(cost, best value) of the remaining groups: an exact upper bound on what the rest can add within the budget
left. Frontiers that grow too large are coarsened by rounding costs *down* to a grid, which relaxes the
constraint and so keeps the bound valid; the answer stays exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

FRONTIER_CAP = 4096
TOLERANCE = 1e-9


class InfeasibleBudgetError(ValueError):
    """No architecture meets the budgets; the message names the smallest achievable cost."""


def _pareto(costs: np.ndarray, values: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """Frontier of (cost, value) points: costs ascending, values strictly increasing."""
    order = np.lexsort((-values, costs))
    costs, values = costs[order], values[order]
    running = np.maximum.accumulate(values)
    keep = np.empty(len(values), dtype=bool)
    keep[0] = True
    keep[1:] = running[1:] > running[:-1]
    costs, values = costs[keep], running[keep]
    if len(costs) > cap:
        # round costs down onto a grid: a relaxation, so the frontier stays an upper bound
        step = (costs[-1] - costs[0]) / cap
        bucket = np.floor((costs - costs[0]) / step)
        last = np.r_[bucket[1:] != bucket[:-1], True]
        costs, values = costs[0] + bucket[last] * step, values[last]
    return costs, values


@dataclass
class _Bound:
    """Per constraint and group g, the frontier of groups g..G-1."""

    costs: list[list[np.ndarray]]
    values: list[list[np.ndarray]]
    free: np.ndarray  # suffix sum of best values, no constraint

    def upper(self, g: int, remaining: np.ndarray) -> np.ndarray:
        """Upper bounds for a batch of remaining budgets, shape (n, J) -> (n,)."""
        best = np.full(remaining.shape[0], self.free[g])
        for j in range(remaining.shape[1]):
            costs = self.costs[j][g]
            idx = costs.searchsorted(remaining[:, j] + TOLERANCE, side="right") - 1
            bound = self.values[j][g][np.maximum(idx, 0)]
            bound[idx < 0] = -np.inf
            np.minimum(best, bound, out=best)
        return best


_BOUND_CACHE: dict[bytes, _Bound] = {}


def _cached_suffix_bounds(values: list[np.ndarray], costs: list[np.ndarray], cap: int) -> _Bound:
    """Suffix frontiers depend on the groups only, not the budgets: many budgets share one computation."""
    key = b"|".join([v.tobytes() for v in values] + [c.tobytes() + bytes(c.shape) for c in costs]) + bytes([cap % 256])
    bound = _BOUND_CACHE.get(key)
    if bound is None:
        if len(_BOUND_CACHE) >= 16:
            _BOUND_CACHE.pop(next(iter(_BOUND_CACHE)))
        bound = _BOUND_CACHE[key] = _suffix_bounds(values, costs, cap)
    return bound


def _suffix_bounds(values: list[np.ndarray], costs: list[np.ndarray], cap: int) -> _Bound:
    groups, constraints = len(values), costs[0].shape[1]
    free = np.zeros(groups + 1)
    for g in range(groups - 1, -1, -1):
        free[g] = free[g + 1] + values[g].max()
    frontier_costs: list[list[np.ndarray]] = []
    frontier_values: list[list[np.ndarray]] = []
    for j in range(constraints):
        fc: list[np.ndarray] = [np.zeros(0)] * (groups + 1)
        fv: list[np.ndarray] = [np.zeros(0)] * (groups + 1)
        fc[groups], fv[groups] = np.zeros(1), np.zeros(1)
        for g in range(groups - 1, -1, -1):
            merged_costs = (fc[g + 1][:, None] + costs[g][None, :, j]).ravel()
            merged_values = (fv[g + 1][:, None] + values[g][None, :]).ravel()
            fc[g], fv[g] = _pareto(merged_costs, merged_values, cap)
        frontier_costs.append(fc)
        frontier_values.append(fv)
    return _Bound(frontier_costs, frontier_values, free)


def check_budgets(
    costs: Sequence[np.ndarray], budgets: np.ndarray, names: Sequence[str], offset: np.ndarray | None = None
) -> None:
    """Raise InfeasibleBudgetError if a budget is below the smallest cost reachable for that constraint alone."""
    offset = np.zeros(len(budgets)) if offset is None else offset
    smallest = offset + sum(c.min(axis=0) for c in costs) if costs else offset
    for j, name in enumerate(names):
        if budgets[j] < smallest[j] - TOLERANCE * max(1.0, abs(smallest[j])):
            raise InfeasibleBudgetError(
                f"no architecture has {name} <= {budgets[j]:g}: the smallest achievable {name} is "
                f"{smallest[j]:g}; raise the budget to at least that"
            )


def solve_groups(
    values: Sequence[Sequence[float]],
    costs: Sequence[np.ndarray],
    budgets: Sequence[float],
    names: Sequence[str] | None = None,
    accept: Callable[[tuple[int, ...]], bool] | None = None,
    cap: int = FRONTIER_CAP,
) -> tuple[tuple[int, ...], float]:
    """Pick one option per group maximising the total value with ``sum of costs <= budgets``.

    Parameters
    ----------
    values : per group, the value of each option
    costs : per group, an (n_options, n_constraints) array
    budgets : (n_constraints,) upper bounds
    names : constraint names for error messages
    accept : optional extra feasibility test of a complete choice (non-additive constraints)

    Returns
    -------
    (choice, value) : the option index per group and the best total value

    Raises
    ------
    InfeasibleBudgetError
        If no choice meets every budget (and ``accept``).
    """
    budgets = np.asarray(budgets, dtype=np.float64).reshape(-1)
    vals = [np.asarray(v, dtype=np.float64).reshape(-1) for v in values]
    cost = [np.asarray(c, dtype=np.float64).reshape(len(v), -1) for c, v in zip(costs, vals, strict=True)]
    names = list(names) if names is not None else [f"cost{j}" for j in range(len(budgets))]
    if any(len(v) == 0 for v in vals):
        raise ValueError("every group needs at least one option")
    if not vals:
        return (), 0.0
    if len(budgets) == 0:
        cost = [np.zeros((len(v), 1)) for v in vals]
        budgets = np.array([np.inf])
        names = ["(none)"]
    if any(c.shape[1] != len(budgets) for c in cost):
        raise ValueError("every cost array needs one column per budget")
    check_budgets(cost, budgets, names)
    finite = np.where(np.isfinite(budgets), budgets, 0.0)
    bound = _cached_suffix_bounds(vals, [np.where(np.isfinite(budgets), c, 0.0) for c in cost], cap)
    order = [np.argsort(-v, kind="stable") for v in vals]
    # per group, options sorted by value with their (budget-masked) costs: precomputed once
    ordered_values = [vals[g][order[g]] for g in range(len(vals))]
    ordered_costs = [np.where(np.isfinite(budgets), cost[g][order[g]], 0.0) for g in range(len(vals))]
    slack = -TOLERANCE * np.maximum(1.0, np.abs(finite))
    groups = len(vals)
    best_value = -np.inf
    best_choice: tuple[int, ...] | None = None
    choice = [0] * groups

    def search(g: int, value: float, remaining: np.ndarray) -> None:
        nonlocal best_value, best_choice
        left = remaining - ordered_costs[g]
        feasible = (left >= slack).all(axis=1)
        upper = value + ordered_values[g] + bound.upper(g + 1, left)
        for i in np.nonzero(feasible & (upper > best_value + TOLERANCE))[0]:
            if upper[i] <= best_value + TOLERANCE:
                continue
            choice[g] = int(order[g][i])
            total = value + ordered_values[g][i]
            if g + 1 == groups:
                picked = tuple(choice)
                if accept is None or accept(picked):
                    best_value, best_choice = total, picked
            else:
                search(g + 1, total, left[i])

    search(0, 0.0, finite)
    if best_choice is None:
        raise InfeasibleBudgetError(
            "no architecture meets all budgets together ("
            + ", ".join(f"{n} <= {b:g}" for n, b in zip(names, budgets, strict=True))
            + "); each is reachable alone, so relax one of them"
        )
    return best_choice, float(best_value)
