#!/usr/bin/env python
"""Search quality at equal evaluations: DDPNAS presets against random search, regularized evolution and TPE.

    python benchmarks/search_quality.py                               # NAS-Bench-Macro, T = 3, 5, 10, 30 seeds,
                                                                      # noise-free and weight-sharing noise
    python benchmarks/search_quality.py --problems graph-cora,pairwise-1 --seeds 20 --methods joint,random,rea
    python benchmarks/search_quality.py --out results.json            # every pick, for later tables
    python benchmarks/search_quality.py --budgeted --problems macro,cell-1,mixed-1 --rounds 10
                                        # the network per budget (cost quantiles 10-75%): budgeted_quality.py

Each DDPNAS preset runs through ask/tell with T rounds per stage and spends N(T) evaluations; every peer gets
exactly the same N for the same seed. Every method's pick is ranked by true accuracy (1 = the best network).
Peers return their best observed score's architecture, as their libraries do. Problems: quality_problems.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from budgeted_quality import (  # noqa: E402
    BUDGETED_METHODS,
    budgeted_job,
    config_budget_field,
    engine_info,
    has_result_generate,
    print_budgeted,
    summarise_budgeted,
)
from interacting_problems import additive_r2  # noqa: E402
from peers import PEER_RUNNERS, best_observed, rescored, run_ddpnas  # noqa: E402
from quality_problems import BUDGET_QUANTILES, evaluations_per_round_sum, log_rank, make_problem  # noqa: E402

PRESET_NAMES = ("joint", "paper", "authors")
WITH_COSTS = "joint+costs"  # joint given the problem's cost tables without budgets (it spreads targets over them)


_PROBLEMS: dict = {}


def job(arguments):
    problem_name, method, rounds, seed = arguments
    if problem_name not in _PROBLEMS:
        _PROBLEMS[problem_name] = make_problem(problem_name)
    problem = _PROBLEMS[problem_name]
    budget = evaluations_per_round_sum(problem) * rounds
    started = time.perf_counter()
    if method in PRESET_NAMES or method == WITH_COSTS:  # joint+costs: the tools' default (they know the costs)
        costs = problem.cost_tables if method == WITH_COSTS else None
        search = run_ddpnas(problem, method.partition("+")[0], rounds, seed, costs=costs)
        assert search.steps == budget, (search.steps, budget)
        architecture = search.result().architecture
        history = [(r.architecture, r.score) for r in search.record.records]
    else:
        history = PEER_RUNNERS[method](problem, budget, seed)
        architecture = best_observed(history)
    return {"problem": problem_name, "method": method, "rounds": rounds, "seed": seed, "evaluations": budget,
            "architecture": list(architecture), "rank": problem.rank(architecture), "rescored": rescored(history),
            "seconds": time.perf_counter() - started}


def summarise(rows: list[dict], methods: list[str]) -> list[dict]:
    table = []
    for problem in dict.fromkeys(r["problem"] for r in rows):
        for rounds in sorted({r["rounds"] for r in rows if r["problem"] == problem}):
            picks = {m: {r["seed"]: r["rank"] for r in rows if (r["problem"], r["rounds"], r["method"]) == (problem, rounds, m)}
                     for m in methods}
            for method in methods:
                ranks = np.array([picks[method][s] for s in sorted(picks[method])])
                entry = {"problem": problem, "rounds": rounds, "method": method,
                         "evaluations": next(r["evaluations"] for r in rows if r["problem"] == problem and r["rounds"] == rounds),
                         "mean_rank": float(ranks.mean()), "median_rank": float(np.median(ranks)),
                         "mean_log10_rank": log_rank(ranks), "seeds": len(ranks)}
                for peer in methods:
                    if peer != method:
                        entry[f"wins_or_ties_vs_{peer}"] = int(sum(picks[method][s] <= picks[peer][s] for s in picks[method]))
                table.append(entry)
    return table


def print_table(table: list[dict], methods: list[str]) -> None:
    peers = [p for p in ("random", "rea", "tpe") if p in methods]
    header = f"{'problem':<22}{'T':>3}{'evals':>6}  {'method':<12}{'mean rank':>10}{'median':>8}" + "".join(
        f"{'<= ' + p:>9}" for p in peers)
    print(header)
    for entry in table:
        cells = "".join(f"{(str(entry.get(f'wins_or_ties_vs_{p}', '')) + '/' + str(entry['seeds'])) if p != entry['method'] else '':>9}"
                        for p in peers)
        print(f"{entry['problem']:<22}{entry['rounds']:>3}{entry['evaluations']:>6}  {entry['method']:<12}"
              f"{entry['mean_rank']:>10.1f}{entry['median_rank']:>8.1f}{cells}")


def run_pool(worker, jobs: list, processes: int, flatten: bool = False) -> list:
    started = time.perf_counter()
    rows: list = []
    with Pool(processes) as pool:
        for i, row in enumerate(pool.imap(worker, jobs, chunksize=2), 1):
            rows += row if flatten else [row]
            if i % max(1, len(jobs) // 20) == 0 or i == len(jobs):
                print(f"  {i}/{len(jobs)} runs ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    return rows


def print_additive_r2(problems: list[str]) -> dict[str, float]:
    """How additive each problem is: R^2 of a one-hot fit of the true accuracies over the whole table."""
    found = {}
    for name in dict.fromkeys(p.partition("+noise")[0] for p in problems):
        problem = make_problem(name)
        found[name] = additive_r2(problem.sizes, problem.true)
        print(f"{name}: additive R^2 = {found[name]:.3f} over {len(problem.true)} architectures, "
              f"{problem.num_distinct} distinct networks", flush=True)
    return found


def reuse_peers(paths: list[Path], jobs: list, seeds: int) -> tuple[list, list]:
    """Rows of earlier runs for peer jobs (problem, peer, T, seed) they hold, and the jobs left to run."""
    found: dict = {}
    for path in paths:
        for row in json.loads(path.read_text())["runs"]:
            if row["method"] in PEER_RUNNERS and row["seed"] < seeds:
                found.setdefault((row["problem"], row["method"], row["rounds"], row["seed"]), []).append(row)
    reused = [row for j in jobs for row in found.get(j, [])]
    left = [j for j in jobs if j not in found]
    if reused:
        print(f"reused {len(jobs) - len(left)} peer runs from {', '.join(map(str, paths))}", flush=True)
    return reused, left


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", default="macro,macro+noise0.57")
    parser.add_argument("--rounds", default="3,5,10", help="values of T")
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--methods", default=None,
                        help="default: joint,joint+costs,paper,authors,random,rea,tpe; with --budgeted: "
                             + ",".join(BUDGETED_METHODS))
    parser.add_argument("--budgeted", action="store_true", help="the network per budget at cost quantiles")
    parser.add_argument("--budget-search", action="store_true",
                        help="with --budgeted: also default+budgets, the default search told every budget before it starts")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="write every pick and the summary as JSON")
    parser.add_argument("--reuse-peers", type=Path, action="append", default=[],
                        help="take random/REA/TPE picks from an earlier --out JSON of the same mode where it has every "
                             "seed of a problem and T (peers do not use ddp-core: their picks are the same)")
    args = parser.parse_args(argv)
    problems = args.problems.split(",")
    rounds = [int(t) for t in args.rounds.split(",")]
    engine = engine_info()
    where = (f"snapshot of {engine['snapshot_commit']}" if "snapshot_commit" in engine else
             f"checkout at {engine['checkout_commit']}{', with uncommitted changes' if engine['checkout_dirty'] else ''}")
    print(f"ddp-core: {engine['ddp_core_file']} ({where})", flush=True)
    r2 = print_additive_r2(problems)
    if args.budgeted:
        methods = (args.methods or ",".join(BUDGETED_METHODS)).split(",")
        groups = (["ddpnas"] if set(methods) & {"default", "theta-eng", "own-best"} else [])
        groups += [m for m in methods if m in PEER_RUNNERS]
        if args.budget_search and "default+budgets" not in methods:
            methods.append("default+budgets")
        told = [m for m in methods if m in ("default+budgets", "budget-told", "default-blind")]
        if told and config_budget_field() is None:
            print(f"{', '.join(told)}: SearchConfig takes no budgets in this ddp-core; skipped", file=sys.stderr)
            methods = [m for m in methods if m not in told]
        else:
            groups += told
        if "default" not in methods:
            methods.insert(0, "default")
            groups = ["ddpnas"] + [g for g in groups if g != "ddpnas"]
        print(f"default = {'result.generate' if has_result_generate() else 'PLACEHOLDER theta-eng'}", flush=True)
        jobs = [(p, g, t, s) for p in problems for t in rounds for g in groups for s in range(args.seeds)]
        reused, jobs = reuse_peers(args.reuse_peers, jobs, args.seeds)
        rows = reused + run_pool(budgeted_job, jobs, args.processes, flatten=True)
        table = summarise_budgeted(rows, methods, BUDGET_QUANTILES)
        print_budgeted(table)
    else:
        methods = (args.methods or "joint,joint+costs,paper,authors,random,rea,tpe").split(",")
        jobs = [(p, m, t, s) for p in problems for t in rounds for m in methods for s in range(args.seeds)]
        reused, jobs = reuse_peers(args.reuse_peers, jobs, args.seeds)
        rows = reused + run_pool(job, jobs, args.processes)
        table = summarise(rows, methods)
        print_table(table, methods)
    if args.out is not None:
        args.out.write_text(json.dumps({"engine": engine, "additive_r2": r2, "seeds": args.seeds, "summary": table, "runs": rows},
                                       indent=None if args.budgeted else 1, separators=(",", ":") if args.budgeted else None))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
