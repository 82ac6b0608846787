#!/usr/bin/env python
"""DDPNAS on NAS-Bench-Macro, a real tabular oracle: search, ENG under budgets, and a comparison with
random search at equal queries over many seeds.

    python tools/search_tabular.py                     # defaults: T=3, 20 comparison seeds, runs/tabular
    python tools/search_tabular.py --resume runs/tabular
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ddp_core import CostTable, ProgressPrinter, SearchConfig, generate, pareto_front, plot_pareto_front
from ddp_core.cli import add_search_arguments, run_directory, search_config_from_args
from ddp_core.persistence import write_json_atomic
from ddp_core.tabular import (
    NasBenchMacro,
    compare_with_random,
    key_of,
    macro_costs,
    macro_search,
    macro_space,
    parse_budgets,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BENCHMARK = REPO / "data" / "nas-bench-macro" / "nas-bench-macro_cifar10.json"


class SlowDown:
    """Sleeps after each sample (only for demonstrating kill and resume)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_sample(self, search, event) -> None:
        time.sleep(self.seconds)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmark", type=Path, default=DEFAULT_BENCHMARK, help="NAS-Bench-Macro JSON")
    add_search_arguments(parser)
    parser.add_argument("--compare-seeds", type=int, default=20, help="seeds for the random-search comparison (0: skip)")
    parser.add_argument("--compare-rounds", default="3,5,10", help="values of T to compare (comma-separated)")
    parser.add_argument("--params-m", default="1.0,1.5,2.0", help="ENG parameter budgets (millions)")
    parser.add_argument("--flops-m", default="40,60,80", help="ENG MAC budgets (millions)")
    parser.add_argument("--quiet", action="store_true", help="no per-sample lines")
    parser.add_argument("--sleep-per-sample", type=float, default=0.0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def scaled_costs() -> dict[str, CostTable]:
    tables = macro_costs()
    return {
        f"{name}_m": CostTable(f"{name}_m", t.fixed / 1e6, [row / 1e6 for row in t.per_candidate])
        for name, t in tables.items()
    }


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    run_dir = run_directory(args, Path("runs/tabular"))
    benchmark = NasBenchMacro(args.benchmark)

    def make_config(seed: int) -> SearchConfig:
        config = search_config_from_args(args)
        config.seed = seed
        return config

    callbacks = [] if args.quiet else [ProgressPrinter()]
    if args.sleep_per_sample:
        callbacks.append(SlowDown(args.sleep_per_sample))
    found = macro_search(benchmark, make_config(args.seed), run_dir=run_dir, callbacks=tuple(callbacks))
    result = found["result"]
    print(f"\nfound {found['key']}  {found['described']}")
    print(f"true mean test accuracy {found['true_mean_acc']:.3f}%  rank {found['rank']} of {benchmark.num_distinct} "
          f"distinct networks  ({found['queries']} queries; best in the space: {benchmark.best_key()} "
          f"{benchmark.entries[benchmark.best_key()].mean_acc:.3f}%)")

    costs = scaled_costs()
    requests = [{"params_m": b} for b in parse_budgets(args.params_m)]
    requests += [{"flops_m": b} for b in parse_budgets(args.flops_m)]
    # The search prunes every layer down to one candidate, so ENG ranks the full space: pruned candidates
    # count with the θ they had when pruned.
    engs = generate(macro_space(), result.distribution, costs, requests, live_only=False) if requests else []
    print("\nENG (exact, full space; pruned candidates weighted by their θ at pruning):")
    eng_rows = []
    for answer in engs:
        key = key_of(answer.architecture)
        row = {**answer.to_dict(), "key": key, "true_mean_acc": benchmark.entries[key].mean_acc,
               "rank": benchmark.rank(key)}
        eng_rows.append(row)
        budget = ", ".join(f"{k} <= {v:g}" for k, v in answer.budgets.items())
        print(f"  {budget:>16}: {key}  E[α]={answer.expectation:.4f}  params {answer.costs['params_m']:.3f}M  "
              f"flops {answer.costs['flops_m']:.2f}M  true acc {row['true_mean_acc']:.2f}%  rank {row['rank']}")
    front = pareto_front(macro_space(), result.distribution, costs, "flops_m", live_only=False, points=60)
    plot_pareto_front(front, "flops_m", run_dir / "pareto_flops.png", "NAS-Bench-Macro: ENG over the full space",
                      highlight=[a for a in engs if "flops_m" in a.budgets])

    report = {
        "found": {k: v for k, v in found.items() if k != "result"},
        "eng": eng_rows,
        "pareto_flops": [r.to_dict() for r in front],
    }
    if args.compare_seeds > 0:
        report["comparison"] = []
        print(f"\nDDPNAS vs random search at equal queries, {args.compare_seeds} seeds each (true mean test accuracy "
              "of the pick; its rank among 3969 distinct networks):")
        print(f"  {'T':>3}{'queries':>9}  {'method':<14}{'mean acc %':>11}{'std':>7}{'mean rank':>11}"
              f"{'median rank':>13}{'DDP <= random':>15}")
        for rounds in parse_budgets(args.compare_rounds):
            def config_for(seed: int, rounds: int = int(rounds)) -> SearchConfig:
                config = make_config(seed)
                config.rounds_per_stage = rounds
                return config

            comparison = compare_with_random(benchmark, config_for, args.compare_seeds)
            comparison["rounds_per_stage"] = int(rounds)
            report["comparison"].append(comparison)
            for name, label in (("ddp", "DDPNAS"), ("random", "random search")):
                stats = comparison[name]
                wins = f"{comparison['ddp_better_or_equal']}/{comparison['seeds']}" if name == "ddp" else ""
                print(f"  {int(rounds):>3}{comparison['queries']:>9}  {label:<14}{stats['acc']['mean']:>11.3f}"
                      f"{stats['acc']['std']:>7.3f}{stats['rank']['mean']:>11.1f}{stats['rank']['median']:>13.1f}"
                      f"{wins:>15}")
    write_json_atomic(run_dir / "report.json", report)
    print(f"\nwrote {run_dir / 'report.json'}, {run_dir / 'theta_history.png'}, {run_dir / 'pareto_flops.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
