#!/usr/bin/env python
"""Search quality at equal evaluations: DDPNAS presets against random search, regularized evolution and TPE.

    python benchmarks/search_quality.py                               # NAS-Bench-Macro, T = 3, 5, 10, 30 seeds,
                                                                      # noise-free and weight-sharing noise
    python benchmarks/search_quality.py --problems graph-cora,pairwise-1 --seeds 20 --methods joint,random,rea
    python benchmarks/search_quality.py --out results.json            # every pick, for later tables

Each DDPNAS preset runs through ask/tell with T rounds per stage and spends N(T) evaluations; every peer gets
exactly the same N for the same seed. Every method's pick is ranked by true accuracy (1 = the best network).
Peers return their best observed score's architecture, as their libraries do. Problems: quality_problems.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import deque
from multiprocessing import Pool
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality_problems import evaluations_per_round_sum, log_rank, make_problem  # noqa: E402

from ddp_core import DDPSearch, SearchConfig  # noqa: E402

PEERS = ("random", "rea", "tpe")
PRESET_NAMES = ("joint", "paper", "authors")


def run_ddpnas(problem, utility: str, rounds: int, seed: int):
    rng = np.random.default_rng(10_000 + seed)
    search = DDPSearch(problem.space(), config=SearchConfig(utility=utility, rounds_per_stage=rounds, seed=seed),
                       higher_is_better=True)
    while not search.finished:
        for architecture in search.ask():
            search.tell(architecture, problem.score(architecture, rng))
    return search.result().architecture, search.steps


def random_architecture(problem, rng):
    return tuple(int(rng.integers(s)) for s in problem.sizes)


def run_random(problem, budget: int, seed: int):
    rng = np.random.default_rng(20_000 + seed)
    history = [(a, problem.score(a, rng)) for a in (random_architecture(problem, rng) for _ in range(budget))]
    return max(history, key=lambda item: item[1])[0]


def run_rea(problem, budget: int, seed: int, population_size: int = 10, tournament: int = 5):
    """Regularized evolution (Real et al., 2019): the oldest member dies; one mutated decision per child."""
    rng = np.random.default_rng(30_000 + seed)
    population: deque = deque()
    history = []
    while len(history) < budget:
        if len(population) < population_size:
            child = random_architecture(problem, rng)
        else:
            entrants = [population[i] for i in rng.choice(len(population), size=tournament, replace=False)]
            parent = list(max(entrants, key=lambda item: item[1])[0])
            e = int(rng.integers(len(parent)))
            parent[e] = int(rng.choice([k for k in range(problem.sizes[e]) if k != parent[e]]))
            child = tuple(parent)
        item = (child, problem.score(child, rng))
        population.append(item)
        history.append(item)
        if len(population) > population_size:
            population.popleft()
    return max(history, key=lambda item: item[1])[0]


def run_tpe(problem, budget: int, seed: int):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(40_000 + seed)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))

    def objective(trial):
        architecture = tuple(trial.suggest_categorical(f"d{e}", list(range(s))) for e, s in enumerate(problem.sizes))
        return problem.score(architecture, rng)

    study.optimize(objective, n_trials=budget)
    return tuple(study.best_params[f"d{e}"] for e in range(len(problem.sizes)))


_PROBLEMS: dict = {}


def job(arguments):
    problem_name, method, rounds, seed = arguments
    if problem_name not in _PROBLEMS:
        _PROBLEMS[problem_name] = make_problem(problem_name)
    problem = _PROBLEMS[problem_name]
    budget = evaluations_per_round_sum(problem) * rounds
    started = time.perf_counter()
    if method in PRESET_NAMES:
        architecture, spent = run_ddpnas(problem, method, rounds, seed)
        assert spent == budget, (spent, budget)
    else:
        architecture = {"random": run_random, "rea": run_rea, "tpe": run_tpe}[method](problem, budget, seed)
    return {"problem": problem_name, "method": method, "rounds": rounds, "seed": seed, "evaluations": budget,
            "architecture": list(architecture), "rank": problem.rank(architecture),
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
    header = f"{'problem':<22}{'T':>3}{'evals':>6}  {'method':<8}{'mean rank':>10}{'median':>8}" + "".join(
        f"{'<= ' + p:>9}" for p in peers)
    print(header)
    for entry in table:
        cells = "".join(f"{(str(entry.get(f'wins_or_ties_vs_{p}', '')) + '/' + str(entry['seeds'])) if p != entry['method'] else '':>9}"
                        for p in peers)
        print(f"{entry['problem']:<22}{entry['rounds']:>3}{entry['evaluations']:>6}  {entry['method']:<8}"
              f"{entry['mean_rank']:>10.1f}{entry['median_rank']:>8.1f}{cells}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", default="macro,macro+noise0.57")
    parser.add_argument("--rounds", default="3,5,10", help="values of T")
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--methods", default="joint,paper,authors,random,rea,tpe")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="write every pick and the summary as JSON")
    args = parser.parse_args(argv)
    methods = args.methods.split(",")
    problems = args.problems.split(",")
    rounds = [int(t) for t in args.rounds.split(",")]
    jobs = [(p, m, t, s) for p in problems for t in rounds for m in methods for s in range(args.seeds)]
    started = time.perf_counter()
    with Pool(args.processes) as pool:
        rows = []
        for i, row in enumerate(pool.imap(job, jobs, chunksize=2), 1):
            rows.append(row)
            if i % max(1, len(jobs) // 20) == 0:
                print(f"  {i}/{len(jobs)} runs ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    table = summarise(rows, methods)
    print_table(table, methods)
    if args.out is not None:
        args.out.write_text(json.dumps({"summary": table, "runs": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
