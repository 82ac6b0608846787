"""Efficient Network Generation (Sec. 3.3): the best expected architecture under any budgets."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ddp_core.distribution import CategoricalDistribution
from ddp_core.solver import InfeasibleBudgetError, solve_groups
from ddp_core.space import Architecture, CostTable, SearchSpace

Constraint = Callable[[Architecture], bool]


@dataclass
class GenerationResult:
    """One ENG answer: the architecture, its expectation (Eq. 9) and every cost."""

    architecture: Architecture
    expectation: float
    costs: dict[str, float]
    budgets: dict[str, float] = field(default_factory=dict)
    described: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "architecture": list(self.architecture),
            "described": self.described,
            "expectation": self.expectation,
            "costs": self.costs,
            "budgets": self.budgets,
        }


def expectation(space: SearchSpace, theta: np.ndarray | CategoricalDistribution, architecture: Sequence[int]) -> float:
    """E[α] = mean over active decisions of θ[e, α_e] (Eq. 9)."""
    theta = theta.theta if isinstance(theta, CategoricalDistribution) else np.asarray(theta)
    active = space.active_mask(architecture)
    cols = np.asarray(architecture)[active]
    return float(theta[np.flatnonzero(active), cols].mean())


def evaluate_costs(space: SearchSpace, costs: Mapping[str, CostTable], architecture: Sequence[int]) -> dict[str, float]:
    return {name: table(space, architecture) for name, table in costs.items()}


def _controller_assignments(space: SearchSpace, allowed: np.ndarray) -> list[dict[int, int]]:
    controllers = space.controllers
    options = [np.flatnonzero(allowed[c]).tolist() for c in controllers]
    return [dict(zip(controllers, combo, strict=True)) for combo in itertools.product(*options)]


def _solve_one(
    space: SearchSpace,
    theta: np.ndarray,
    allowed: np.ndarray,
    tables: Sequence[CostTable],
    budgets: np.ndarray,
    constraints: Sequence[Constraint],
) -> tuple[Architecture, float]:
    names = [t.name for t in tables]
    matrices = [t.matrix(space) for t in tables]
    fixed = np.array([t.fixed for t in tables])
    best: tuple[Architecture, float] | None = None
    base = np.argmax(np.where(allowed, theta, -np.inf), axis=1)
    for assignment in _controller_assignments(space, allowed):
        architecture = base.copy()
        for c, k in assignment.items():
            architecture[c] = k
        active = space.active_mask(tuple(architecture))
        count = int(active.sum())
        free = [e for e in range(space.num_decisions) if active[e] and e not in assignment]
        spent = fixed + np.array([sum(m[c, k] for c, k in assignment.items()) for m in matrices]) if tables else fixed
        start = sum(theta[c, k] for c, k in assignment.items()) / count
        options = [np.flatnonzero(allowed[e]) for e in free]
        group_values = [theta[e, opts] / count for e, opts in zip(free, options, strict=True)]
        group_costs = [
            np.stack([m[e, opts] for m in matrices], axis=1) if tables else np.zeros((len(opts), 0))
            for e, opts in zip(free, options, strict=True)
        ]

        def accept(picked: tuple[int, ...], free=free, options=options, architecture=architecture) -> bool:
            candidate = architecture.copy()
            for e, opts, i in zip(free, options, picked, strict=True):
                candidate[e] = opts[i]
            return all(check(tuple(int(k) for k in candidate)) for check in constraints)

        try:
            picked, value = solve_groups(
                group_values, group_costs, budgets - spent, names, accept if constraints else None
            )
        except InfeasibleBudgetError:
            continue
        for e, opts, i in zip(free, options, picked, strict=True):
            architecture[e] = opts[i]
        value += start
        if best is None or value > best[1] + 1e-12:
            best = (tuple(int(k) for k in architecture), float(value))
    if best is None:
        raise InfeasibleBudgetError(
            "no architecture meets all budgets together ("
            + ", ".join(f"{n} <= {b:g}" for n, b in zip(names, budgets, strict=True))
            + "); each is reachable alone, so relax one of them"
        )
    return best


def _cheapest_per_assignment(space: SearchSpace, allowed: np.ndarray, table: CostTable) -> list[Architecture]:
    matrix = np.where(allowed, table.matrix(space), np.inf)
    cheapest = np.argmin(matrix, axis=1)
    out = []
    for assignment in _controller_assignments(space, allowed):
        architecture = cheapest.copy()
        for c, k in assignment.items():
            architecture[c] = k
        out.append(tuple(int(k) for k in architecture))
    return out


def generate(
    space: SearchSpace,
    distribution: CategoricalDistribution,
    costs: Mapping[str, CostTable] | None = None,
    budgets: Mapping[str, float] | Sequence[Mapping[str, float]] | None = None,
    *,
    live_only: bool = True,
    constraints: Sequence[Constraint] = (),
) -> GenerationResult | list[GenerationResult]:
    """α* = argmax E[α] subject to every budget (Eq. 10), exactly.

    Parameters
    ----------
    space, distribution : the search space and the searched θ
    costs : additive cost tables by name (``"flops_m"``, ``"params_m"``, ``"latency_ms"``)
    budgets : one mapping name -> upper bound, or a list of them (answered in one call)
    live_only : search the pruned space (default) or the full one (pruned candidates then count with the θ
        they had when pruned)
    constraints : extra predicates on a whole architecture (non-additive constraints)

    Returns
    -------
    GenerationResult, or a list of them when ``budgets`` is a list.

    Raises
    ------
    InfeasibleBudgetError
        Naming the smallest achievable cost.
    """
    costs = dict(costs or {})
    for table in costs.values():
        table.check(space)
    many = isinstance(budgets, Sequence) and not isinstance(budgets, Mapping)
    budget_list = list(budgets) if many else [dict(budgets or {})]
    allowed = distribution.live.copy() if live_only else space.full_mask()
    theta = distribution.generation_theta(live_only)
    results = []
    for budget in budget_list:
        unknown = set(budget) - set(costs)
        if unknown:
            raise KeyError(f"budgets name unknown costs {sorted(unknown)}; known: {sorted(costs)}")
        tables = [costs[name] for name in budget]
        bounds = np.array([float(budget[name]) for name in budget])
        for table, bound in zip(tables, bounds, strict=True):
            smallest = min(table(space, a) for a in _cheapest_per_assignment(space, allowed, table))
            if bound < smallest - 1e-9 * max(1.0, abs(smallest)):
                raise InfeasibleBudgetError(
                    f"no architecture has {table.name} <= {bound:g}: the smallest achievable {table.name} is "
                    f"{smallest:g}; raise the budget to at least that"
                )
        architecture, value = _solve_one(space, theta, allowed, tables, bounds, constraints)
        results.append(
            GenerationResult(
                architecture,
                expectation(space, theta, architecture),
                evaluate_costs(space, costs, architecture),
                {k: float(v) for k, v in budget.items()},
                space.describe(architecture),
            )
        )
    return results if many else results[0]


def pareto_front(
    space: SearchSpace,
    distribution: CategoricalDistribution,
    costs: Mapping[str, CostTable],
    cost_name: str,
    budgets: Sequence[float] | None = None,
    *,
    points: int = 50,
    live_only: bool = True,
    fixed_budgets: Mapping[str, float] | None = None,
) -> list[GenerationResult]:
    """Best expectation over a sweep of ``cost_name`` budgets, deduplicated, ascending in cost.

    Without ``budgets``, ``points`` budgets evenly spaced from the cheapest to the most expensive
    architecture of the (pruned) space are used. ``fixed_budgets`` holds other constraints fixed.
    """
    if cost_name not in costs:
        raise KeyError(f"unknown cost {cost_name!r}; known: {sorted(costs)}")
    allowed = distribution.live if live_only else space.full_mask()
    table = costs[cost_name]
    if budgets is None:
        low = min(table(space, a) for a in _cheapest_per_assignment(space, allowed, table))
        negative = CostTable(table.name, -table.fixed, [-row for row in table.per_candidate])
        high = -min(negative(space, a) for a in _cheapest_per_assignment(space, allowed, negative))
        budgets = np.linspace(low, high, points)
    requests = [{**dict(fixed_budgets or {}), cost_name: float(b)} for b in budgets]
    answers = generate(space, distribution, costs, requests, live_only=live_only)
    front: dict[Architecture, GenerationResult] = {}
    for answer in answers:
        front.setdefault(answer.architecture, answer)
    return sorted(front.values(), key=lambda r: r.costs[cost_name])
