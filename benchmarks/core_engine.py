#!/usr/bin/env python
"""ddp-core's own cost: one stage-end step (utility + update + prune) and ENG with 100 budgets.

Ratios are taken against baselines run in the same process:
- the stage-end step against a plain-Python loop implementation of the same utility + update;
- ENG against vectorised brute force over every architecture, on an instance small enough to enumerate
  (10 decisions x 4 candidates = 1,048,576 architectures), then our solver alone on the full sizes.

    python benchmarks/core_engine.py
"""

from __future__ import annotations

import json
import math
import os
import platform
import time

import numpy as np

from ddp_core import (
    CategoricalDistribution,
    CostTable,
    DDPSearch,
    Decision,
    SearchConfig,
    SearchSpace,
    choose_pruned,
    generate,
    momentum_update,
    prunable_mask,
    pruning_error_bound,
)
from ddp_core.search import stage_schedule


class Constant:
    higher_is_better = True

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def train(self, architecture):
        pass

    def score(self, architecture):
        return float(self.rng.random())


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def timed(function, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def python_loop_update(records, space, theta, velocity, live, gamma=0.9, tau=0.01):
    """The naive baseline: dictionaries and loops, as a first implementation would do it."""
    sums, counts = {}, {}
    for architecture, score in records:
        for e, k in enumerate(architecture):
            sums[e, k] = sums.get((e, k), 0.0) + score
            counts[e, k] = counts.get((e, k), 0) + 1
    for e in range(space.num_decisions):
        ks = [k for k in range(len(theta[e])) if live[e][k]]
        util = [sums.get((e, k), 0.0) / max(counts.get((e, k), 1), 1) for k in ks]
        top = max(util)
        exp = [math.exp((u - top) / tau) for u in util]
        total = sum(exp)
        for k, x in zip(ks, exp, strict=True):
            velocity[e][k] = gamma * velocity[e][k] + (1 - gamma) * x / total
        row = sum(theta[e][k] + velocity[e][k] for k in ks)
        for k in ks:
            theta[e][k] = (theta[e][k] + velocity[e][k]) / row
        worst = min(ks, key=lambda k: theta[e][k])
        live[e][worst] = False


def stage_step(decisions: int, candidates: int) -> dict:
    space = SearchSpace([Decision(f"d{i}", [f"c{k}" for k in range(candidates)]) for i in range(decisions)])
    search = DDPSearch(space, Constant(0), SearchConfig(rounds_per_stage=3))
    for _ in range(3 * candidates - 1):  # fill a stage, leave its last sample
        search.step()
    search.step()  # closes the stage once, so the record holds a full stage
    dist = search.distribution

    def engine_stage_end():
        utility = search.record.utility(0, dist.live, True)
        pruning_error_bound(utility, dist.live)
        theta, _ = momentum_update(dist.theta, dist.velocity, utility.values, dist.live, momentum=0.9,
                                   temperature=0.01, normalization="sum", rows=utility.recorded)
        choose_pruned(theta, prunable_mask(space, dist.live))

    records = [(r.architecture, r.score) for r in search.record.for_stage(0)]

    def baseline():
        python_loop_update(records, space, search.distribution.theta.tolist(), np.zeros_like(search.distribution.theta).tolist(),
                           search.distribution.live.tolist())

    engine = timed(engine_stage_end, 20)
    loop = timed(baseline, 20)
    return {"space": f"{decisions}x{candidates}", "engine_ms": engine * 1e3, "python_loop_ms": loop * 1e3,
            "speedup": loop / engine, "stages": len(stage_schedule(space))}


def random_problem(decisions: int, candidates: int, seed: int):
    rng = np.random.default_rng(seed)
    space = SearchSpace([Decision(f"d{i}", [f"c{k}" for k in range(candidates)]) for i in range(decisions)])
    dist = CategoricalDistribution.uniform(space)
    dist.theta = rng.dirichlet(np.ones(candidates), size=decisions)
    flops = CostTable("flops_m", 20.0, rng.uniform(1, 30, size=(decisions, candidates)))
    return space, dist, {"flops_m": flops}


def budgets_for(space, costs, count: int) -> list[dict]:
    table = costs["flops_m"]
    low = table.fixed + sum(r.min() for r in table.per_candidate)
    high = table.fixed + sum(r.max() for r in table.per_candidate)
    return [{"flops_m": float(b)} for b in np.linspace(low, high, count)]


def eng(decisions: int, candidates: int, brute: bool) -> dict:
    space, dist, costs = random_problem(decisions, candidates, seed=decisions)
    requests = budgets_for(space, costs, 100)
    start = time.perf_counter()
    answers = generate(space, dist, costs, requests)
    ours = time.perf_counter() - start
    row = {"space": f"{decisions}x{candidates}", "eng_100_budgets_s": ours}
    if brute:
        start = time.perf_counter()
        grids = np.stack(np.meshgrid(*[np.arange(candidates)] * decisions, indexing="ij"), -1).reshape(-1, decisions)
        values = dist.theta[np.arange(decisions), grids].mean(axis=1)
        cost = costs["flops_m"].fixed + costs["flops_m"].matrix(space)[np.arange(decisions), grids].sum(axis=1)
        best = [values[cost <= r["flops_m"] + 1e-9].max() for r in requests]
        row["brute_force_100_budgets_s"] = time.perf_counter() - start
        row["speedup"] = row["brute_force_100_budgets_s"] / ours
        row["exact"] = bool(np.allclose(best, [a.expectation for a in answers]))
    return row


def main() -> None:
    machine = f"{cpu_name()} ({os.cpu_count()} cores), Python {platform.python_version()}, numpy {np.__version__}"
    steps = [stage_step(28, 8), stage_step(21, 7)]
    engs = [eng(10, 4, brute=True), eng(28, 8, brute=False), eng(21, 7, brute=False)]
    print(json.dumps({"machine": machine, "stage_end": steps, "eng": engs}, indent=1))


if __name__ == "__main__":
    main()
