"""Stage levels of the quality model: stationary scores against scores that rise as a supernet trains.

The default search fits a free level per stage (a supernet's scores rise while it trains);
``SearchConfig(stationary_scores=True)`` fits one level (stand-alone training, a benchmark table); ``linked``
(``ddp_core.quality.STAGE_LEVELS``, an ablation) takes the levels from networks scored in two stages. Each is run
on the tabular problems of ``quality_problems.py`` as they are (stationary) and with every score raised by
``drift`` standard deviations of the problem's true accuracies per stage (a supernet-like rise), given the
problem's cost tables as the tools give them. Per search: the rank of ``result.generate``'s network for each
budget (10/25/50/75% cost quantiles, among the distinct networks that meet it) and of the unconstrained answer.
The table gives the mean over budgets and seeds of log rank, its paired difference against ``free`` (negative:
better) with its standard error over seeds, and the unconstrained median rank.

    python benchmarks/stage_levels.py --seeds 30 --rounds 10 --drift 0,1
"""

from __future__ import annotations

import argparse
import json
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from peers import run_ddpnas
from quality_problems import make_problem

import ddp_core.quality

MODES = ("free", "stationary", "linked")
PROBLEMS = ("cell-1", "mixed-1", "macro", "cell-1+noise0.57", "macro+noise0.57", "mixed-1+noise0.57")


def job(arguments) -> dict:
    name, mode, drift, rounds, seed = arguments
    ddp_core.quality.STAGE_LEVELS = "linked" if mode == "linked" else "free"
    problem = make_problem(name)
    search = run_ddpnas(problem, "joint", rounds, seed, costs=problem.cost_tables,
                        rise_per_stage=drift * float(np.std(problem.true)), stationary_scores=mode == "stationary")
    result = search.result()
    budgets = problem.budgets()
    ranks, gaps = [], []
    for budget, answer in zip(budgets, result.generate(problem.cost_tables, budgets), strict=True):
        ranking = problem.feasible_sorted_true(budget)
        ranks.append(problem.rank_under(answer.architecture, budget, ranking))
        gaps.append(float(ranking[0] - problem.true[problem.index(answer.architecture)]))
    return {"problem": name, "mode": mode, "drift": drift, "rounds": rounds, "seed": seed, "budget_ranks": ranks,
            "budget_gaps": gaps, "rank": problem.rank(result.architecture)}


def table(runs: list[dict]) -> list[str]:
    lines = ["| problem | drift | setting | mean log rank per budget | vs free (paired, ± se) | > 5 points below "
             "| unconstrained median rank |", "|---|---|---|---|---|---|---|"]
    keys = sorted({(r["problem"], r["drift"]) for r in runs}, key=lambda k: (k[1], PROBLEMS.index(k[0])
                                                                          if k[0] in PROBLEMS else 99, k[0]))
    for name, drift in keys:
        by_mode = {m: sorted((r for r in runs if (r["problem"], r["drift"], r["mode"]) == (name, drift, m)),
                             key=lambda r: r["seed"]) for m in MODES}
        base = np.array([np.mean(np.log(r["budget_ranks"])) for r in by_mode["free"]])
        for mode, rows in by_mode.items():
            if not rows:
                continue
            logs = np.array([np.mean(np.log(r["budget_ranks"])) for r in rows])
            paired = logs - base if len(base) == len(logs) else np.full(len(logs), np.nan)
            below = np.mean([g > 0.05 for r in rows for g in r["budget_gaps"]])
            lines.append(f"| {name} | {drift:g} | {mode} | {logs.mean():.2f} | {paired.mean():+.2f} ± "
                         f"{paired.std(ddof=1) / np.sqrt(len(paired)):.2f} | {below:.0%} | "
                         f"{np.median([r['rank'] for r in rows]):.0f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", default=",".join(PROBLEMS))
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--drift", default="0,1", help="score rise per stage, in sds of the true accuracies")
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/stage_levels.json"))
    args = parser.parse_args()
    jobs = [(name, mode, float(drift), args.rounds, seed) for drift in args.drift.split(",")
            for name in args.problems.split(",") for mode in args.modes.split(",") for seed in range(args.seeds)]
    started = time.time()
    with Pool(args.processes) as pool:
        runs = []
        for i, run in enumerate(pool.imap(job, jobs), 1):
            runs.append(run)
            if i % args.seeds == 0:
                print(f"[{i}/{len(jobs)}] {run['problem']} drift {run['drift']:g} {run['mode']} "
                      f"({time.time() - started:.0f} s)", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"seeds": args.seeds, "rounds": args.rounds, "runs": runs}) + "\n")
    print("\n".join(table(runs)))


if __name__ == "__main__":
    main()
