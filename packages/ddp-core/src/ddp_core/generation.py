"""Efficient Network Generation (Sec. 3.3): the best expected architecture under any budgets."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ddp_core.distribution import CategoricalDistribution
from ddp_core.solver import GroupProblem, InfeasibleBudgetError, infeasible_message
from ddp_core.space import Architecture, CostTable, SearchSpace

Constraint = Callable[[Architecture], bool]


@dataclass
class GenerationResult:
    """One ENG answer: the architecture, its expectation (Eq. 9) and every cost.

    ``proven_optimal`` is False when the time limit ran out first: the architecture meets every budget and is
    the best one found, but a better one may exist.
    """

    architecture: Architecture
    expectation: float
    costs: dict[str, float]
    budgets: dict[str, float] = field(default_factory=dict)
    described: dict[str, str] = field(default_factory=dict)
    proven_optimal: bool = True
    # Set by the recommended-network ENG (ddp_core.eng): the model's estimate (normal-score units), where the
    # answer comes from ("model", "evaluated" or "theta"), the estimate on the scores' scale, one line on how it
    # was chosen, and the alternatives (the best evaluated network under the budget).
    estimate: float | None = None
    source: str = "theta"
    predicted_score: float | None = None
    how: str = ""
    alternatives: dict[str, Any] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        return True

    def to_dict(self) -> dict[str, Any]:
        out = {
            "architecture": list(self.architecture),
            "described": self.described,
            "expectation": self.expectation,
            "costs": self.costs,
            "budgets": self.budgets,
            "proven_optimal": self.proven_optimal,
            "source": self.source,
            "how": self.how,
        }
        if self.estimate is not None:
            out.update(estimate=self.estimate, predicted_score=self.predicted_score, alternatives=self.alternatives)
        return out


@dataclass
class InfeasibleBudget:
    """A budget of a list that no architecture meets (``generate(..., on_infeasible="report")``).

    ``smallest[name]``: the smallest achievable value of that cost (fixed part included) among architectures
    that meet the other budgets of this request, or among all architectures when none meets those; None when
    the extra ``constraints`` reject every candidate, or when the time limit ran out (``proven`` is then False).
    """

    budgets: dict[str, float]
    message: str
    smallest: dict[str, float | None]
    proven: bool = True

    @property
    def feasible(self) -> bool:
        return False

    def to_dict(self) -> dict[str, Any]:
        return {"budgets": self.budgets, "infeasible": True, "message": self.message, "smallest": self.smallest,
                "proven": self.proven}


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


def _assignment_problems(space: SearchSpace, theta: np.ndarray, allowed: np.ndarray, tables: Sequence[CostTable],
                         constraints: Sequence[Constraint]) -> list[tuple[np.ndarray, list[int], list, float, GroupProblem]]:
    """One group problem per assignment of the controllers (the decisions others depend on).

    Each free active decision is a group; its values are θ / (number of active decisions), so a choice's total
    value plus the assignment's share is the expectation (Eq. 9); the assignment's costs join the fixed part.
    """
    names = [t.name for t in tables]
    matrices = [t.matrix(space) for t in tables]
    fixed = np.array([t.fixed for t in tables])
    base = np.argmax(np.where(allowed, theta, -np.inf), axis=1)
    out = []
    for assignment in _controller_assignments(space, allowed):
        architecture = base.copy()
        for c, k in assignment.items():
            architecture[c] = k
        active = space.active_mask(tuple(architecture))
        count = int(active.sum())
        free = [e for e in range(space.num_decisions) if active[e] and e not in assignment]
        spent = fixed + np.array([sum(m[c, k] for c, k in assignment.items()) for m in matrices]).reshape(len(tables))
        start = sum(theta[c, k] for c, k in assignment.items()) / count
        options = [np.flatnonzero(allowed[e]) for e in free]
        group_values = [theta[e, opts] / count for e, opts in zip(free, options, strict=True)]
        group_costs = [np.stack([m[e, opts] for m in matrices], axis=1) if tables else np.zeros((len(opts), 0))
                       for e, opts in zip(free, options, strict=True)]

        def accept(picked: tuple[int, ...], free=free, options=options, architecture=architecture) -> bool:
            candidate = architecture.copy()
            for e, opts, i in zip(free, options, picked, strict=True):
                candidate[e] = opts[i]
            return all(check(tuple(int(k) for k in candidate)) for check in constraints)

        problem = GroupProblem(group_values, group_costs, names, spent, accept if constraints else None)
        out.append((architecture, free, options, start, problem))
    return out


def _budget_rows(budget_list: Sequence[Mapping[str, float]], costs: Mapping[str, CostTable]) -> tuple[list[str], np.ndarray]:
    """The budgeted cost names (in ``costs`` order) and one row of bounds per request (inf = not budgeted)."""
    for budget in budget_list:
        unknown = set(budget) - set(costs)
        if unknown:
            raise KeyError(f"budgets name unknown costs {sorted(unknown)}; known: {sorted(costs)}")
        for name, value in budget.items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"budget {name}={value!r} is not a number; give an upper bound such as 400") from None
            if not np.isfinite(number):
                raise ValueError(f"budget {name}={value!r} is not a finite number; give a finite upper bound")
    names = [name for name in costs if any(name in budget for budget in budget_list)]
    rows = np.array([[float(budget[n]) if n in budget else np.inf for n in names] for budget in budget_list])
    return names, rows.reshape(len(budget_list), len(names))


def prepare_request(space: SearchSpace, costs: Mapping[str, CostTable] | None, budgets, on_infeasible: str):
    """Checked inputs of an ENG call: (costs, budget list, whether a list was given, budgeted names, rows)."""
    if on_infeasible not in ("raise", "report"):
        raise ValueError(f"on_infeasible must be 'raise' or 'report', got {on_infeasible!r}")
    costs = dict(costs or {})
    for table in costs.values():
        table.check(space)
    many = isinstance(budgets, Sequence) and not isinstance(budgets, Mapping)
    budget_list = [dict(b) for b in budgets] if many else [dict(budgets or {})]  # type: ignore[union-attr]
    names, rows = _budget_rows(budget_list, costs)
    return costs, budget_list, many, names, rows


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
    on_infeasible: str = "raise",
    time_limit_s: float | None = 60.0,
) -> GenerationResult | list[GenerationResult | InfeasibleBudget]:
    """α* = argmax E[α] subject to every budget (Eq. 10), exactly.

    Parameters
    ----------
    space, distribution : the search space and the searched θ
    costs : additive cost tables by name (``"flops_m"``, ``"params_m"``, ``"latency_ms"``)
    budgets : one mapping name -> upper bound, or a list of them (answered in one call, sharing the work)
    live_only : search the pruned space (default) or the full one (pruned candidates then count with the θ
        they had when pruned)
    constraints : extra predicates on a whole architecture (non-additive constraints)
    on_infeasible : for a list of budgets, ``"raise"`` (default) raises at the first budget no architecture
        meets; ``"report"`` puts an :class:`InfeasibleBudget` (message, smallest achievable costs) in its place
        and answers the others. A single budget mapping always raises.
    time_limit_s : wall-clock limit of the whole call (None: none). Answers not proven optimal by then are the
        best found so far, with ``proven_optimal=False``.

    Returns
    -------
    GenerationResult, or a list with one entry per budget when ``budgets`` is a list.

    Raises
    ------
    InfeasibleBudgetError
        Naming the smallest achievable cost (fixed part included).
    """
    costs, budget_list, many, names, rows = prepare_request(space, costs, budgets, on_infeasible)
    allowed = distribution.live.copy() if live_only else space.full_mask()
    theta = distribution.generation_theta(live_only)
    problems = _assignment_problems(space, theta, allowed, [costs[n] for n in names], constraints)
    limit = None if time_limit_s is None else time_limit_s / len(problems)
    solved = [problem.solve_many(rows, limit) for *_, problem in problems]
    results: list[GenerationResult | InfeasibleBudget] = []
    for r, budget in enumerate(budget_list):
        answers = [per_problem[r] for per_problem in solved]
        proven = all(a.proven_optimal for a in answers)
        feasible = [(a.value + start, a, architecture, free, options)
                    for a, (architecture, free, options, start, _) in zip(answers, problems, strict=True) if a.feasible]
        if not feasible:
            entry = _infeasible_entry(names, rows[r], budget, answers, proven)
            if on_infeasible == "raise" or not many:
                raise InfeasibleBudgetError(entry.message)
            results.append(entry)
            continue
        _, answer, architecture, free, options = max(feasible, key=lambda item: item[0])
        architecture = architecture.copy()
        for e, opts, i in zip(free, options, answer.choice, strict=True):
            architecture[e] = opts[i]
        chosen = tuple(int(k) for k in architecture)
        results.append(GenerationResult(chosen, expectation(space, theta, chosen), evaluate_costs(space, costs, chosen),
                                        {k: float(v) for k, v in budget.items()}, space.describe(chosen), proven))
    return results if many else results[0]  # type: ignore[return-value]


def _infeasible_entry(names: list[str], row: np.ndarray, budget: Mapping[str, float], answers: list,
                      proven: bool) -> InfeasibleBudget:
    """Smallest achievable costs over every controller assignment, and the one-line message."""
    if not proven:
        undecided = next(a for a in answers if not a.proven_optimal)
        return InfeasibleBudget({k: float(v) for k, v in budget.items()}, undecided.message,
                                {n: None for n in budget}, False)
    values, alone = np.stack([a.smallest for a in answers]), np.stack([a.smallest_alone for a in answers])
    # an assignment where the other budgets can be met says more than one where cost j is only on its own
    with_others = np.where(alone, np.inf, values).min(axis=0)
    on_its_own = np.where(alone, values, np.inf).min(axis=0)
    alone_only = ~np.isfinite(with_others) & np.isfinite(on_its_own)
    smallest = np.where(alone_only, on_its_own, with_others)
    message = infeasible_message(names, row, smallest, alone_only)
    return InfeasibleBudget({k: float(v) for k, v in budget.items()}, message,
                            {n: float(smallest[j]) if np.isfinite(smallest[j]) else None
                             for j, n in enumerate(names) if n in budget})


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
    answers = generate(space, distribution, costs, requests, live_only=live_only, on_infeasible="report")
    front: dict[Architecture, GenerationResult] = {}
    for answer in answers:
        if isinstance(answer, GenerationResult):  # budgets below what fixed_budgets allow are skipped
            front.setdefault(answer.architecture, answer)
    return sorted(front.values(), key=lambda r: r.costs[cost_name])
