#!/usr/bin/env python
"""ddp-core's own cost: one stage-end step (utility + update + prune) and ENG with 100 budgets.

Ratios are taken against baselines run in the same process:
- the stage-end step against a plain-Python loop implementation of the same utility + update;
- ENG against vectorised brute force over every architecture, on instances small enough to enumerate
  (10 decisions x 4 candidates = 1,048,576 architectures), with one budget and with two;
- ENG alone on the full sizes (DARTS-sized 28 x 8, MobileNet-sized 21 x 7) over many random instances, one
  call of 100 budgets each: FLOPs alone, then FLOPs + params both binding (each budget between the cheapest
  architecture's cost and the unconstrained answer's). The slowest instance is reported.

    python benchmarks/core_engine.py [--part stage|eng|all] [--instances 20]
"""

from __future__ import annotations

import argparse
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
    params = CostTable("params_m", 2.0, rng.uniform(1, 30, size=(decisions, candidates)))
    return space, dist, {"flops_m": flops, "params_m": params}


def budgets_for(space, costs, count: int) -> list[dict]:
    table = costs["flops_m"]
    low = table.fixed + sum(r.min() for r in table.per_candidate)
    high = table.fixed + sum(r.max() for r in table.per_candidate)
    return [{"flops_m": float(b)} for b in np.linspace(low, high, count)]


def binding_pairs(space, dist, costs, count: int, seed: int) -> list[dict]:
    """Budgets between the cheapest architecture's cost and the unconstrained answer's, for both costs."""
    rng = np.random.default_rng(seed)
    free = generate(space, dist, costs, {})
    out = []
    for _ in range(count):
        budget = {}
        for name, table in costs.items():
            low = table.fixed + sum(r.min() for r in table.per_candidate)
            budget[name] = float(low + rng.uniform(0.05, 0.95) * (free.costs[name] - low))
        out.append(budget)
    return out


def brute_force(space, dist, costs, requests) -> list[float | None]:
    decisions, candidates = space.num_decisions, space.max_candidates
    grids = np.stack(np.meshgrid(*[np.arange(candidates)] * decisions, indexing="ij"), -1).reshape(-1, decisions)
    values = dist.theta[np.arange(decisions), grids].mean(axis=1)
    spent = {n: t.fixed + t.matrix(space)[np.arange(decisions), grids].sum(axis=1) for n, t in costs.items()}
    best = []
    for request in requests:
        ok = np.ones(len(values), dtype=bool)
        for name, bound in request.items():
            ok &= spent[name] <= bound + 1e-9
        best.append(float(values[ok].max()) if ok.any() else None)
    return best


def eng_small() -> list[dict]:
    """ENG against brute force on 10 x 4 (1,048,576 architectures), one and two budgets."""
    rows = []
    space, dist, costs = random_problem(10, 4, seed=10)
    for label, requests in (("FLOPs", budgets_for(space, costs, 100)),
                            ("FLOPs + params, both binding", binding_pairs(space, dist, costs, 100, seed=1))):
        start = time.perf_counter()
        answers = generate(space, dist, costs, requests, on_infeasible="report")
        ours = time.perf_counter() - start
        start = time.perf_counter()
        best = brute_force(space, dist, costs, requests)
        brute = time.perf_counter() - start
        found = [a.expectation if a.feasible else None for a in answers]
        exact = all((b is None and f is None) or (b is not None and f is not None and abs(b - f) < 1e-12)
                    for b, f in zip(best, found, strict=True))
        rows.append({"space": "10x4", "budgets": label, "eng_100_budgets_s": ours, "brute_force_s": brute,
                     "speedup": brute / ours, "exact": exact, "proven": all(a.proven_optimal for a in answers
                                                                             if a.feasible)})
    return rows


def binding_share(space, dist, costs, requests, answers) -> float:
    """Share of feasible pairs where dropping either budget changes the answer (both bind)."""
    alone = {n: generate(space, dist, costs, [{n: r[n]} for r in requests]) for n in costs}
    both = 0
    feasible = 0
    for i, answer in enumerate(answers):
        if not answer.feasible:
            continue
        feasible += 1
        both += all(alone[n][i].costs[m] > requests[i][m] + 1e-9 for n in costs for m in costs if m != n)
    return both / max(feasible, 1)


def eng_instances(decisions: int, candidates: int, instances: int) -> dict:
    """One call of 100 budgets per random instance: FLOPs alone, then FLOPs + params both binding."""
    single, double, shares, infeasible, proven = [], [], [], 0, True
    for seed in range(instances):
        space, dist, costs = random_problem(decisions, candidates, seed=1000 * decisions + seed)
        requests = budgets_for(space, costs, 100)
        start = time.perf_counter()
        generate(space, dist, costs, requests)
        single.append(time.perf_counter() - start)
        pairs = binding_pairs(space, dist, costs, 100, seed)
        start = time.perf_counter()
        answers = generate(space, dist, costs, pairs, on_infeasible="report")
        double.append(time.perf_counter() - start)
        proven = proven and all(a.proven_optimal if a.feasible else a.proven for a in answers)
        infeasible += sum(not a.feasible for a in answers)
        shares.append(binding_share(space, dist, costs, pairs, answers))
    return {"space": f"{decisions}x{candidates}", "instances": instances,
            "one_budget_100_s": {"median": float(np.median(single)), "slowest": max(single)},
            "two_binding_budgets_100_s": {"median": float(np.median(double)), "slowest": max(double)},
            "both_bind_share_of_feasible_pairs": float(np.mean(shares)),
            "infeasible_pairs_reported": infeasible, "all_proven_optimal": proven}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("stage", "eng", "all"), default="all")
    parser.add_argument("--instances", type=int, default=20)
    args = parser.parse_args()
    machine = f"{cpu_name()} ({os.cpu_count()} cores), Python {platform.python_version()}, numpy {np.__version__}"
    out: dict = {"machine": machine, "load_average": os.getloadavg()}
    if args.part in ("stage", "all"):
        out["stage_end"] = [stage_step(28, 8), stage_step(21, 7)]
    if args.part in ("eng", "all"):
        out["eng_vs_brute_force"] = eng_small()
        out["eng"] = [eng_instances(28, 8, args.instances), eng_instances(21, 7, args.instances)]
    out["load_average_after"] = os.getloadavg()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
