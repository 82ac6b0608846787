"""From θ to genotypes: the DARTS rule and exact Efficient Network Generation (ENG) over cell graphs.

A DARTS genotype keeps, for every intermediate node, two input edges from its predecessors, each with one
op (never ``none``). ENG (paper Sec. 3.3) picks the genotype of largest architecture expectation (mean θ of
the 16 kept (edge, op) pairs) subject to budgets:

- ``params_m``, ``flops_m``: the evaluation network's parameters / MACs in millions (additive per op, see
  :mod:`ddp_vision.darts.costs`);
- ``nonparam_ops``: the paper's N, non-parametric ops among a cell's kept edges. Two readings, both
  available: ``nonparam_rule="exactly"`` (default) is the authors' code (MAC-AutoML/XNAS
  ``network_generator.get_gene_with_skip_connection_constraints``: exactly N of the 8 kept edges take their
  best non-parametric op) and fits the paper's Table 4 (3.57 / 3.16 / 2.83M params for N = 2 / 4 / 6);
  ``"at_most"`` allows up to N. ``nonparam_cells="normal"`` (default, as the authors) constrains the normal
  cell only, the reduction cell then follows θ (the DARTS rule when no cost is budgeted); ``"both"``
  constrains each cell;
- ``cell_height``: at most this depth of *each* cell graph, counting kept edges on the longest path from the
  cell inputs to a node (the paper's H; 1 = every node reads only the cell inputs).

Exactness: each cell is one group of options of ``ddp_core``'s group-knapsack solver. Options are enumerated
once per call, per input structure (one pair of inputs per node) and, inside a structure, edge by edge,
discarding partial options that another one dominates (higher or equal θ, no higher params / FLOPs; with
"exactly", only among options with the same number of non-parametric ops so far); since every remaining
constraint is monotone in those quantities, no discarded option can be the unique optimum.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ddp_core import CostTable, InfeasibleBudgetError, SearchSpace
from ddp_core.generation import InfeasibleBudget
from ddp_core.solver import GroupProblem
from ddp_vision.darts.genotypes import Genotype, cell_edges, genotype_to_dict
from ddp_vision.darts.space import CELL_TYPES, decision_name
from ddp_vision.darts.structures import best_cell, node_options, pareto_mask

__all__ = ["BUDGET_KEYS", "NONPARAM_CELLS", "NONPARAM_RULES", "CellOptions", "EngAnswer", "darts_derivation",
           "enumerate_cell_options", "generate_genotypes"]

BUDGET_KEYS = ("params_m", "flops_m", "nonparam_ops", "cell_height")
NONPARAM_RULES = ("exactly", "at_most")
NONPARAM_CELLS = ("normal", "both")
_ADDITIVE = ("params_m", "flops_m")


def _edge_tables(space: SearchSpace, theta: np.ndarray, live: np.ndarray, cell: str, steps: int,
                 costs: Mapping[str, CostTable]) -> list[dict]:
    """Per edge of ``cell``: the usable ops (live, not ``none``) with θ, nonparam flag and additive costs."""
    out = []
    for edge in range(len(cell_edges(steps))):
        e = space.decision_index(decision_name(cell, edge))
        decision = space.decisions[e]
        ops = [k for k, c in enumerate(decision.candidates) if live[e, k] and c.name != "none"]
        if not ops:
            raise ValueError(f"edge {decision.name} has no live op other than none; a genotype cannot use it")
        out.append({
            "ops": np.array(ops),
            "theta": theta[e, ops].astype(np.float64),
            "nonparam": np.array([float("nonparam" in decision.candidates[k].tags) for k in ops]),
            "additive": np.array([[costs[n].per_candidate[e][k] for n in _ADDITIVE] for k in ops]).reshape(len(ops), 2),
        })
    return out


@dataclass
class CellOptions:
    """Every non-dominated genotype of one cell type: (input, op) per position, value and costs."""

    inputs: np.ndarray  # (n, 2 * steps) input state of each genotype position
    ops: np.ndarray  # (n, 2 * steps) candidate index of each position
    value: np.ndarray  # (n,) sum of θ over the kept edges
    additive: np.ndarray  # (n, 2) params_m, flops_m of the kept ops
    nonparam: np.ndarray  # (n,)
    height: np.ndarray  # (n,)


def enumerate_cell_options(edges: list[dict], steps: int, dims: Sequence[str], exact_count: bool = False) -> CellOptions:
    """Non-dominated options of one cell, tracking only the quantities in ``dims`` for dominance.

    ``exact_count``: the number of non-parametric ops is kept as it is (options are only compared with options
    of the same count), for "exactly N" budgets; otherwise ``"nonparam_ops"`` in ``dims`` treats it as a cost.
    """
    edge_index = {pair: e for e, pair in enumerate(cell_edges(steps))}
    use = [name in dims for name in _ADDITIVE] + [("nonparam_ops" in dims) and not exact_count]
    chunks = []

    def extend(state: tuple, e: int) -> tuple:
        value, extra, ops = state
        table = edges[e]
        edge_extra = np.concatenate([table["additive"], table["nonparam"][:, None]], axis=1)
        value = (value[:, None] + table["theta"][None, :]).ravel()
        extra = (extra[:, None, :] + edge_extra[None, :, :]).reshape(-1, 3)
        ops = np.concatenate([np.repeat(ops, len(table["ops"]), axis=0), np.tile(table["ops"], len(ops))[:, None]],
                             axis=1)
        keep = pareto_mask(value, extra[:, use], extra[:, 2] if exact_count else None)
        return value[keep], extra[keep], ops[keep]

    def visit(node: int, depth: list[int], inputs: list[int], state: tuple) -> None:
        """Input pairs node by node; structures sharing their first nodes share that partial enumeration."""
        if node == steps:
            value, extra, ops = state
            chunks.append((np.tile(inputs, (len(value), 1)), ops, value, extra, np.full(len(value), max(depth[2:]))))
            return
        for pair in itertools.combinations(range(node + 2), 2):
            extended = state
            for j in pair:
                extended = extend(extended, edge_index[(node, j)])
            visit(node + 1, [*depth, 1 + max(depth[j] for j in pair)], [*inputs, *pair], extended)

    visit(0, [0, 0], [], (np.zeros(1), np.zeros((1, 3)), np.zeros((1, 0), dtype=np.int64)))
    return CellOptions(
        inputs=np.concatenate([c[0] for c in chunks]), ops=np.concatenate([c[1] for c in chunks]),
        value=np.concatenate([c[2] for c in chunks]), additive=np.concatenate([c[3] for c in chunks])[:, :2],
        nonparam=np.concatenate([c[3] for c in chunks])[:, 2], height=np.concatenate([c[4] for c in chunks]),
    )


@dataclass
class EngAnswer:
    """One ENG answer: the genotype, its expectation and every cost.

    ``costs["nonparam_ops"]`` counts what the budget constrains: the normal cell's non-parametric ops with
    ``nonparam_cells="normal"``, the larger count of the two cells with ``"both"``; ``per_cell`` has both.
    """

    budgets: dict[str, float]
    genotype: Genotype
    expectation: float
    costs: dict[str, float]
    per_cell: dict[str, dict[str, float]] = field(default_factory=dict)
    proven_optimal: bool = True
    how: str = "Eq. 10 on θ under the DARTS rule: the genotype of highest mean θ over its kept (edge, op) pairs, exact"

    @property
    def feasible(self) -> bool:
        return True

    def to_dict(self) -> dict:
        from ddp_vision.darts.genotypes import format_genotype

        return {"budgets": self.budgets, "genotype": genotype_to_dict(self.genotype),
                "genotype_text": format_genotype(self.genotype), "expectation": self.expectation,
                "costs": self.costs, "per_cell": self.per_cell, "proven_optimal": self.proven_optimal,
                "source": "theta", "how": self.how}


def _names(space: SearchSpace, cell: str, ops_row: np.ndarray, inputs_row: np.ndarray, steps: int) -> list:
    edges = cell_edges(steps)
    pairs = []
    for position, (k, j) in enumerate(zip(ops_row, inputs_row, strict=True)):
        e = space.decision_index(decision_name(cell, edges.index((position // 2, int(j)))))
        pairs.append((space.decisions[e].candidates[int(k)].name, int(j)))
    return pairs


def _check_budgets(budgets: Sequence[Mapping[str, float]], steps: int, rule: str, cells: str) -> None:
    if rule not in NONPARAM_RULES:
        raise ValueError(f"nonparam_rule must be one of {', '.join(NONPARAM_RULES)}, got {rule!r}")
    if cells not in NONPARAM_CELLS:
        raise ValueError(f"nonparam_cells must be one of {', '.join(NONPARAM_CELLS)}, got {cells!r}")
    for budget in budgets:
        unknown = set(budget) - set(BUDGET_KEYS)
        if unknown:
            raise ValueError(f"unknown budget keys {sorted(unknown)}; use {', '.join(BUDGET_KEYS)}")
        for key, value in budget.items():
            if not np.isfinite(float(value)):
                raise ValueError(f"budget {key}={value} is not a finite number; give a finite upper bound")
        if "nonparam_ops" in budget and not 0 <= budget["nonparam_ops"] <= 2 * steps:
            raise ValueError(f"nonparam_ops={budget['nonparam_ops']:g}: a cell keeps {2 * steps} edges, so N must "
                             f"be between 0 and {2 * steps}")


def _cell_filter(options: CellOptions, cell: str, count: float | None, height: float | None, rule: str,
                 cells: str) -> tuple[np.ndarray, str | None, dict]:
    """Options of ``cell`` allowed by the non-additive budgets, or why none is (message, smallest values)."""
    allowed = np.ones(len(options.value), dtype=bool)
    if height is not None:
        allowed &= options.height <= height + 1e-9
        if not allowed.any():
            low = float(options.height.min())
            return allowed, (f"no {cell} cell has cell_height <= {height:g}: the smallest achievable cell_height "
                             f"is {low:g}; raise the budget to at least that"), {"cell_height": low}
    if count is not None and (cell == "normal" or cells == "both"):
        counts = options.nonparam[allowed]
        allowed &= (options.nonparam == count) if rule == "exactly" else (options.nonparam <= count + 1e-9)
        if not allowed.any():
            reach = f"{counts.min():g} to {counts.max():g}" if len(counts) else "none"
            condition = f" with cell_height <= {height:g}" if height is not None else ""
            word = "exactly" if rule == "exactly" else "at most"
            return allowed, (f"no {cell} cell has {word} {count:g} non-parametric ops{condition}: its live ops allow "
                             f"{reach}; choose N in that range"), {"nonparam_ops": float(counts.min()) if len(counts) else None}
    return allowed, None, {}


def generate_genotypes(
    space: SearchSpace,
    theta: np.ndarray,
    live: np.ndarray,
    costs: Mapping[str, CostTable],
    budgets: Sequence[Mapping[str, float]],
    steps: int = 4,
    *,
    nonparam_rule: str = "exactly",
    nonparam_cells: str = "normal",
    on_infeasible: str = "raise",
    time_limit_s: float | None = 60.0,
) -> list[EngAnswer | InfeasibleBudget]:
    """Exact ENG for each budget dict (keys from :data:`BUDGET_KEYS`; ``{}`` = no constraint), in one call.

    ``nonparam_rule`` / ``nonparam_cells``: how ``nonparam_ops`` reads (module docstring). ``on_infeasible``:
    ``"raise"`` raises :class:`InfeasibleBudgetError` at the first budget no genotype meets; ``"report"`` puts an
    ``InfeasibleBudget`` (message, smallest achievable values, fixed part included) in its place. Cell options
    are enumerated once per call. ``time_limit_s`` bounds the call; unproven answers carry
    ``proven_optimal=False``.
    """
    _check_budgets(budgets, steps, nonparam_rule, nonparam_cells)
    if on_infeasible not in ("raise", "report"):
        raise ValueError(f"on_infeasible must be 'raise' or 'report', got {on_infeasible!r}")
    deadline = None if time_limit_s is None else time.perf_counter() + time_limit_s
    theta = np.where(live, theta, 0.0)
    edges = {cell: _edge_tables(space, theta, live, cell, steps, costs) for cell in CELL_TYPES}
    fixed = np.array([costs[n].fixed for n in _ADDITIVE])
    answers: list[EngAnswer | InfeasibleBudget | None] = [None] * len(budgets)
    for i, budget in enumerate(budgets):  # no params / FLOPs budget: each cell alone, in closed form
        if not any(n in budget for n in _ADDITIVE):
            answers[i] = _answer_without_costs(space, edges, budget, fixed, steps, nonparam_rule, nonparam_cells)
    # The others (and infeasible ones, for their message), grouped by what they constrain: the cell options
    # track only those quantities, so a batch costs no more than its requests one by one.
    kinds: dict[tuple, list[int]] = {}
    for i, budget in enumerate(budgets):
        if answers[i] is None:
            key = (tuple(n for n in _ADDITIVE if n in budget), "nonparam_ops" in budget)
            kinds.setdefault(key, []).append(i)
    for (dims, counted), members in kinds.items():
        _solve_kind(space, edges, [budgets[i] for i in members], members, answers, dims, counted, fixed, steps,
                    nonparam_rule, nonparam_cells, deadline)
    for answer in answers:
        if isinstance(answer, InfeasibleBudget) and on_infeasible != "report":
            raise InfeasibleBudgetError(answer.message)
    return answers  # type: ignore[return-value]


def _solve_kind(space, edges, kind_budgets, members, answers, dims, counted, fixed, steps, nonparam_rule,
                nonparam_cells, deadline) -> None:
    """Cell options enumerated over ``dims`` (exactly), then one group problem per (N, H) signature; without
    N and H, one group per node instead (:func:`~ddp_vision.darts.structures.node_options`)."""
    plain = [i for i, b in zip(members, kind_budgets, strict=True) if "cell_height" not in b and not counted]
    if plain and dims:
        _solve_by_nodes(space, edges, {i: budgets for i, budgets in zip(members, kind_budgets, strict=True)
                                       if i in plain}, answers, dims, fixed, steps, nonparam_cells, deadline)
        kind_budgets = [b for i, b in zip(members, kind_budgets, strict=True) if i not in plain]
        members = [i for i in members if i not in plain]
        if not members:
            return
    options = {}
    for cell in CELL_TYPES:
        constrained = counted and (cell == "normal" or nonparam_cells == "both")
        cell_dims = dims + (("nonparam_ops",) if constrained and nonparam_rule == "at_most" else ())
        options[cell] = enumerate_cell_options(edges[cell], steps, cell_dims, constrained and nonparam_rule == "exactly")
    signatures: dict[tuple, list[int]] = {}
    for i, budget in zip(members, kind_budgets, strict=True):
        signatures.setdefault((budget.get("nonparam_ops"), budget.get("cell_height")), []).append(i)
    budgets = dict(zip(members, kind_budgets, strict=True))
    for (count, height), indices in signatures.items():
        groups, failure = {}, None
        for cell in CELL_TYPES:
            allowed, message, smallest = _cell_filter(options[cell], cell, count, height, nonparam_rule, nonparam_cells)
            index = np.flatnonzero(allowed)
            groups[cell] = index[pareto_mask(options[cell].value[index], options[cell].additive[index][:, [
                _ADDITIVE.index(n) for n in dims]])]
            failure = failure or (message and (message, smallest))
        if failure:
            for i in indices:
                answers[i] = InfeasibleBudget(dict(budgets[i]), failure[0], failure[1])
            continue
        problem = GroupProblem([options[c].value[groups[c]] for c in CELL_TYPES],
                               [options[c].additive[groups[c]] for c in CELL_TYPES], list(_ADDITIVE), fixed)
        rows = [[float(budgets[i].get(n, np.inf)) for n in _ADDITIVE] for i in indices]
        remaining = None if deadline is None else max(deadline - time.perf_counter(), 0.0)
        for i, solved in zip(indices, problem.solve_many(rows, remaining), strict=True):
            answers[i] = _answer(space, budgets[i], options, groups, solved, fixed, steps, nonparam_cells)


def _solve_by_nodes(space, edges, budgets, answers, dims, fixed, steps, nonparam_cells, deadline) -> None:
    """Additive budgets only: the 2 x steps nodes are the groups of one exact group-knapsack problem."""
    columns = [_ADDITIVE.index(n) for n in dims]
    nodes = {cell: node_options(edges[cell], steps, columns) for cell in CELL_TYPES}
    groups = [(cell, node) for cell in CELL_TYPES for node in range(steps)]
    problem = GroupProblem([nodes[c][n]["value"] for c, n in groups], [nodes[c][n]["additive"] for c, n in groups],
                           list(_ADDITIVE), fixed)
    indices = list(budgets)
    rows = [[float(budgets[i].get(n, np.inf)) for n in _ADDITIVE] for i in indices]
    remaining = None if deadline is None else max(deadline - time.perf_counter(), 0.0)
    for i, solved in zip(indices, problem.solve_many(rows, remaining), strict=True):
        if not solved.feasible:
            answers[i] = _answer(space, budgets[i], None, None, solved, fixed, steps, nonparam_cells)
            continue
        cells = {}
        for cell in CELL_TYPES:
            picked = [nodes[c][n] for (c, n), _ in zip(groups, solved.choice, strict=True) if c == cell]
            rows_of = [k for (c, _), k in zip(groups, solved.choice, strict=True) if c == cell]
            cells[cell] = (np.concatenate([p["ops"][k] for p, k in zip(picked, rows_of, strict=True)]),
                           np.concatenate([p["inputs"][k] for p, k in zip(picked, rows_of, strict=True)]))
        answers[i] = _answer_from_cells(space, edges, budgets[i], fixed, steps, nonparam_cells, cells,
                                        float(solved.value), solved.proven_optimal)


def _answer_without_costs(space, edges, budget, fixed, steps, rule, cells) -> EngAnswer | None:
    """The exact answer of a request without params / FLOPs budgets (:mod:`ddp_vision.darts.structures`), or
    None when a cell cannot meet it (the enumerating path then says why)."""
    count, height = budget.get("nonparam_ops"), budget.get("cell_height")
    chosen, total = {}, 0.0
    for cell in CELL_TYPES:
        constrained = count is not None and (cell == "normal" or cells == "both")
        found = best_cell(edges[cell], steps, count if constrained else None, height, rule)
        if found is None:
            return None
        total += found[0]
        chosen[cell] = found[1:]
    return _answer_from_cells(space, edges, budget, fixed, steps, cells, chosen, total, True)


def _answer_from_cells(space, edges, budget, fixed, steps, cells, chosen, total, proven) -> EngAnswer:
    """The answer of ``chosen[cell] = (op per position, input per position)`` with its costs and counts."""
    genotype_cells, cost_sum, per_cell = {}, fixed.copy(), {}
    for cell in CELL_TYPES:
        ops, inputs = chosen[cell]
        genotype_cells[cell] = _names(space, cell, ops, inputs, steps)
        nonparam, depth = 0, [0, 0]
        index = {pair: e for e, pair in enumerate(cell_edges(steps))}
        for position, (k, j) in enumerate(zip(ops, inputs, strict=True)):
            table = edges[cell][index[(position // 2, int(j))]]
            row = int(np.flatnonzero(table["ops"] == k)[0])
            cost_sum = cost_sum + table["additive"][row]
            nonparam += int(table["nonparam"][row])
        for node in range(steps):
            depth.append(1 + max(depth[int(j)] for j in inputs[2 * node:2 * node + 2]))
        per_cell[cell] = {"nonparam_ops": nonparam, "cell_height": max(depth[2:])}
    concat = list(range(2, steps + 2))
    genotype = Genotype(normal=genotype_cells["normal"], normal_concat=concat,
                        reduce=genotype_cells["reduce"], reduce_concat=concat)
    counted = per_cell["normal"]["nonparam_ops"] if cells == "normal" else max(
        c["nonparam_ops"] for c in per_cell.values())
    return EngAnswer(budgets=dict(budget), genotype=genotype, expectation=total / (4 * steps),
                     costs={"params_m": float(cost_sum[0]), "flops_m": float(cost_sum[1]), "nonparam_ops": counted,
                            "cell_height": max(c["cell_height"] for c in per_cell.values())},
                     per_cell=per_cell, proven_optimal=proven)


def _answer(space, budget, options, groups, solved, fixed, steps, nonparam_cells) -> EngAnswer | InfeasibleBudget:
    if not solved.feasible:
        smallest = {n: (float(solved.smallest[j]) if solved.smallest is not None and np.isfinite(solved.smallest[j])
                        else None) for j, n in enumerate(_ADDITIVE) if n in budget}
        return InfeasibleBudget(dict(budget), solved.message, smallest, solved.proven_optimal)
    genotype_cells, cost_sum, per_cell = {}, fixed.copy(), {}
    for cell, picked in zip(CELL_TYPES, solved.choice, strict=True):
        row = groups[cell][picked]
        genotype_cells[cell] = _names(space, cell, options[cell].ops[row], options[cell].inputs[row], steps)
        cost_sum = cost_sum + options[cell].additive[row]
        per_cell[cell] = {"nonparam_ops": int(options[cell].nonparam[row]), "cell_height": int(options[cell].height[row])}
    concat = list(range(2, steps + 2))
    genotype = Genotype(normal=genotype_cells["normal"], normal_concat=concat,
                        reduce=genotype_cells["reduce"], reduce_concat=concat)
    counted = per_cell["normal"]["nonparam_ops"] if nonparam_cells == "normal" else max(
        c["nonparam_ops"] for c in per_cell.values())
    return EngAnswer(
        budgets=dict(budget), genotype=genotype, expectation=float(solved.value) / (4 * steps),
        costs={"params_m": float(cost_sum[0]), "flops_m": float(cost_sum[1]), "nonparam_ops": counted,
               "cell_height": max(c["cell_height"] for c in per_cell.values())},
        per_cell=per_cell, proven_optimal=solved.proven_optimal,
    )


def darts_derivation(space: SearchSpace, theta: np.ndarray, live: np.ndarray, steps: int = 4) -> Genotype:
    """The DARTS rule: per node the two inputs whose best live non-``none`` op has the largest θ, argmax op."""
    theta = np.where(live, theta, -np.inf)
    cells = {}
    edges = cell_edges(steps)
    for cell in CELL_TYPES:
        pairs = []
        for node in range(steps):
            scored = []
            for j in range(node + 2):
                e = space.decision_index(decision_name(cell, edges.index((node, j))))
                names = space.decisions[e].candidate_names
                row = np.array([t if n != "none" else -np.inf for t, n in zip(theta[e], names, strict=False)])
                k = int(np.argmax(row))
                scored.append((row[k], -j, names[k], j))
            best = sorted(scored, reverse=True)[:2]
            pairs.extend((name, j) for _, _, name, j in sorted(best, key=lambda s: s[3]))
        cells[cell] = pairs
    concat = list(range(2, steps + 2))
    return Genotype(normal=cells["normal"], normal_concat=concat, reduce=cells["reduce"], reduce_concat=concat)
