"""From θ to genotypes: the DARTS rule and exact Efficient Network Generation (ENG) over cell graphs.

A DARTS genotype keeps, for every intermediate node, two input edges from its predecessors, each with one
op (never ``none``). ENG (paper Sec. 3.3) picks the genotype of largest architecture expectation (mean θ of
the 16 kept (edge, op) pairs) subject to budgets:

- ``params_m``, ``flops_m``: the evaluation network's parameters / MACs in millions (additive per op, see
  :mod:`ddp_vision.darts.costs`);
- ``nonparam_ops``: at most this many non-parametric ops in *each* cell (the paper's N);
- ``cell_height``: at most this depth of *each* cell graph, counting kept edges on the longest path from the
  cell inputs to a node (the paper's H; 1 = every node reads only the cell inputs).

Exactness: each cell is one group of options of ``ddp_core.solve_groups``. Options are enumerated per input
structure (one pair of inputs per node) and, inside a structure, edge by edge, discarding partial options
that another one dominates (higher or equal θ, no higher cost in any constrained quantity); since every
constraint is monotone in those quantities, no discarded option can be the unique optimum.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ddp_core import CostTable, InfeasibleBudgetError, SearchSpace, solve_groups
from ddp_vision.darts.genotypes import Genotype, cell_edges, genotype_to_dict
from ddp_vision.darts.space import CELL_TYPES, decision_name

__all__ = ["BUDGET_KEYS", "CellOptions", "EngAnswer", "darts_derivation", "enumerate_cell_options", "generate_genotypes"]

BUDGET_KEYS = ("params_m", "flops_m", "nonparam_ops", "cell_height")
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


def pareto_mask(values: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """Options not weakly dominated (ties keep the first): higher value and lower costs are better."""
    n = len(values)
    if costs.shape[1] == 0:
        keep = np.zeros(n, dtype=bool)
        keep[int(np.argmax(values))] = True
        return keep
    keep = np.ones(n, dtype=bool)
    for start in range(0, n, 2048):
        block = slice(start, min(n, start + 2048))
        ge = values[None, :] >= values[block, None]
        le = np.all(costs[None, :, :] <= costs[block, None, :], axis=2)
        strictly = (values[None, :] > values[block, None]) | np.any(costs[None, :, :] < costs[block, None, :], axis=2)
        earlier = np.arange(n)[None, :] < np.arange(start, block.stop)[:, None]
        keep[block] = ~np.any(ge & le & (strictly | earlier), axis=1)
    return keep


@dataclass
class CellOptions:
    """Every non-dominated genotype of one cell type: (input, op) per position, value and costs."""

    inputs: np.ndarray  # (n, 2 * steps) input state of each genotype position
    ops: np.ndarray  # (n, 2 * steps) candidate index of each position
    value: np.ndarray  # (n,) sum of θ over the kept edges
    additive: np.ndarray  # (n, 2) params_m, flops_m of the kept ops
    nonparam: np.ndarray  # (n,)
    height: np.ndarray  # (n,)


def enumerate_cell_options(edges: list[dict], steps: int, dims: Sequence[str]) -> CellOptions:
    """Non-dominated options of one cell, tracking only the quantities in ``dims`` for dominance."""
    edge_index = {pair: e for e, pair in enumerate(cell_edges(steps))}
    use = [name in dims for name in ("params_m", "flops_m", "nonparam_ops")]
    chunks = []
    for structure in itertools.product(*[itertools.combinations(range(node + 2), 2) for node in range(steps)]):
        depth = [0, 0]
        for pair in structure:
            depth.append(1 + max(depth[j] for j in pair))
        kept = [edge_index[(node, j)] for node, pair in enumerate(structure) for j in pair]
        value, extra, ops = np.zeros(1), np.zeros((1, 3)), np.zeros((1, 0), dtype=np.int64)
        for e in kept:
            table = edges[e]
            edge_extra = np.concatenate([table["additive"], table["nonparam"][:, None]], axis=1)
            value = (value[:, None] + table["theta"][None, :]).ravel()
            extra = (extra[:, None, :] + edge_extra[None, :, :]).reshape(-1, 3)
            ops = np.concatenate([np.repeat(ops, len(table["ops"]), axis=0),
                                  np.tile(table["ops"], len(ops))[:, None]], axis=1)
            keep = pareto_mask(value, extra[:, use])
            value, extra, ops = value[keep], extra[keep], ops[keep]
        inputs = np.tile([j for pair in structure for j in pair], (len(value), 1))
        chunks.append((inputs, ops, value, extra, np.full(len(value), max(depth[2:]))))
    return CellOptions(
        inputs=np.concatenate([c[0] for c in chunks]), ops=np.concatenate([c[1] for c in chunks]),
        value=np.concatenate([c[2] for c in chunks]), additive=np.concatenate([c[3] for c in chunks])[:, :2],
        nonparam=np.concatenate([c[3] for c in chunks])[:, 2], height=np.concatenate([c[4] for c in chunks]),
    )


@dataclass
class EngAnswer:
    """One ENG answer: the genotype, its expectation and every cost."""

    budgets: dict[str, float]
    genotype: Genotype
    expectation: float
    costs: dict[str, float]
    per_cell: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        from ddp_vision.darts.genotypes import format_genotype

        return {"budgets": self.budgets, "genotype": genotype_to_dict(self.genotype),
                "genotype_text": format_genotype(self.genotype), "expectation": self.expectation,
                "costs": self.costs, "per_cell": self.per_cell}


def _names(space: SearchSpace, cell: str, ops_row: np.ndarray, inputs_row: np.ndarray, steps: int) -> list:
    edges = cell_edges(steps)
    pairs = []
    for position, (k, j) in enumerate(zip(ops_row, inputs_row, strict=True)):
        e = space.decision_index(decision_name(cell, edges.index((position // 2, int(j)))))
        pairs.append((space.decisions[e].candidates[int(k)].name, int(j)))
    return pairs


def generate_genotypes(
    space: SearchSpace,
    theta: np.ndarray,
    live: np.ndarray,
    costs: Mapping[str, CostTable],
    budgets: Sequence[Mapping[str, float]],
    steps: int = 4,
) -> list[EngAnswer]:
    """Exact ENG for each budget dict (keys from :data:`BUDGET_KEYS`; ``{}`` = no constraint).

    Raises
    ------
    InfeasibleBudgetError
        When a budget cannot be met; the message names the smallest achievable value.
    """
    for budget in budgets:
        unknown = set(budget) - set(BUDGET_KEYS)
        if unknown:
            raise ValueError(f"unknown budget keys {sorted(unknown)}; use {', '.join(BUDGET_KEYS)}")
    theta = np.where(live, theta, 0.0)
    edges = {cell: _edge_tables(space, theta, live, cell, steps, costs) for cell in CELL_TYPES}
    fixed = np.array([costs[n].fixed for n in _ADDITIVE])
    answers = []
    options_cache: dict[tuple[str, ...], dict[str, CellOptions]] = {}
    for budget in budgets:
        dims = tuple(sorted(k for k in budget if k in ("params_m", "flops_m", "nonparam_ops")))
        if dims not in options_cache:
            options_cache[dims] = {cell: enumerate_cell_options(edges[cell], steps, dims) for cell in CELL_TYPES}
        groups, values, group_costs = {}, [], []
        for cell in CELL_TYPES:
            options = options_cache[dims][cell]
            allowed = np.ones(len(options.value), dtype=bool)
            for key, quantity in (("nonparam_ops", options.nonparam), ("cell_height", options.height)):
                if key in budget:
                    if quantity.min() > budget[key] + 1e-9:
                        raise InfeasibleBudgetError(
                            f"no {cell} cell has {key} <= {budget[key]:g}: the smallest achievable {key} is "
                            f"{quantity.min():g}; raise the budget to at least that"
                        )
                    allowed &= quantity <= budget[key] + 1e-9
            index = np.flatnonzero(allowed)
            additive_used = [n in budget for n in _ADDITIVE]
            index = index[pareto_mask(options.value[index], options.additive[index][:, additive_used])]
            groups[cell] = index
            values.append(options.value[index])
            group_costs.append(options.additive[index][:, additive_used])
        limits = [budget[n] - fixed[j] for j, n in enumerate(_ADDITIVE) if n in budget]
        names = [n for n in _ADDITIVE if n in budget]
        try:
            choice, total = solve_groups(values, group_costs, limits, names=names)
        except InfeasibleBudgetError as error:
            raise InfeasibleBudgetError(f"{error} (network fixed part included in the budgets)") from None
        genotype_cells, cost_sum, per_cell = {}, fixed.copy(), {}
        for cell, picked in zip(CELL_TYPES, choice, strict=True):
            options, row = options_cache[dims][cell], groups[cell][picked]
            genotype_cells[cell] = _names(space, cell, options.ops[row], options.inputs[row], steps)
            cost_sum = cost_sum + options.additive[row]
            per_cell[cell] = {"nonparam_ops": int(options.nonparam[row]), "cell_height": int(options.height[row])}
        concat = list(range(2, steps + 2))
        genotype = Genotype(normal=genotype_cells["normal"], normal_concat=concat,
                            reduce=genotype_cells["reduce"], reduce_concat=concat)
        answers.append(EngAnswer(
            budgets=dict(budget), genotype=genotype, expectation=float(total) / (4 * steps),
            costs={"params_m": float(cost_sum[0]), "flops_m": float(cost_sum[1]),
                   "nonparam_ops": max(c["nonparam_ops"] for c in per_cell.values()),
                   "cell_height": max(c["cell_height"] for c in per_cell.values())},
            per_cell=per_cell,
        ))
    return answers


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
