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


def integer_problem(decisions: int, candidates: int, seed: int):
    """A random ENG instance in integers (θ scaled by 10^6, costs 100..3000 per candidate): both solvers see it."""
    rng = np.random.default_rng(seed)
    space = SearchSpace([Decision(f"d{i}", [f"c{k}" for k in range(candidates)]) for i in range(decisions)])
    dist = CategoricalDistribution.uniform(space)
    dist.theta = np.round(rng.dirichlet(np.ones(candidates), size=decisions) * 1e6)
    tables = {name: np.round(rng.uniform(100, 3000, size=(decisions, candidates))) for name in ("flops_m", "params_m")}
    fixed = {"flops_m": 2000, "params_m": 200}
    costs = {name: CostTable(name, fixed[name], tables[name]) for name in tables}
    return space, dist, costs, tables, fixed


def integer_budgets(space, dist, costs, names, rng) -> dict:
    """Integer budgets between the cheapest architecture's cost and the unconstrained answer's, per name."""
    free = generate(space, dist, costs, {})
    out = {}
    for name in names:
        table = costs[name]
        low = table.fixed + sum(r.min() for r in table.per_candidate)
        out[name] = float(np.floor(low + rng.uniform(0.05, 0.95) * (free.costs[name] - low)))
    return out


def compare(kind: str, ours: list[float], theirs: list[float], same: list[bool], extra: dict | None = None) -> dict:
    ratio = np.array(ours) / np.maximum(np.array(theirs), 1e-9)
    row = {"request": kind, "requests": len(ours), "ddp_core_ms_median": 1e3 * float(np.median(ours)),
           "cpsat_ms_median": 1e3 * float(np.median(theirs)), "ratio_median": float(np.median(ratio)),
           "ratio_max": float(ratio.max()), "optima_identical": all(same), **(extra or {})}
    print(f"{kind:<36}{row['ddp_core_ms_median']:>10.1f}{row['cpsat_ms_median']:>10.1f}"
          f"{row['ratio_median']:>8.2f}{row['ratio_max']:>8.2f}  {'identical' if all(same) else 'DIFFER'}", flush=True)
    return row


def eng_vs_cpsat_groups(decisions: int, candidates: int, names: tuple[str, ...], instances: int) -> dict:
    """One request per call on random integer instances, ddp-core's generate() against CP-SAT (1 worker)."""
    from eng_cpsat import group_knapsack

    ours, theirs, same = [], [], []
    for seed in range(instances):
        space, dist, costs, tables, fixed = integer_problem(decisions, candidates, 7919 * decisions + seed)
        budget = integer_budgets(space, dist, costs, names, np.random.default_rng(seed))
        start = time.process_time()
        answer = generate(space, dist, costs, [budget], on_infeasible="report", time_limit_s=None)[0]
        ours.append(time.process_time() - start)
        found = round(answer.expectation * decisions) if answer.feasible else None
        reference = group_knapsack(dist.theta, tables, fixed, budget)
        theirs.append(reference["seconds"])
        same.append(found == reference["optimum"])
    label = f"{'one budget' if len(names) == 1 else 'two binding budgets'}, {decisions} x {candidates}"
    return compare(label, ours, theirs, same)


def darts_instance(seed: int):
    """The DARTS space with random θ and its CIFAR evaluation network's exact costs in parameters and MACs."""
    from ddp_vision.darts.costs import EvalNetworkSpec, eval_cost_tables
    from ddp_vision.darts.genotypes import cell_edges
    from ddp_vision.darts.space import build_search_space

    space = build_search_space()
    rng = np.random.default_rng(seed)
    theta = np.round(rng.dirichlet(np.ones(space.max_candidates), size=space.num_decisions) * 1e6)
    scaled = eval_cost_tables(space, EvalNetworkSpec(), 4)
    costs = {n: CostTable(n, round(t.fixed * 1e6), [np.round(np.asarray(r) * 1e6) for r in t.per_candidate])
             for n, t in scaled.items()}
    return space, theta, costs, cell_edges(4)


def darts_requests(space, theta, costs, kind: str, rng) -> dict:
    from ddp_vision.darts.derivation import generate_genotypes

    if kind == "N + H":
        return {"nonparam_ops": float(rng.choice([2, 4, 6])), "cell_height": float(rng.choice([2, 3]))}
    free = generate_genotypes(space, theta, space.full_mask(), costs, [{}], time_limit_s=None)[0]
    low = {n: t.fixed + sum(sorted(r)[0] for r in t.per_candidate) for n, t in costs.items()}  # a loose floor
    names = ("params_m",) if kind == "params" else ("params_m", "flops_m")
    return {n: float(np.floor(low[n] + rng.uniform(0.5, 0.95) * (free.costs[n] - low[n]))) for n in names}


def eng_vs_cpsat_darts(kind: str, instances: int) -> dict:
    from eng_cpsat import darts_cells

    from ddp_vision.darts.derivation import generate_genotypes

    ours, theirs, same = [], [], []
    for seed in range(instances):
        space, theta, costs, edges = darts_instance(seed)
        budget = darts_requests(space, theta, costs, kind, np.random.default_rng(seed))
        live = space.full_mask()
        start = time.process_time()
        answer = generate_genotypes(space, theta, live, costs, [budget], on_infeasible="report", time_limit_s=None)[0]
        ours.append(time.process_time() - start)
        found = round(answer.expectation * 16) if answer.feasible else None
        usable = live & np.array([[c.name != "none" for c in d.candidates] for d in space.decisions])
        nonparam = space.tag_mask("nonparam")
        additive = {n: np.array([np.asarray(r) for r in t.per_candidate]) for n, t in costs.items()}
        reference = darts_cells(theta, usable, nonparam, additive, {n: t.fixed for n, t in costs.items()},
                                budget, edges)
        theirs.append(reference["seconds"])
        same.append(found == reference["optimum"])
    return compare(f"DARTS cell, {kind}", ours, theirs, same)


def darts_batch(requests: int = 13) -> dict:
    """A batch mixing params-only and params + FLOPs requests in one call, against the same requests one by one."""
    from ddp_vision.darts.derivation import generate_genotypes

    space, theta, costs, _ = darts_instance(0)
    rng = np.random.default_rng(1)
    budgets = [darts_requests(space, theta, costs, "params" if i % 2 else "params + FLOPs", rng)
               for i in range(requests)]
    start = time.process_time()
    batch = generate_genotypes(space, theta, space.full_mask(), costs, budgets, on_infeasible="report",
                               time_limit_s=None)
    together = time.process_time() - start
    alone, same = 0.0, True
    for budget, answer in zip(budgets, batch, strict=True):
        start = time.process_time()
        single = generate_genotypes(space, theta, space.full_mask(), costs, [budget], on_infeasible="report",
                                    time_limit_s=None)[0]
        alone += time.process_time() - start
        same = same and round(single.expectation * 16) == round(answer.expectation * 16)
    row = {"requests": requests, "batch_s": together, "one_by_one_s": alone, "ratio": together / alone,
           "answers_identical": same}
    print(f"DARTS batch of {requests}: {together:.3f} s in one call, {alone:.3f} s one by one "
          f"(ratio {together / alone:.2f}), answers {'identical' if same else 'DIFFER'}", flush=True)
    return row


def groups_batch(requests: int = 13) -> dict:
    """Two-budget requests on one 50 x 8 instance in one call, against the same requests one by one."""
    space, dist, costs, _, _ = integer_problem(50, 8, 1)
    rng = np.random.default_rng(2)
    budgets = [integer_budgets(space, dist, costs, ("flops_m", "params_m"), rng) for _ in range(requests)]
    start = time.process_time()
    batch = generate(space, dist, costs, budgets, on_infeasible="report", time_limit_s=None)
    together = time.process_time() - start
    alone, same = 0.0, True
    for budget, answer in zip(budgets, batch, strict=True):
        start = time.process_time()
        single = generate(space, dist, costs, [budget], on_infeasible="report", time_limit_s=None)[0]
        alone += time.process_time() - start
        same = same and single.feasible == answer.feasible and (
            not answer.feasible or round(single.expectation * 50) == round(answer.expectation * 50))
    row = {"requests": requests, "batch_s": together, "one_by_one_s": alone, "ratio": together / alone,
           "answers_identical": same}
    print(f"two-budget batch of {requests} (50 x 8): {together:.3f} s in one call, {alone:.3f} s one by one "
          f"(ratio {together / alone:.2f}), answers {'identical' if same else 'DIFFER'}", flush=True)
    return row


def eng_vs_cpsat(instances: int) -> dict:
    print(f"{'request (process CPU time)':<36}{'ddp ms':>10}{'CP-SAT ms':>10}{'median':>8}{'max':>8}")
    rows = [eng_vs_cpsat_groups(28, 8, ("flops_m",), instances), eng_vs_cpsat_groups(100, 16, ("flops_m",), instances)]
    for decisions, candidates in ((28, 8), (50, 8), (100, 16)):
        rows.append(eng_vs_cpsat_groups(decisions, candidates, ("flops_m", "params_m"), instances))
    for kind in ("N + H", "params", "params + FLOPs"):
        rows.append(eng_vs_cpsat_darts(kind, instances))
    return {"requests": rows, "darts_batch": darts_batch(), "groups_batch": groups_batch()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("stage", "eng", "cpsat", "all"), default="all")
    parser.add_argument("--instances", type=int, default=20)
    args = parser.parse_args()
    machine = f"{cpu_name()} ({os.cpu_count()} cores), Python {platform.python_version()}, numpy {np.__version__}"
    out: dict = {"machine": machine, "load_average": os.getloadavg()}
    if args.part in ("stage", "all"):
        out["stage_end"] = [stage_step(28, 8), stage_step(21, 7)]
    if args.part in ("eng", "all"):
        out["eng_vs_brute_force"] = eng_small()
        out["eng"] = [eng_instances(28, 8, args.instances), eng_instances(21, 7, args.instances)]
    if args.part in ("cpsat", "all"):
        out["eng_vs_cpsat"] = eng_vs_cpsat(args.instances)
    out["load_average_after"] = os.getloadavg()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
