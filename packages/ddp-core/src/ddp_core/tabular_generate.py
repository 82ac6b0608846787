"""ENG on a NAS-Bench-Macro (tabular oracle) run: ``tools/generate.py RUN_DIR --budget params_m=1.5
--budget flops_m=40``, writing ``RUN_DIR/generated.json`` (one entry per budget, in order): the recommended
network per budget (``--eng``: the run's preset's ENG by default) with a line on how it was chosen, and the
alternatives (the θ answer, the best evaluated network) under ``alternatives``.

A budget that no network of the space meets is reported in its place with the smallest achievable cost, and
the others are answered, as for every space; a call where none can be met writes nothing (exit 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ddp_core.budgets import add_budget_arguments, budget_label, requests_from_args
from ddp_core.run_eng import ENG_CHOICES, ENG_HELP, alternatives_entry
from ddp_core.space import CostTable

BUDGET_KEYS = ("params_m", "flops_m")


def macro_costs_m() -> dict[str, CostTable]:
    """NAS-Bench-Macro's parameter and MAC tables in millions (``params_m``, ``flops_m``)."""
    from ddp_core.tabular import macro_costs

    tables = macro_costs()
    return {
        f"{name}_m": CostTable(f"{name}_m", tables[name].fixed / 1e6, [row / 1e6 for row in tables[name].per_candidate])
        for name in ("params", "flops")
    }


def build_parser() -> argparse.ArgumentParser:
    from ddp_core.cli import OneLineArgumentParser

    parser = OneLineArgumentParser(prog="tools/generate.py RUN_DIR", description=(__doc__ or "").split("\n\n")[0])
    add_budget_arguments(parser, BUDGET_KEYS, help_extra="Default: no budget.")
    parser.add_argument("--pruned-space", action="store_true",
                        help="only the live candidates (the search prunes each layer to one, so default: full space)")
    parser.add_argument("--benchmark", help="NAS-Bench-Macro JSON, to report true accuracies")
    parser.add_argument("--eng", choices=ENG_CHOICES, default=None, help=ENG_HELP)
    return parser


def cli(run_dir: Path, argv: list[str]) -> int:
    """The generator of kind ``nas-bench-macro`` in ddp-core (``ddp_core.tabular:generate_cli`` calls it)."""
    from ddp_core.generation import generate
    from ddp_core.persistence import load_run, write_json_atomic
    from ddp_core.tabular import NasBenchMacro, key_of

    args = build_parser().parse_args(argv)
    requests = requests_from_args(args, combine="separate", keys=BUDGET_KEYS) or [{}]
    run = load_run(run_dir)
    benchmark = NasBenchMacro(args.benchmark) if args.benchmark else None
    costs = macro_costs_m()
    answers = run.generate(costs, requests, eng=args.eng, live_only=args.pruned_space)
    thetas = generate(run.space, run.distribution, costs, requests, live_only=args.pruned_space,
                      on_infeasible="report")
    if not any(answer.feasible for answer in answers):
        raise ValueError(" | ".join(f"{budget_label(a.budgets)}: {a.message}" for a in answers)
                         + f"; nothing written to {Path(run_dir) / 'generated.json'}")
    out: list[dict[str, Any]] = []
    for answer, theta in zip(answers, thetas, strict=True):
        entry = answer.to_dict()
        out.append(entry)
        if not answer.feasible:
            print(f"{budget_label(answer.budgets):>22}: infeasible: {answer.message}")
            continue
        entry["key"] = key_of(answer.architecture)
        if benchmark is not None:
            entry["true_mean_acc"] = benchmark.entries[entry["key"]].mean_acc
            entry["rank"] = benchmark.rank(entry["key"])
        entry["alternatives"] = alternatives_entry(answer, theta)
        extra = "" if benchmark is None else f"  true acc {entry['true_mean_acc']:.2f}% rank {entry['rank']}"
        print(f"{budget_label(answer.budgets):>22}: {entry['key']}  E[α]={answer.expectation:.4f}  "
              f"params {answer.costs['params_m']:.3f}M  flops {answer.costs['flops_m']:.2f}M{extra}")
        print(f"{'':>22}  how: {answer.how}")
    write_json_atomic(Path(run_dir) / "generated.json", out)
    print(f"-> {Path(run_dir) / 'generated.json'}")
    return 0
