#!/usr/bin/env python
"""Markdown tables (BENCHMARKS.md) from search_quality.py's JSON results.

    python benchmarks/quality_tables.py benchmarks/results/search_quality_budgeted.json
    python benchmarks/quality_tables.py benchmarks/results/search_quality_interacting.json

A budgeted result gives one row per problem and budget: each method's mean / median rank among the distinct
networks that meet the budget (unanswered seeds in brackets, left out of the ranks), the seeds where the default
ranks at least as well as each other method (an unanswered budget ranks last), and the share of picks more than
5 accuracy points below the best feasible network. An unconstrained result gives the harness's usual table.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _rank(entry: dict) -> str:
    if entry["mean_rank"] is None:
        return f"- ({entry['unanswered']})"
    cell = f"{entry['mean_rank']:.0f} / {entry['median_rank']:.0f}"
    return cell + (f" ({entry['unanswered']})" if entry["unanswered"] else "")


def _share(entry: dict) -> str:
    return "-" if entry["share_5_points_below"] is None else f"{entry['share_5_points_below']:.0%}"


def budgeted_markdown(data: dict) -> str:
    summary = data["summary"]
    methods = list(dict.fromkeys(e["method"] for e in summary))
    others = [m for m in methods if m != "default"]
    lines = ["| problem | T | budget | " + " | ".join(methods) + " | default wins or ties vs "
             + " / ".join(others) + " | > 5 points below: " + " / ".join(methods) + " |",
             "|" + "---|" * (4 + len(methods) + 1)]
    cells: dict = {}
    for e in summary:
        cells.setdefault((e["problem"], e["rounds"], e["budget_index"]), {})[e["method"]] = e
    for (problem, rounds, _), by_method in cells.items():
        first = next(iter(by_method.values()))
        (name, value), = first["budget"].items()
        budget = f"{name} <= {value:.3g} (q{round(first['quantile'] * 100)})"
        ranks = " | ".join(_rank(by_method[m]) if m in by_method else "" for m in methods)
        seeds = first["seeds"]
        wins = " / ".join(str(by_method[m].get("default_wins_or_ties", "")) for m in others if m in by_method)
        far = " / ".join(_share(by_method[m]) for m in methods if m in by_method)
        lines.append(f"| {problem} | {rounds} | {budget} | {ranks} | {wins} of {seeds} | {far} |")
    return "\n".join(lines)


def unconstrained_markdown(data: dict) -> str:
    summary = data["summary"]
    methods = list(dict.fromkeys(e["method"] for e in summary))
    peers = [m for m in methods if m in ("random", "rea", "tpe")]
    ours = [m for m in methods if m.startswith("joint")] or ["joint"]  # joint, joint+costs (the tools' default)
    lines = ["| problem | T | evals | " + " | ".join(methods) + "".join(
        f" | {m} wins or ties vs " + " / ".join(peers) for m in ours) + " |",
             "|" + "---|" * (3 + len(methods) + len(ours))]
    cells: dict = {}
    for e in summary:
        cells.setdefault((e["problem"], e["rounds"]), {})[e["method"]] = e
    for (problem, rounds), by_method in cells.items():
        first = next(iter(by_method.values()))
        ranks = " | ".join(f"{by_method[m]['mean_rank']:.0f} / {by_method[m]['median_rank']:.0f}" for m in methods)
        wins = " | ".join(" / ".join(str(by_method.get(m, {}).get(f"wins_or_ties_vs_{p}", "")) for p in peers)
                          + f" of {first['seeds']}" for m in ours)
        lines.append(f"| {problem} | {rounds} | {first['evaluations']} | {ranks} | {wins} |")
    rescored = {}
    for run in data["runs"]:
        if "rescored" in run:
            rescored.setdefault((run["problem"], run["rounds"], run["method"]), []).append(run["rescored"])
    if rescored:
        lines.append("")
        lines.append("Mean evaluations spent re-scoring an already scored architecture: " + "; ".join(
            f"{p} T={t} {m} {sum(v) / len(v):.1f}" for (p, t, m), v in rescored.items() if m in (*ours, "rea", "tpe")))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    for path in argv:
        data = json.loads(Path(path).read_text())
        engine = data.get("engine", {})
        print(f"<!-- {path}: ddp-core {engine.get('snapshot_commit', engine.get('checkout_commit', '?'))}, seeds {data.get('seeds', '?')}, "
              f"additive R^2 {data.get('additive_r2', {})} -->")
        budgeted = bool(data["summary"]) and "budget_index" in data["summary"][0]
        print(budgeted_markdown(data) if budgeted else unconstrained_markdown(data))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
