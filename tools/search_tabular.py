#!/usr/bin/env python
"""DDPNAS on NAS-Bench-Macro, a real tabular oracle: search, ENG under budgets, and a comparison with
random search at equal queries over many seeds. A table's scores do not drift while the search runs, so the
search is told so (``SearchConfig(stationary_scores=True)``: one score level for every stage).

    python tools/search_tabular.py                     # defaults: joint preset, T=3, 20 comparison seeds
    python tools/search_tabular.py --utility paper     # the paper's Eq. 2-5
    python tools/search_tabular.py --budget flops_m=40 --budget params_m=1.5 --budget-search  # budgets told first
    python tools/search_tabular.py --resume runs/tabular-<time> [the same flags]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ddp_core import (
    CostTable,
    DDPSearch,
    ProgressBar,
    SearchConfig,
    TrackerCallback,
    final_summary,
    pareto_front,
    plot_pareto_front,
    run_cli,
)
from ddp_core.budgets import add_budget_arguments, budget_flags, requests_from_args, suggested_budgets
from ddp_core.cli import (
    add_search_arguments,
    check_planned_evaluations,
    prepare_run_directory,
    search_config_from_args,
)
from ddp_core.persistence import write_json_atomic
from ddp_core.search_budgets import check_budgets
from ddp_core.tabular import (
    MacroOracle,
    NasBenchMacro,
    compare_with_random,
    key_of,
    macro_costs,
    macro_space,
    noise_for_kendall_tau,
)
from ddp_core.validation import argument_type
from ddp_vision.accelerator import make_accelerator, tracker_config
from ddp_vision.arguments import OneLineArgumentParser
from ddp_vision.search_cli import apply_threads, check_resume

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BENCHMARK = REPO / "data" / "nas-bench-macro" / "nas-bench-macro_cifar10.json"
DEFAULT_BUDGETS = ({"params_m": 1.0}, {"params_m": 1.5}, {"params_m": 2.0}, {"flops_m": 40.0}, {"flops_m": 60.0},
                   {"flops_m": 80.0})


class SlowDown:
    """Sleeps after each sample (only for demonstrating kill and resume)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_sample(self, search, event) -> None:
        time.sleep(self.seconds)


def budget_list(flag: str, integer: bool = False):
    """argparse ``type=`` for comma-separated positive numbers (``40,60,80``); an empty string is none."""
    one = argument_type(flag, integer=integer, minimum=0, exclusive_minimum=True)

    def parse(text: str) -> list[float]:
        return [one(part.strip()) for part in text.split(",") if part.strip()]

    parse.__name__ = flag
    return parse


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = OneLineArgumentParser(prog="tools/search_tabular.py", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmark", type=Path, default=DEFAULT_BENCHMARK, help="NAS-Bench-Macro JSON")
    add_search_arguments(parser)
    parser.add_argument("--compare-seeds", type=argument_type("--compare-seeds", integer=True, minimum=0), default=20,
                        help="seeds for the random-search comparison (0: skip)")
    parser.add_argument("--compare-rounds", type=budget_list("--compare-rounds", integer=True), default="3,5,10",
                        help="values of T to compare (comma-separated)")
    add_budget_arguments(parser, ("params_m", "flops_m"),
                         help_extra="ENG after the search. Default: " + budget_flags(DEFAULT_BUDGETS) + ".")
    parser.add_argument("--budget-search", action="store_true",
                        help="tell the search the --budget requests before it starts: the default preset's target "
                             "slots spend their evaluations on networks that meet them (saved in the run and checked "
                             "on resume; default preset only)")
    parser.add_argument("--noise-kendall-tau", type=argument_type("--noise-kendall-tau", minimum=0, maximum=1,
                        exclusive_minimum=True, exclusive_maximum=True), default=None, metavar="TAU",
                        help="add fresh noise to every score so that scores and true accuracies have Kendall TAU "
                             "(weight sharing: ~0.57, the paper's Fig. 7)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--sleep-per-sample", type=argument_type("--sleep-per-sample", minimum=0), default=0.0,
                        help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def scaled_costs() -> dict[str, CostTable]:
    tables = macro_costs()
    return {
        f"{name}_m": CostTable(f"{name}_m", t.fixed / 1e6, [row / 1e6 for row in t.per_candidate])
        for name, t in tables.items()
    }


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    apply_threads(args.threads)
    run_dir = prepare_run_directory(args, Path("runs") / f"tabular-{time.strftime('%Y%m%d-%H%M%S')}",
                                    kind=macro_space().metadata["kind"])
    costs = scaled_costs()
    requests = requests_from_args(args, combine="separate", keys=("params_m", "flops_m")) or list(DEFAULT_BUDGETS)
    config = dataclasses.replace(search_config_from_args(args), stationary_scores=True)  # a table: no drift
    if args.budget_search:
        config.budgets = check_budgets(requests)
    description = {"--benchmark": str(args.benchmark.expanduser().resolve()), "--noise-kendall-tau": args.noise_kendall_tau}
    check_resume(run_dir, config, description)
    check_planned_evaluations(macro_space(), config)  # before the table loads: T x stages past the cap is one line
    benchmark = NasBenchMacro(args.benchmark)
    noise_sd = 0.0 if args.noise_kendall_tau is None else noise_for_kendall_tau(benchmark, args.noise_kendall_tau)

    def make_config(seed: int) -> SearchConfig:
        return dataclasses.replace(search_config_from_args(args), seed=seed, stationary_scores=True)

    accelerator = make_accelerator("no", run_dir=run_dir, cpu=True, report_to=args.report_to)  # trackers only
    callbacks: list = [TrackerCallback(accelerator.log)] + ([] if args.quiet else [ProgressBar("NAS-Bench-Macro")])
    if args.sleep_per_sample:
        callbacks.append(SlowDown(args.sleep_per_sample))
    search = DDPSearch(macro_space(), MacroOracle(benchmark, seed=config.seed, noise_sd=noise_sd), config, run_dir=run_dir,
                       callbacks=callbacks, description=description, costs=costs)
    accelerator.init_trackers("search", config=tracker_config({**description, **config.signature()}))
    if search.steps:
        print(f"resuming {run_dir} at evaluation {search.steps} of {search.total_steps}", flush=True)
    result = search.run()
    accelerator.end_training()
    key = key_of(result.architecture)
    found = {"key": key, "described": result.describe(), "true_mean_acc": benchmark.entries[key].mean_acc,
             "rank": benchmark.rank(key), "queries": result.steps}
    print(f"\nfound {found['key']}  {found['described']}")
    print(f"true mean test accuracy {found['true_mean_acc']:.3f}%  rank {found['rank']} of {benchmark.num_distinct} "
          f"distinct networks  ({found['queries']} queries; best in the space: {benchmark.best_key()} "
          f"{benchmark.entries[benchmark.best_key()].mean_acc:.3f}%)")

    # The recommended network per budget over the whole space (the search prunes every layer to one candidate);
    # a budget no network meets is reported in its place.
    engs = result.generate(costs, requests)
    print("\nENG (the recommended network per budget, whole space):")
    eng_rows = []
    for answer in engs:
        budget = ", ".join(f"{k} <= {v:g}" for k, v in answer.budgets.items())
        if not answer.feasible:
            eng_rows.append(answer.to_dict())
            print(f"  {budget:>16}: infeasible: {answer.message}")
            continue
        key = key_of(answer.architecture)
        row = {**answer.to_dict(), "key": key, "true_mean_acc": benchmark.entries[key].mean_acc,
               "rank": benchmark.rank(key)}
        eng_rows.append(row)
        print(f"  {budget:>16}: {key}  E[α]={answer.expectation:.4f}  params {answer.costs['params_m']:.3f}M  "
              f"flops {answer.costs['flops_m']:.2f}M  true acc {row['true_mean_acc']:.2f}%  rank {row['rank']}")
        print(f"  {'':>16}  how: {answer.how}")
    front = pareto_front(macro_space(), result.distribution, costs, "flops_m", live_only=False, points=60)
    plot_pareto_front(front, "flops_m", run_dir / "pareto_flops.png", "NAS-Bench-Macro: ENG over the full space",
                      highlight=[a for a in engs if a.feasible and "flops_m" in a.budgets])

    report = {
        "found": found,
        "eng": eng_rows,
        "pareto_flops": [r.to_dict() for r in front],
    }
    if args.compare_seeds > 0:
        report["comparison"] = []
        print(f"\nDDPNAS vs random search at equal queries, {args.compare_seeds} seeds each (true mean test accuracy "
              "of the pick; its rank among 3969 distinct networks):")
        print(f"  {'T':>3}{'queries':>9}  {'method':<14}{'mean acc %':>11}{'std':>7}{'mean rank':>11}"
              f"{'median rank':>13}{'DDP <= random':>15}")
        for rounds in args.compare_rounds:
            def config_for(seed: int, rounds: int = int(rounds)) -> SearchConfig:
                return dataclasses.replace(make_config(seed), rounds_per_stage=rounds, max_evaluations=None)

            comparison = compare_with_random(benchmark, config_for, args.compare_seeds, noise_sd=noise_sd)
            comparison["rounds_per_stage"] = int(rounds)
            report["comparison"].append(comparison)
            for name, label in (("ddp", "DDPNAS"), ("random", "random search")):
                stats = comparison[name]
                wins = f"{comparison['ddp_better_or_equal']}/{comparison['seeds']}" if name == "ddp" else ""
                print(f"  {int(rounds):>3}{comparison['queries']:>9}  {label:<14}{stats['acc']['mean']:>11.3f}"
                      f"{stats['acc']['std']:>7.3f}{stats['rank']['mean']:>11.1f}{stats['rank']['median']:>13.1f}"
                      f"{wins:>15}")
    write_json_atomic(run_dir / "report.json", report)
    print()
    # checked with the ENG tools/generate.py runs on this run by default (the same recommended network)
    if config.budgets:  # the budgets the search was told
        next_command = f"python tools/generate.py {run_dir} {budget_flags(config.budgets)}"
    else:
        suggested = suggested_budgets(result.space, costs, "flops_m", lambda budgets: result.generate(costs, budgets))
        next_command = f"python tools/generate.py {run_dir} {budget_flags([{'flops_m': b} for b in suggested])}"
    print(final_summary(run_dir, result, next_command,
                        {"report": f"{run_dir / 'report.json'}, {run_dir / 'pareto_flops.png'}"}))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
