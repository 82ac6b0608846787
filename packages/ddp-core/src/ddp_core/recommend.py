"""The recommended network for every budget: the exact argmax of the search's model of quality.

The objective is the search's best estimate of quality (:class:`ddp_core.quality.QualityModel`): for an
architecture the search evaluated, the model-adjusted estimate (prediction plus a share of its own residual);
for any other architecture of the space, the model's prediction, which has additive and pairwise terms. Under
every budget (any number of additive costs, plus optional counting constraints such as the DARTS rule "two
inputs per node") the answer is

    argmax( max over evaluated feasible architectures of their estimate,
            max over the other feasible architectures of the prediction ),

so it is never worse, by the search's own estimate, than the best evaluated network that meets the budget; an
unevaluated optimum is recommended only when its prediction minus one predictive standard deviation
(:data:`MODEL_MARGIN_SDS`) still beats the best evaluated estimate, else that evaluated network is (the argmax
of thousands of predictions is optimistic: on the budgeted benchmarks, 60 seeds, the gate halved the budgets
where the pick lost to the search's own best evaluated network in most seeds).
The first part is a vectorised scan. The second is a depth-first branch and bound over the decisions whose
bound is exact for the assigned part and, for the rest, adds each decision's best conditional value, half of
the best interaction with every other unassigned decision, and a Lagrangian term per budget (the value of the
relaxed knapsack at several multipliers, the smallest kept). Conditional decisions (BERT layers under depth)
are handled by enumerating the controllers' values.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ddp_core.count_bound import CountBound
from ddp_core.space import Architecture, CostTable, SearchSpace


@dataclass(frozen=True)
class CountConstraint:
    """Among ``decisions``, the number that take a candidate in ``candidates`` (per decision, an index set) must
    lie in [minimum, maximum]. The DARTS rule is one per node: its incoming edges, the non-``none`` ops, 2..2."""

    decisions: tuple[int, ...]
    candidates: tuple[tuple[int, ...], ...]
    minimum: int
    maximum: int


@dataclass
class Maximum:
    architecture: Architecture | None
    value: float
    proven: bool
    nodes: int


class _Problem:
    """One controller assignment: free decisions in branching order with their options laid out contiguously."""

    def __init__(self, free: list[int], options: list[np.ndarray], unary: list[np.ndarray], pair: np.ndarray,
                 costs: np.ndarray, constant: float, fixed_cost: np.ndarray, base: np.ndarray,
                 counts: list[tuple[np.ndarray, np.ndarray, int, int]]) -> None:
        self.free, self.options, self.base = free, options, base
        self.starts = np.concatenate([[0], np.cumsum([len(o) for o in options])]).astype(np.int64)
        self.value = np.concatenate(unary) if unary else np.zeros(0)
        self.pair = pair  # (O, O) over the laid-out options
        self.costs = costs  # (O, C)
        self.constant, self.fixed_cost = constant, fixed_cost
        depth = len(free)
        block_of = np.repeat(np.arange(depth), np.diff(self.starts))
        self.block_of = block_of
        # best[o, d]: the best interaction of option o with decision d
        best = np.zeros((len(self.value), depth))
        for d in range(depth):
            block = self.pair[:, self.starts[d]:self.starts[d + 1]]
            if block.shape[1]:
                best[:, d] = block.max(axis=1)
        best[np.arange(len(self.value)), block_of] = 0.0
        # half[t][o]: half the best interactions of option o with the decisions at positions >= t
        suffix = np.cumsum(best[:, ::-1], axis=1)[:, ::-1]
        self.half = 0.5 * np.hstack([suffix, np.zeros((len(self.value), 1))]).T  # (depth + 1, O)
        own = np.zeros_like(self.costs)
        for d in range(depth):
            block = slice(self.starts[d], self.starts[d + 1])
            if self.starts[d + 1] > self.starts[d]:
                own[block] = self.costs[block].min(axis=0)
        self.excess = self.costs - own  # (O, C): what an option costs above its decision's cheapest
        mins = np.array([self.costs[self.starts[d]:self.starts[d + 1]].min(axis=0) if len(options[d]) else
                         np.zeros(self.costs.shape[1]) for d in range(depth)]).reshape(depth, -1)
        self.suffix_min = np.vstack([np.cumsum(mins[::-1], axis=0)[::-1], np.zeros((1, self.costs.shape[1]))])
        self.counts = counts  # (positions mask over depth, counted-option mask over O, min, max)


def _build_problems(space: SearchSpace, unary: np.ndarray, pair: np.ndarray, encoded_offsets: np.ndarray,
                    allowed: np.ndarray, tables: Sequence[CostTable],
                    count_constraints: Sequence[CountConstraint]) -> list[_Problem]:
    controllers = list(space.controllers)
    matrices = [t.matrix(space) for t in tables]
    fixed = np.array([t.fixed for t in tables], dtype=np.float64)
    sizes = np.asarray(space.sizes)
    problems = []
    for combo in itertools.product(*[np.flatnonzero(allowed[c]).tolist() for c in controllers]):
        assignment = dict(zip(controllers, combo, strict=True))
        base = np.argmax(allowed, axis=1)
        for c, k in assignment.items():
            base[c] = k
        active = space.active_mask(tuple(int(k) for k in base))
        # encoded value of every decision that is not branched on: controllers and inactive decisions
        fixed_encoded = {c: int(encoded_offsets[c] + k) for c, k in assignment.items()}
        for e in range(space.num_decisions):
            if not active[e]:
                fixed_encoded[e] = int(encoded_offsets[e] + sizes[e])  # the "inactive" value
        free = [e for e in range(space.num_decisions) if active[e] and e not in assignment]
        # branch on decisions with the widest spread of values first (better bounds sooner)
        spreads = [np.ptp(unary[encoded_offsets[e] + np.flatnonzero(allowed[e])]) if allowed[e].any() else 0.0
                   for e in free]
        free = [free[i] for i in np.argsort(-np.asarray(spreads), kind="stable")]
        options = [np.flatnonzero(allowed[e]) for e in free]
        ids = np.concatenate([encoded_offsets[e] + o for e, o in zip(free, options, strict=True)]) if free else \
            np.zeros(0, dtype=np.int64)
        fixed_ids = np.array(sorted(fixed_encoded.values()), dtype=np.int64)
        constant = float(unary[fixed_ids].sum() + np.triu(pair[np.ix_(fixed_ids, fixed_ids)], 1).sum())
        values = unary[ids] + pair[np.ix_(ids, fixed_ids)].sum(axis=1)
        starts = np.concatenate([[0], np.cumsum([len(o) for o in options])])
        per_decision = [values[starts[i]:starts[i + 1]] for i in range(len(free))]
        cost = np.zeros((len(ids), len(tables)))
        for j, m in enumerate(matrices):
            cost[:, j] = np.concatenate([m[e, o] for e, o in zip(free, options, strict=True)]) if free else []
        spent = fixed + np.array([sum(m[c, k] for c, k in assignment.items()) for m in matrices]).reshape(-1)
        position = {e: i for i, e in enumerate(free)}
        counts = []
        for constraint in count_constraints:
            fixed_count = sum(1 for e, cands in zip(constraint.decisions, constraint.candidates, strict=True)
                              if e not in position and active[e] and base[e] in cands)
            if any(e in assignment for e in constraint.decisions):
                raise ValueError("a count constraint cannot include a controller decision")
            mask_positions = np.zeros(len(free), dtype=bool)
            counted = np.zeros(len(ids), dtype=bool)
            for e, cands in zip(constraint.decisions, constraint.candidates, strict=True):
                if e in position:
                    i = position[e]
                    mask_positions[i] = True
                    counted[starts[i]:starts[i + 1]] = np.isin(options[i], cands)
            counts.append((mask_positions, counted, constraint.minimum - fixed_count,
                           constraint.maximum - fixed_count))
        problems.append(_Problem(free, options, per_decision, pair[np.ix_(ids, ids)], cost, constant, spent, base,
                                 counts))
    return problems


def _lambda_grid(problem: _Problem, num_costs: int) -> np.ndarray:
    """Multipliers (L, C): zero, and per cost a geometric sweep scaled by value range over cost range."""
    rows = [np.zeros(num_costs)]
    if len(problem.value) and num_costs:
        span = float(np.ptp(problem.value)) + float(np.abs(problem.pair).max(initial=0.0)) * 2 + 1e-12
        for j in range(num_costs):
            cost_span = float(np.ptp(problem.costs[:, j])) or 1.0
            for factor in (0.03, 0.1, 0.3, 1.0, 3.0, 10.0):
                row = np.zeros(num_costs)
                row[j] = factor * span / cost_span
                rows.append(row)
    return np.array(rows)


def _maximise(problem: _Problem, budget: np.ndarray, lower: float, deadline: float | None,
              exclude, to_architecture, canonical, node_limit: int = 2_000_000) -> Maximum:
    """Depth-first branch and bound; ``lower``: a value to beat (the best evaluated estimate)."""
    depth = len(problem.free)
    room = budget - problem.fixed_cost
    if np.any(problem.suffix_min[0] > room + 1e-9):
        return Maximum(None, -np.inf, True, 0)
    lambdas = _lambda_grid(problem, len(budget))
    finite = np.isfinite(budget)
    lambdas = lambdas[:, :] * finite[None, :]
    penalties = lambdas @ problem.costs.T if len(budget) else np.zeros((1, len(problem.value)))  # (L, O)
    best = {"value": lower, "choice": None, "nodes": 0, "stopped": False}
    starts = problem.starts
    reduce_at = starts[:-1]
    counts = problem.counts
    counting = CountBound(problem.value, problem.costs, starts, counts, depth)

    def bound(t: int, g: np.ndarray, left: np.ndarray, used: list[int], prune_at: float = -np.inf) -> float:
        """An upper bound on the tail's value; the multipliers stop once it is at most ``prune_at``."""
        if t == depth:
            return 0.0
        tail = g[starts[t]:] + problem.half[t][starts[t]:]
        # options that cannot fit with the cheapest rest are out of the bound
        fits = np.all(problem.excess[starts[t]:] + problem.suffix_min[t] <= left + 1e-9, axis=1)
        tail = np.where(fits, tail, -np.inf)
        relaxed = tail[None, :] - penalties[:, starts[t]:]
        at = reduce_at[t:] - starts[t]
        totals = counting.evaluate(relaxed, at, t, used)
        if totals is None:
            return -np.inf
        if counts and not counting.cheapest_fits(t, fits, at, used, left):
            return -np.inf
        slack = lambdas @ np.where(np.isfinite(left), left, 0.0)
        totals = totals + slack
        value = float(totals.min())
        if not (counting.others and np.isfinite(value)) or value <= prune_at + 1e-12:
            return value
        return counting.with_multipliers(relaxed, at, t, used, slack, value, prune_at)

    def allowed_at(t: int, used: list[int]) -> np.ndarray | None:
        """Option mask of position t under the count constraints (None: no restriction)."""
        mask = None
        for (positions, counted, low, high), have in zip(counts, used, strict=True):
            if not positions[t]:
                continue
            remaining = int(positions[t:].sum())
            block = counted[starts[t]:starts[t + 1]]
            if have >= high:
                restrict = ~block
            elif have + remaining <= low:
                restrict = block
            else:
                continue
            mask = restrict if mask is None else mask & restrict
        return mask

    choice = [0] * depth

    def visit(t: int, g: np.ndarray, value: float, left: np.ndarray, used: list[int]) -> None:
        best["nodes"] += 1
        if best["stopped"]:
            return
        if best["nodes"] % 256 == 0 and deadline is not None and time.perf_counter() > deadline:
            best["stopped"] = True
            return
        if best["nodes"] > node_limit:
            best["stopped"] = True
            return
        if t == depth:
            total = value + problem.constant
            if total > best["value"] + 1e-12:
                architecture = to_architecture(problem, choice)
                if canonical(architecture) not in exclude:
                    best["value"], best["choice"] = total, architecture
            return
        prune_at = best["value"] - value - problem.constant
        if value + problem.constant + bound(t, g, left, used, prune_at) <= best["value"] + 1e-12:
            return
        lo, hi = starts[t], starts[t + 1]
        local = g[lo:hi]
        order = np.argsort(-(local + problem.half[t + 1][lo:hi]), kind="stable")
        mask = allowed_at(t, used)
        for i in order:
            if mask is not None and not mask[i]:
                continue
            o = lo + int(i)
            cost = problem.costs[o]
            rest = left - cost
            if np.any(rest < problem.suffix_min[t + 1] - 1e-9):
                continue
            choice[t] = int(i)
            new_used = [u + int(counted[o]) for (_, counted, _, _), u in zip(counts, used, strict=True)]
            if any(u > high for (_, _, _, high), u in zip(counts, new_used, strict=True)):
                continue
            visit(t + 1, g + problem.pair[o], value + float(local[i]), rest, new_used)
            if best["stopped"]:
                return

    visit(0, problem.value.copy(), 0.0, room, [0] * len(counts))
    return Maximum(best["choice"], float(best["value"]), not best["stopped"], best["nodes"])


def maximise_pairwise(space: SearchSpace, unary: np.ndarray, pair: np.ndarray, encoded_offsets: np.ndarray,
                      costs: Mapping[str, CostTable], budgets: Sequence[Mapping[str, float]], *,
                      allowed: np.ndarray | None = None, count_constraints: Sequence[CountConstraint] = (),
                      lower: Sequence[float] | None = None, exclude: set[Architecture] | None = None,
                      time_limit_s: float | None = 60.0, node_limit: int = 2_000_000) -> list[Maximum]:
    """Exact argmax of a pairwise objective over the (allowed) space under each budget of ``budgets``.

    ``time_limit_s`` / ``node_limit`` (per controller assignment): past either, the best found (not proven).

    ``lower[r]``: only architectures strictly better than it are returned for budget r (None when none is).
    ``exclude``: networks never returned (the evaluated ones, scored separately by their estimates), as
    canonical tuples: every inactive decision reads as its extra value ``sizes[e]``.
    """
    allowed = space.full_mask() if allowed is None else np.asarray(allowed, dtype=bool)
    names = list(costs)
    tables = [costs[n] for n in names]
    problems = _build_problems(space, unary, pair, encoded_offsets, allowed, tables, count_constraints)
    exclude = exclude or set()
    deadline = None if time_limit_s is None else time.perf_counter() + time_limit_s

    def to_architecture(problem: _Problem, choice: list[int]) -> Architecture:
        architecture = problem.base.copy()
        for e, options, i in zip(problem.free, problem.options, choice, strict=True):
            architecture[e] = options[i]
        return tuple(int(k) for k in architecture)

    sizes = np.asarray(space.sizes)

    def canonical(architecture: Architecture) -> Architecture:
        if not space.controllers:
            return architecture
        active = space.active_mask(architecture)
        return tuple(int(k) if a else int(s) for k, a, s in zip(architecture, active, sizes, strict=True))

    out = []
    for r, budget in enumerate(budgets):
        row = np.array([float(budget.get(n, np.inf)) for n in names])
        best = Maximum(None, -np.inf if lower is None else float(lower[r]), True, 0)
        for problem in problems:
            found = _maximise(problem, row, best.value, deadline, exclude, to_architecture, canonical, node_limit)
            proven = best.proven and found.proven
            if found.architecture is not None and found.value > best.value:
                best = Maximum(found.architecture, found.value, proven, best.nodes + found.nodes)
            else:
                best = Maximum(best.architecture, best.value, proven, best.nodes + found.nodes)
        out.append(best)
    return out


def _evaluated_costs(space: SearchSpace, tables: Sequence[CostTable], architectures: np.ndarray,
                     active: np.ndarray) -> np.ndarray:
    """(D, C) costs of many architectures at once (fixed part included)."""
    out = np.zeros((len(architectures), len(tables)))
    rows = np.arange(space.num_decisions)[None, :]
    for j, table in enumerate(tables):
        matrix = table.matrix(space)
        out[:, j] = table.fixed + np.where(active, matrix[rows, architectures], 0.0).sum(axis=1)
    return out


def _count_ok(constraint: CountConstraint, architectures: np.ndarray, active: np.ndarray) -> np.ndarray:
    count = np.zeros(len(architectures), dtype=np.int64)
    for e, cands in zip(constraint.decisions, constraint.candidates, strict=True):
        count += (np.isin(architectures[:, e], cands) & active[:, e]).astype(np.int64)
    return (count >= constraint.minimum) & (count <= constraint.maximum)


def obeys_all(constraints: Sequence[CountConstraint], architectures: np.ndarray, active: np.ndarray) -> np.ndarray:
    """(N,) whether each architecture meets every count constraint (``active``: its active-decision mask)."""
    ok = np.ones(len(architectures), dtype=bool)
    for constraint in constraints:
        ok &= _count_ok(constraint, architectures, active)
    return ok


@dataclass
class Recommendation:
    """Per budget: the recommended architecture, its estimate (normal-score units; higher is better), where it
    comes from (``"evaluated"`` or ``"model"``), and the best evaluated architecture that meets the budget."""

    architecture: Architecture | None
    estimate: float
    source: str
    proven_optimal: bool
    best_evaluated: Architecture | None
    best_evaluated_estimate: float
    times_evaluated: int
    nodes: int


MODEL_MARGIN_SDS = 1.0  # an unevaluated optimum must beat the best evaluated estimate by this many predictive sds


def _clearly_better(model, maximum: Maximum, best_value: float) -> bool:
    """Whether the model's unevaluated optimum beats the best evaluated network's estimate by
    :data:`MODEL_MARGIN_SDS` of its predictive standard deviation: the interaction part's posterior plus the
    per-architecture effects the model cannot see (``s_distinct``), both unknown for a network never scored."""
    if MODEL_MARGIN_SDS <= 0:
        return True
    _, sd = model.predict([maximum.architecture], return_std=True)
    spread = float(np.sqrt(float(sd[0]) ** 2 + float(model.s_distinct)))
    return maximum.value - MODEL_MARGIN_SDS * spread > best_value


def recommend(space: SearchSpace, model, costs: Mapping[str, CostTable], budgets: Sequence[Mapping[str, float]], *,
              allowed: np.ndarray | None = None, count_constraints: Sequence[CountConstraint] = (),
              constraints: Sequence = (), time_limit_s: float | None = 60.0) -> list[Recommendation]:
    """The argmax of the search's estimate under each budget (see the module docstring).

    ``model`` is a fitted :class:`ddp_core.quality.QualityModel`; ``constraints`` are extra predicates on whole
    architectures, checked on candidates (an answer failing one is replaced by the next best found).
    """
    names = list(costs)
    tables = [costs[n] for n in names]
    allowed = space.full_mask() if allowed is None else np.asarray(allowed, dtype=bool)
    keys, estimates, counts = model.estimates()
    archs = np.asarray(keys, dtype=np.int64).reshape(len(keys), space.num_decisions)
    active = model.active(archs) if len(keys) else np.zeros((0, space.num_decisions), dtype=bool)
    inside = np.all(~active | allowed[np.arange(space.num_decisions)[None, :], archs], axis=1) if len(keys) else \
        np.zeros(0, dtype=bool)
    inside &= obeys_all(count_constraints, archs, active)
    if constraints and len(keys):
        inside &= np.array([all(check(k) for check in constraints) for k in keys], dtype=bool)
    spent = _evaluated_costs(space, tables, archs, active)
    lower, evaluated_best = [], []
    for budget in budgets:
        row = np.array([float(budget.get(n, np.inf)) for n in names])
        feasible = inside & np.all(spent <= row[None, :] + 1e-9, axis=1)
        if feasible.any():
            i = int(np.flatnonzero(feasible)[np.argmax(estimates[feasible])])
            lower.append(float(estimates[i]))
            evaluated_best.append(i)
        else:
            lower.append(-np.inf)
            evaluated_best.append(None)
    unary, pair = model.pairwise()
    exclude = model.canonical  # every evaluated network (no copy)
    found = maximise_pairwise(space, unary, pair, model.encoded_offsets, costs, budgets, allowed=allowed,
                              count_constraints=count_constraints, lower=lower, exclude=exclude,
                              time_limit_s=time_limit_s)
    out = []
    for r, maximum in enumerate(found):
        i = evaluated_best[r]
        best_arch = keys[i] if i is not None else None
        best_value = float(estimates[i]) if i is not None else float("-inf")
        times = int(counts[i]) if i is not None else 0
        architecture, source = best_arch, "evaluated"
        if maximum.architecture is not None and (not constraints or all(c(maximum.architecture) for c in constraints)) \
                and (i is None or _clearly_better(model, maximum, best_value)):
            architecture, source, times = maximum.architecture, "model", 0
        value = maximum.value if source == "model" else best_value
        out.append(Recommendation(architecture, value, source, maximum.proven, best_arch, best_value, times,
                                  maximum.nodes))
    return out
