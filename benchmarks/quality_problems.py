"""Tabular problems for benchmarks/search_quality.py: a space, a noisy score, and the true rank of any pick.

- ``macro``: NAS-Bench-Macro (this repository's data/): 8 layers x 3 blocks on CIFAR-10; a score is one of the
  three trained seeds' accuracies, drawn at random; the rank is by mean accuracy among 3969 distinct networks.
- ``graph-<dataset>``: NAS-Bench-Graph (Qin et al., NeurIPS 2022; the ``nas-bench-graph`` package ships its
  "light" tables, Apache-2.0): 9 macro link patterns x 4 layers of 9 GNN ops on 8 datasets; a score is the
  validation accuracy, the rank is by test accuracy among 26,206 distinct networks. Validation and test agree
  only partly (Kendall tau ~0.55), as in real searches.
- ``pairwise-<seed>``: a synthetic 6 x 5 landscape (NAS-Bench-201's shape) with random pairwise interactions
  between decisions and a "disconnected" corner that scores at chance, to guard against tuning to one table.

``noise_tau`` adds fresh Gaussian noise to every score, scaled so that single noisy scores and true accuracies
have the given Kendall tau over the space (weight sharing: the paper's Fig. 7 measures ~0.57).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from ddp_core import Decision, SearchSpace
from ddp_core.tabular import CHOICES, NasBenchMacro, canonical_key, kendall_tau


@dataclass
class Problem:
    name: str
    sizes: list[int]
    true: np.ndarray  # true accuracy per architecture index (row-major over sizes)
    observations: np.ndarray  # (N, S): each score draws one column
    distinct: np.ndarray | None = None  # a label per architecture; equal labels are the same network
    noise_sd: float = 0.0
    candidate_names: list[list[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.strides = np.cumprod([1] + self.sizes[::-1][:-1])[::-1]
        labels = np.arange(len(self.true)) if self.distinct is None else self.distinct
        _, first = np.unique(labels, return_index=True)
        self.sorted_true = np.sort(self.true[first])[::-1]
        self.num_distinct = len(first)

    def space(self) -> SearchSpace:
        names = self.candidate_names or [[f"c{k}" for k in range(s)] for s in self.sizes]
        return SearchSpace([Decision(f"d{e}", names[e]) for e in range(len(self.sizes))])

    def index(self, architecture) -> int:
        return int(np.dot(np.asarray(architecture), self.strides))

    def score(self, architecture, rng: np.random.Generator) -> float:
        row = self.observations[self.index(architecture)]
        value = float(row[int(rng.integers(len(row)))])
        return value + (float(rng.standard_normal()) * self.noise_sd if self.noise_sd else 0.0)

    def rank(self, architecture) -> int:
        """1 = the best distinct network by true accuracy."""
        return int(np.sum(self.sorted_true > self.true[self.index(architecture)] + 1e-12)) + 1

    def with_noise(self, tau: float, seed: int = 0) -> Problem:
        """A copy whose scores carry fresh noise calibrated to Kendall ``tau`` with the true accuracies."""
        rng = np.random.default_rng(seed)
        sample = rng.choice(len(self.true), size=min(2000, len(self.true)), replace=False)
        base = self.observations[sample, 0]
        unit = rng.standard_normal(len(sample))
        low, high = 0.0, 20.0 * float(np.std(self.true)) + 1e-9
        for _ in range(40):  # bisection: more noise, lower tau
            middle = (low + high) / 2
            if kendall_tau(self.true[sample], base + middle * unit) > tau:
                low = middle
            else:
                high = middle
        return Problem(f"{self.name}+noise{tau:g}", self.sizes, self.true, self.observations, self.distinct,
                       (low + high) / 2, self.candidate_names)


def macro_problem() -> Problem:
    bench = NasBenchMacro()
    keys = ["".join(map(str, a)) for a in itertools.product(range(3), repeat=8)]
    true = np.array([bench.entries[k].mean_acc for k in keys]) / 100  # accuracies in [0, 1], as the paper assumes
    seeds = np.array([bench.entries[k].test_acc for k in keys]) / 100
    labels = np.unique([canonical_key(k) for k in keys], return_inverse=True)[1]
    return Problem("macro", [3] * 8, true, seeds, labels, candidate_names=[list(CHOICES)] * 8)


GRAPH_DATASETS = ("cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv")


def graph_problem(dataset: str) -> Problem:
    from nas_bench_graph.architecture import Arch, gnn_list, link_list
    from nas_bench_graph.readbench import light_read

    table = light_read(dataset)
    worst_test = min(v["perf"] for v in table.values())
    worst_valid = min(v["valid_perf"] for v in table.values())
    true, valid, labels = [], [], []
    for link in link_list:
        for ops in itertools.product(range(len(gnn_list)), repeat=4):
            names = [gnn_list[o] for o in ops]
            if all(n == "skip" for n in names):  # no computation at all: not a network, scored as the worst
                true.append(worst_test)
                valid.append(worst_valid)
                labels.append(-1)
                continue
            key = Arch(list(link), names).valid_hash()
            true.append(table[key]["perf"])
            valid.append(table[key]["valid_perf"])
            labels.append(key)
    names = [[f"link{i}" for i in range(len(link_list))]] + [list(gnn_list)] * 4
    return Problem(f"graph-{dataset}", [len(link_list)] + [len(gnn_list)] * 4, np.array(true),
                   np.array(valid)[:, None], np.array(labels), candidate_names=names)


def pairwise_problem(seed: int, sizes: tuple[int, ...] = (5,) * 6, strength: float = 0.7,
                     pair_probability: float = 0.4) -> Problem:
    """Additive effects + random pairwise interactions (std ``strength`` of the additive part's) on a random
    40% of the decision pairs; candidate 0 of two random decisions together disconnects the network (0.10)."""
    rng = np.random.default_rng(seed)
    grid = np.array(list(itertools.product(*[range(s) for s in sizes])))
    value = np.zeros(len(grid))
    for e, s in enumerate(sizes):
        value += rng.standard_normal(s)[grid[:, e]]
    for e, f in itertools.combinations(range(len(sizes)), 2):
        if rng.random() < pair_probability:
            value += strength * rng.standard_normal((sizes[e], sizes[f]))[grid[:, e], grid[:, f]]
    cut = rng.choice(len(sizes), size=2, replace=False)
    value = 0.90 + 0.01 * (value - value.mean()) / value.std()
    value[np.all(grid[:, cut] == 0, axis=1)] = 0.10
    return Problem(f"pairwise-{seed}", list(sizes), value, value[:, None])


def make_problem(name: str) -> Problem:
    """``macro``, ``graph-cora`` ..., ``pairwise-3``; a ``+noise0.57`` suffix adds weight-sharing-like noise."""
    base, _, noise = name.partition("+noise")
    if base == "macro":
        problem = macro_problem()
    elif base.startswith("graph-"):
        problem = graph_problem(base[len("graph-"):])
    elif base.startswith("pairwise-"):
        problem = pairwise_problem(int(base[len("pairwise-"):]))
    else:
        raise ValueError(f"unknown problem {name!r}: macro, graph-<dataset>, pairwise-<seed> (+noise<tau>)")
    return problem.with_noise(float(noise)) if noise else problem


def evaluations_per_round_sum(problem: Problem) -> int:
    """Evaluations of one round in every stage of a pruning run (uniform spaces: sum of 2..K)."""
    return sum(range(2, max(problem.sizes) + 1))


def log_rank(ranks) -> float:
    return float(np.mean([math.log10(r) for r in ranks]))
