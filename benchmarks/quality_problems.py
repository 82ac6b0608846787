"""Tabular problems for benchmarks/search_quality.py: a space, a noisy score, and the true rank of any pick.

- ``macro``: NAS-Bench-Macro (this repository's data/): 8 layers x 3 blocks on CIFAR-10; a score is one of the
  three trained seeds' accuracies, drawn at random; the rank is by mean accuracy among 3969 distinct networks.
- ``graph-<dataset>``: NAS-Bench-Graph (Qin et al., NeurIPS 2022; the ``nas-bench-graph`` package ships its
  "light" tables, Apache-2.0): 9 macro link patterns x 4 layers of 9 GNN ops on 8 datasets; a score is the
  validation accuracy, the rank is by test accuracy among 26,206 distinct networks. Validation and test agree
  only partly (Kendall tau ~0.55), as in real searches.
- ``pairwise-<seed>``: a synthetic 6 x 5 landscape (NAS-Bench-201's shape) with random pairwise interactions
  between decisions and a "disconnected" corner that scores at chance, to guard against tuning to one table.
- ``cell-<seed>``, ``mixed-<seed>``: strongly interacting problems with additive costs (interacting_problems.py).

Problems with cost tables (``macro``: params_m and flops_m, equal to the benchmark's own figures; ``cell``,
``mixed``) also answer budgeted questions: ``budgets()`` at cost quantiles over the distinct networks, and
``rank_under(architecture, budget)`` among the distinct networks that meet a budget.

``noise_tau`` adds fresh Gaussian noise to every score, scaled so that single noisy scores and true accuracies
have the given Kendall tau over the space (weight sharing: the paper's Fig. 7 measures ~0.57).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from interacting_problems import cell_tables, mixed_tables

from ddp_core import CostTable, Decision, SearchSpace
from ddp_core.tabular import CHOICES, NasBenchMacro, canonical_key, kendall_tau, macro_costs

BUDGET_QUANTILES = (0.10, 0.25, 0.50, 0.75)


@dataclass
class Problem:
    name: str
    sizes: list[int]
    true: np.ndarray  # true accuracy per architecture index (row-major over sizes)
    observations: np.ndarray  # (N, S): each score draws one column
    distinct: np.ndarray | None = None  # a label per architecture; equal labels are the same network
    noise_sd: float = 0.0
    candidate_names: list[list[str]] = field(default_factory=list)
    cost_tables: dict[str, CostTable] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.strides = np.cumprod([1] + self.sizes[::-1][:-1])[::-1]
        labels = np.arange(len(self.true)) if self.distinct is None else self.distinct
        _, first, self.labels = np.unique(labels, return_index=True, return_inverse=True)
        self.sorted_true = np.sort(self.true[first])[::-1]
        self.num_distinct = len(first)
        self._cost_arrays: dict[str, np.ndarray] | None = None

    def cost_arrays(self) -> dict[str, np.ndarray]:
        """Every cost of every architecture (row-major index order)."""
        if self._cost_arrays is None:
            grid = np.array(list(itertools.product(*[range(s) for s in self.sizes])))
            self._cost_arrays = {name: table.fixed + sum(np.asarray(table.per_candidate[e])[grid[:, e]]
                                                         for e in range(len(self.sizes)))
                                 for name, table in self.cost_tables.items()}
        return self._cost_arrays

    def distinct_costs(self, name: str) -> np.ndarray:
        """Per distinct network, the smallest cost of the architectures that compute it."""
        smallest = np.full(self.num_distinct, np.inf)
        np.minimum.at(smallest, self.labels, self.cost_arrays()[name])
        return smallest

    def budgets(self, quantiles=BUDGET_QUANTILES) -> list[dict[str, float]]:
        """One single-cost budget per cost table and quantile of that cost over the distinct networks."""
        def just_above(value: float) -> float:  # a cost summed in another order must still meet it
            return float(value) + 1e-9 * max(1.0, abs(float(value)))

        return [{name: just_above(np.quantile(self.distinct_costs(name), q, method="lower"))}
                for name in self.cost_tables for q in quantiles]

    def feasible(self, budget: dict[str, float]) -> np.ndarray:
        """Per architecture: does it meet every cost of ``budget``."""
        ok = np.ones(len(self.true), bool)
        for name, bound in budget.items():
            ok &= self.cost_arrays()[name] <= bound
        return ok

    def feasible_sorted_true(self, budget: dict[str, float]) -> np.ndarray:
        """True accuracies of the distinct networks that meet ``budget``, best first."""
        ok = self.feasible(budget)
        _, first = np.unique(self.labels[ok], return_index=True)
        return np.sort(self.true[ok][first])[::-1]

    def rank_under(self, architecture, budget: dict[str, float], ranking: np.ndarray | None = None) -> int | None:
        """1 = the best distinct network that meets ``budget``; None when ``architecture`` does not meet it."""
        index = self.index(architecture)
        if not self.feasible(budget)[index]:
            return None
        ranking = self.feasible_sorted_true(budget) if ranking is None else ranking
        return int(np.sum(ranking > self.true[index] + 1e-12)) + 1

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
        return dataclasses.replace(self, name=f"{self.name}+noise{tau:g}", noise_sd=(low + high) / 2)


def macro_problem() -> Problem:
    bench = NasBenchMacro()
    keys = ["".join(map(str, a)) for a in itertools.product(range(3), repeat=8)]
    true = np.array([bench.entries[k].mean_acc for k in keys]) / 100  # accuracies in [0, 1], as the paper assumes
    seeds = np.array([bench.entries[k].test_acc for k in keys]) / 100
    labels = np.unique([canonical_key(k) for k in keys], return_inverse=True)[1]
    costs = {f"{name}_m": CostTable(f"{name}_m", table.fixed / 1e6, [np.asarray(r) / 1e6 for r in table.per_candidate])
             for name, table in macro_costs().items()}
    return Problem("macro", [3] * 8, true, seeds, labels, candidate_names=[list(CHOICES)] * 8, cost_tables=costs)


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
    """``macro``, ``graph-cora`` ..., ``pairwise-3``, ``cell-1``, ``mixed-1``; a ``+noise0.57`` suffix adds weight-sharing-like noise."""
    base, _, noise = name.partition("+noise")
    if base == "macro":
        problem = macro_problem()
    elif base.startswith("graph-"):
        problem = graph_problem(base[len("graph-"):])
    elif base.startswith("pairwise-"):
        problem = pairwise_problem(int(base[len("pairwise-"):]))
    elif base.startswith(("cell-", "mixed-")):
        kind, _, seed = base.partition("-")
        tables = (cell_tables if kind == "cell" else mixed_tables)(int(seed))
        problem = Problem(base, tables["sizes"], tables["true"], tables["observations"], tables["distinct"],
                          candidate_names=tables["candidate_names"], cost_tables=tables["costs"])
    else:
        raise ValueError(f"unknown problem {name!r}: macro, graph-<dataset>, pairwise-<seed>, cell-<seed>, "
                         "mixed-<seed> (+noise<tau>)")
    return problem.with_noise(float(noise)) if noise else problem


def evaluations_per_round_sum(problem: Problem) -> int:
    """Evaluations of one round in every stage of a pruning run (uniform spaces: sum of 2..K)."""
    return sum(range(2, max(problem.sizes) + 1))


def log_rank(ranks) -> float:
    return float(np.mean([math.log10(r) for r in ranks]))
