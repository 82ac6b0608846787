"""How many live candidates should a layer-wise search keep for ENG? Measured on NAS-Bench-Macro.

``python -m ddp_vision.macro.min_live [--seeds 20] [--evaluations 30,60]`` runs DDPNAS (the tabular oracle:
one of the benchmark's three trained seeds per query, so scores carry real noise) with ``min_live`` 1, 2, 3 at
equal evaluations, then asks ENG for the best network under three FLOPs budgets (the 25/50/75 % quantiles of
the benchmark's networks). ``min_live`` 1 prunes to one network, so ENG must search the full space with the θ
pruned candidates had when pruned (what ``tools/generate.py`` falls back to); 2 and 3 search only the live
candidates (``live_only=True``), falling back to the full space for a budget the live candidates cannot meet
(``fallbacks`` counts those); with three candidates per layer, 3 prunes nothing. Each answer is scored by its
true mean test accuracy and by its regret: the gap to the best network the budget allows.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence

import numpy as np

from ddp_core import CostTable, DDPSearch, GenerationResult, SearchConfig, generate
from ddp_core.tabular import MacroOracle, NasBenchMacro, key_of, macro_costs, macro_space

__all__ = ["budgets_from_quantiles", "main", "study"]


def flops_table() -> CostTable:
    table = macro_costs()["flops"]
    return CostTable("flops_m", table.fixed / 1e6, [row / 1e6 for row in table.per_candidate])


def budgets_from_quantiles(benchmark: NasBenchMacro, quantiles: Sequence[float] = (0.25, 0.5, 0.75)) -> list[float]:
    flops = np.array([e.flops for e in benchmark.entries.values()], dtype=float) / 1e6
    return [round(float(np.quantile(flops, q)), 2) for q in quantiles]


def best_under(benchmark: NasBenchMacro, budget_m: float) -> float:
    return max(e.mean_acc for e in benchmark.entries.values() if e.flops / 1e6 <= budget_m + 1e-9)


def study(benchmark: NasBenchMacro, min_lives: Sequence[int], evaluations: int, seeds: int,
          budgets: Sequence[float]) -> list[dict]:
    """One row per (min_live, budget): mean true accuracy and regret of ENG's answer over ``seeds`` searches."""
    costs = {"flops_m": flops_table()}
    ceilings = [best_under(benchmark, b) for b in budgets]
    rows = []
    for min_live in min_lives:
        space = dataclasses.replace(macro_space(), min_live=min_live)
        accuracy = np.zeros((seeds, len(budgets)))
        fallbacks = np.zeros(len(budgets), dtype=int)
        for seed in range(seeds):
            config = SearchConfig(max_evaluations=evaluations, seed=seed)
            result = DDPSearch(space, MacroOracle(benchmark, seed=seed), config).run()
            live_only = int(result.distribution.live_counts.max()) > 1
            for j, budget in enumerate(budgets):
                answer = generate(space, result.distribution, costs, [{"flops_m": budget}], live_only=live_only,
                                  on_infeasible="report")[0]
                if not isinstance(answer, GenerationResult):  # the live candidates cannot meet it
                    fallbacks[j] += 1
                    answer = generate(space, result.distribution, costs, {"flops_m": budget}, live_only=False)
                accuracy[seed, j] = benchmark.entries[key_of(answer.architecture)].mean_acc
        for j, budget in enumerate(budgets):
            rows.append({"min_live": min_live, "evaluations": evaluations, "flops_m": budget,
                         "mean_acc": float(accuracy[:, j].mean()), "std_acc": float(accuracy[:, j].std()),
                         "mean_regret": float(ceilings[j] - accuracy[:, j].mean()), "best_possible": ceilings[j],
                         "fallbacks": int(fallbacks[j])})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ddp_vision.macro.min_live", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--evaluations", default="30,60", help="equal evaluation budgets to compare at")
    parser.add_argument("--min-live", default="1,2,3")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    benchmark = NasBenchMacro.load()
    budgets = budgets_from_quantiles(benchmark)
    rows = []
    for evaluations in (int(v) for v in args.evaluations.split(",")):
        rows += study(benchmark, [int(v) for v in args.min_live.split(",")], evaluations, args.seeds, budgets)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"NAS-Bench-Macro, joint preset, {args.seeds} seeds; FLOPs budgets {budgets} M (25/50/75 % quantiles)")
    print(f"{'evals':>5} {'min_live':>8} {'budget M':>9} {'mean acc %':>10} {'std':>6} {'regret':>7} {'best':>7} "
          f"{'fallbacks':>9}")
    for r in rows:
        print(f"{r['evaluations']:>5} {r['min_live']:>8} {r['flops_m']:>9.2f} {r['mean_acc']:>10.3f} "
              f"{r['std_acc']:>6.3f} {r['mean_regret']:>7.3f} {r['best_possible']:>7.3f} {r['fallbacks']:>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
