"""The DARTS node options: dropping ops another op of the same edge dominates before pairing keeps exactly the
non-dominated (θ, params, FLOPs) options of each node."""

import itertools

import numpy as np
import pytest

from ddp_vision.darts.genotypes import cell_edges
from ddp_vision.darts.structures import edge_pareto_masks, node_options, pareto_mask


def random_edges(rng, steps, ties):
    edges = []
    for _ in cell_edges(steps):
        n = int(rng.integers(1, 8))
        if ties:  # few distinct numbers: equal θ and equal costs everywhere
            theta, additive = rng.integers(0, 3, n).astype(float), rng.integers(0, 3, (n, 2)).astype(float)
        else:
            theta, additive = rng.random(n), rng.random((n, 2))
        edges.append({"ops": np.arange(n), "theta": theta, "nonparam": np.zeros(n), "additive": additive})
    return edges


@pytest.mark.parametrize("ties", [False, True])
def test_edge_masks_equal_pareto_mask_per_edge(ties):
    rng = np.random.default_rng(int(ties))
    for _ in range(20):
        edges = random_edges(rng, 4, ties)
        for columns in ([0], [1], [0, 1]):
            for table, keep in zip(edges, edge_pareto_masks(edges, columns), strict=True):
                assert keep.tolist() == pareto_mask(table["theta"], table["additive"][:, columns]).tolist()


@pytest.mark.parametrize("ties", [False, True])
def test_node_options_are_the_non_dominated_pairs(ties):
    rng = np.random.default_rng(10 + int(ties))
    steps = 4
    index = {pair: e for e, pair in enumerate(cell_edges(steps))}
    for _ in range(5):
        edges = random_edges(rng, steps, ties)
        for columns in ([0], [0, 1]):
            for node, options in enumerate(node_options(edges, steps, columns)):
                every = []  # (θ, costs) of every pair of inputs and ops of this node
                for i, j in itertools.combinations(range(node + 2), 2):
                    a, b = edges[index[(node, i)]], edges[index[(node, j)]]
                    for x, y in itertools.product(range(len(a["ops"])), range(len(b["ops"]))):
                        every.append([a["theta"][x] + b["theta"][y], *(a["additive"][x] + b["additive"][y])[columns]])
                every = np.array(every)
                front = every[pareto_mask(every[:, 0], every[:, 1:])]
                found = np.c_[options["value"], options["additive"][:, columns]]
                assert sorted(map(tuple, np.round(found, 9))) == sorted(map(tuple, np.round(front, 9)))
