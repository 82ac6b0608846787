"""ENG for DARTS requests that budget no additive cost (only ``nonparam_ops`` / ``cell_height``), in closed form.

Without a params or FLOPs budget the two cells are independent, and inside a cell, once its input structure
(the pair of inputs of every node) is fixed, each kept edge is independent too except for the count of
non-parametric ops. So for every structure (180 for 4 nodes) and every edge, the best parametric and the best
non-parametric op are enough: with "exactly N", the cell's best is the sum of the best parametric ops plus the
N largest gains of switching an edge to its best non-parametric op (edges with only one kind are forced);
with "at most N", only the positive gains count. Heights filter the structures. Exact, and vectorised over
structures.

Also here: :func:`node_options`, the groups of requests that budget only params / FLOPs, and
:func:`pareto_mask`, the dominance filter both enumerations use.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np

from ddp_vision.darts.genotypes import cell_edges


def pareto_mask(values: np.ndarray, costs: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """Options not weakly dominated (ties keep the first): higher value and lower costs are better; with
    ``labels``, an option is only compared with options of the same label.

    Sorted by label, value (descending), costs and index, an option can only be dominated by an earlier one, and
    is iff some earlier option has no higher cost anywhere; blocks of options are compared with the options
    kept so far and with each other (a dominated earlier option's dominator is earlier still).
    """
    n, width = costs.shape
    labels = np.zeros(n) if labels is None else labels
    order = np.lexsort((np.arange(n), *[costs[:, j] for j in reversed(range(width))], -values, labels))
    keep = np.zeros(n, dtype=bool)
    front_costs, front_labels = np.zeros((0, width)), np.zeros(0)
    for start in range(0, n, 1024):
        index = order[start:start + 1024]
        block_costs, block_labels = costs[index], labels[index]
        dominated = np.any(np.all(front_costs[None, :, :] <= block_costs[:, None, :], axis=2)
                           & (front_labels[None, :] == block_labels[:, None]), axis=1)
        earlier = np.arange(len(index))[None, :] < np.arange(len(index))[:, None]
        dominated |= np.any(np.all(block_costs[None, :, :] <= block_costs[:, None, :], axis=2)
                            & (block_labels[None, :] == block_labels[:, None]) & earlier, axis=1)
        keep[index[~dominated]] = True
        front_costs = np.concatenate([front_costs, block_costs[~dominated]])
        front_labels = np.concatenate([front_labels, block_labels[~dominated]])
    return keep


def edge_pareto_masks(edges: list[dict], columns: list[int]) -> list[np.ndarray]:
    """:func:`pareto_mask` of every edge's ops at once (θ, the costs ``columns``): op i goes when some op j of
    its edge is at least as good everywhere, and better somewhere or earlier (ties keep the first)."""
    width = max(len(t["theta"]) for t in edges)
    theta = np.full((len(edges), width), -np.inf)
    cost = np.full((len(edges), width, len(columns)), np.inf)
    for e, table in enumerate(edges):
        theta[e, :len(table["theta"])] = table["theta"]
        cost[e, :len(table["theta"])] = table["additive"][:, columns]
    covers = (theta[:, :, None] >= theta[:, None, :]) & np.all(cost[:, :, None, :] <= cost[:, None, :, :], axis=3)
    same = (theta[:, :, None] == theta[:, None, :]) & np.all(cost[:, :, None, :] == cost[:, None, :, :], axis=3)
    earlier = np.arange(width)[:, None] < np.arange(width)[None, :]  # [j, i]: j before i
    dominated = np.any(covers & (~same | earlier[None]), axis=1)  # over j, for each i
    return [~dominated[e, :len(t["theta"])] for e, t in enumerate(edges)]


@functools.lru_cache(maxsize=8)
def cell_structures(steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every input structure of a cell: (S, 2 * steps) edge indices and input states per genotype position
    (node by node, inputs ascending), and the (S,) cell height (kept edges on the longest path)."""
    edge_index = {pair: e for e, pair in enumerate(cell_edges(steps))}
    edges, inputs, heights = [], [], []
    for pairs in itertools.product(*[itertools.combinations(range(node + 2), 2) for node in range(steps)]):
        depth = [0, 0]
        for pair in pairs:
            depth.append(1 + max(depth[j] for j in pair))
        edges.append([edge_index[(node, j)] for node, pair in enumerate(pairs) for j in pair])
        inputs.append([j for pair in pairs for j in pair])
        heights.append(max(depth[2:]))
    return np.array(edges), np.array(inputs), np.array(heights)


def best_cell(edges: list[dict], steps: int, count: float | None, height: float | None,
              rule: str) -> tuple[float, np.ndarray, np.ndarray] | None:
    """The cell of largest θ sum with at most ``height`` and (when ``count`` is given) exactly / at most
    ``count`` non-parametric ops: (value, op per position, input per position), or None when none exists."""
    structure_edges, structure_inputs, heights = cell_structures(steps)
    keep = np.ones(len(heights), dtype=bool) if height is None else heights <= height + 1e-9
    structure_edges, structure_inputs = structure_edges[keep], structure_inputs[keep]
    if not len(structure_edges):
        return None
    best = np.full((len(edges), 2), -np.inf)  # per edge: best parametric, best non-parametric θ
    pick = np.zeros((len(edges), 2), dtype=np.int64)
    for e, table in enumerate(edges):
        for kind in (0, 1):
            mine = np.flatnonzero(table["nonparam"] == kind)
            if len(mine):
                i = mine[np.argmax(table["theta"][mine])]
                best[e, kind], pick[e, kind] = table["theta"][i], table["ops"][i]
    param, nonparam = best[structure_edges, 0], best[structure_edges, 1]  # (S, 2 * steps)
    has_param, has_nonparam = np.isfinite(param), np.isfinite(nonparam)
    if count is None:
        chosen = nonparam > param  # ties: the parametric op (the first kind)
    else:
        forced = (~has_param).sum(axis=1)  # edges that can only take a non-parametric op
        free = has_param & has_nonparam
        gain = np.where(free, nonparam - param, -np.inf)
        order = np.argsort(-gain, axis=1, kind="stable")
        need = np.full(len(gain), int(round(count))) - forced
        if rule == "at_most":
            need = np.minimum(need, (np.take_along_axis(gain, order, axis=1) > 0).sum(axis=1))
        feasible = (need >= 0) & (need <= free.sum(axis=1))
        if not feasible.any():
            return None
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(order.shape[1])[None, :].repeat(len(order), axis=0), axis=1)
        chosen = ~has_param | (free & (rank < need[:, None]))
    value = np.where(chosen, nonparam, param).sum(axis=1)
    if count is not None:
        value = np.where(feasible, value, -np.inf)
    s = int(np.argmax(value))
    ops = pick[structure_edges[s], chosen[s].astype(np.int64)]
    return float(value[s]), ops, structure_inputs[s]


def node_options(edges: list[dict], steps: int, columns: list[int]) -> list[dict]:
    """Per intermediate node, every (input pair, op, op) with its θ and additive costs, keeping only options that
    no other option of the node dominates in θ and the costs ``columns`` (indices into the edge tables'
    ``additive``). Without a count or height budget the nodes of a cell are independent, so each node is one
    group of the group-knapsack solver, and a dominated option can never be the unique optimum."""
    edge_index = {pair: e for e, pair in enumerate(cell_edges(steps))}
    # an op that another op of its edge dominates only makes dominated pairs: drop it before pairing
    edges = [{key: value[keep] for key, value in table.items()}
             for table, keep in zip(edges, edge_pareto_masks(edges, columns), strict=True)]
    out = []
    for node in range(steps):
        parts = []
        for i, j in itertools.combinations(range(node + 2), 2):
            a, b = edges[edge_index[(node, i)]], edges[edge_index[(node, j)]]
            na, nb = len(a["ops"]), len(b["ops"])
            parts.append({
                "value": (a["theta"][:, None] + b["theta"][None, :]).ravel(),
                "additive": (a["additive"][:, None, :] + b["additive"][None, :, :]).reshape(na * nb, -1),
                "ops": np.stack([np.repeat(a["ops"], nb), np.tile(b["ops"], na)], axis=1),
                "inputs": np.tile([i, j], (na * nb, 1)),
            })
        merged = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
        keep = pareto_mask(merged["value"], merged["additive"][:, columns])
        out.append({key: value[keep] for key, value in merged.items()})
    return out
