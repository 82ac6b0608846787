"""Efficient Network Generation for layer-wise spaces: ``tools/generate.py RUN_DIR --flops 600,400,200``.

Reads the run directory of a search (``space.json`` + ``state.json``), builds exact ``flops_m`` / ``params_m``
cost tables (and ``latency_ms`` from a measured lookup table), asks ddp-core's exact ``generate`` for every
budget in one call, writes each answer as a standalone network config JSON, and plots the Pareto front
(expectation versus cost) as a PNG.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ddp_core import (
    CategoricalDistribution,
    InfeasibleBudgetError,
    SearchSpace,
    generate,
    load_run,
    pareto_front,
    write_json_atomic,
)
from ddp_vision.mobilenet.latency import latency_cost_table, load_latency_table
from ddp_vision.mobilenet.space import LayerwiseSpace, space_from_metadata

COST_FLAGS = {"flops": "flops_m", "params": "params_m", "latency_ms": "latency_ms"}


def load_layerwise_run(
    run_dir: pathlib.Path, stage: int | None = None
) -> tuple[SearchSpace, LayerwiseSpace, CategoricalDistribution]:
    """The ddp-core space, the layer-wise space and θ of a run directory.

    ``stage`` picks θ as it was after that many stages (from the run's history; live = θ > 0) instead of the
    final θ: a search that pruned every decision down to one candidate leaves a trivial final pruned space.
    """
    run = load_run(run_dir)
    layerwise = space_from_metadata(run.space.metadata)
    distribution = run.distribution
    if stage is not None:
        snapshots = run.history["theta"]
        if not 0 <= stage < len(snapshots):
            raise ValueError(f"--stage must be in [0, {len(snapshots) - 1}] for this run, got {stage}")
        theta = np.asarray(snapshots[stage], dtype=np.float64)
        distribution = CategoricalDistribution(theta, np.zeros_like(theta), (theta > 0) & run.space.full_mask())
    return run.space, layerwise, distribution


def budget_requests(budgets: Mapping[str, Sequence[float]]) -> list[dict[str, float]]:
    """Combine per-cost budget lists: single values apply to every request, longer lists are zipped."""
    lengths = {len(v) for v in budgets.values() if len(v) > 1}
    if len(lengths) > 1:
        raise ValueError(
            "budget lists of different lengths cannot be paired: give one value for a cost to hold it fixed, "
            f"or lists of equal length to pair them (got {({k: len(v) for k, v in budgets.items()})})"
        )
    count = lengths.pop() if lengths else 1
    return [{name: float(v[i] if len(v) > 1 else v[0]) for name, v in budgets.items()} for i in range(count)]


def generate_networks(
    run_dir: pathlib.Path,
    budgets: Mapping[str, Sequence[float]],
    latency_table: pathlib.Path | None = None,
    full_space: bool = False,
    stage: int | None = None,
    pareto_cost: str | None = None,
    points: int = 60,
) -> dict[str, Any]:
    """ENG answers for every budget request, with their network configs.

    Parameters
    ----------
    run_dir : Path
        A search run directory.
    budgets : mapping of cost name to list of upper bounds
        Cost names: ``flops_m`` (MACs, millions), ``params_m`` (millions), ``latency_ms``.
    latency_table : Path, optional
        A table written by ``tools/measure_latency.py``; required for ``latency_ms``.
    full_space : bool
        Search every candidate instead of only the live (unpruned) ones. When the live space is a single
        architecture (a finished search), the full space is searched anyway and the result carries a note.
    stage : int, optional
        Use θ after this many stages instead of the final θ.
    pareto_cost, points : str, int
        The cost swept for the Pareto front (default: the first budgeted cost) and the number of budgets.
    """
    space, layerwise, distribution = load_layerwise_run(run_dir, stage)
    costs = layerwise.cost_tables()
    if latency_table is not None:
        costs["latency_ms"] = latency_cost_table(load_latency_table(latency_table, layerwise))
    if "latency_ms" in budgets and "latency_ms" not in costs:
        raise ValueError("a latency budget needs --latency-table (measure it with tools/measure_latency.py)")
    requests = budget_requests(budgets)
    note = None
    if not full_space and int(distribution.live_counts.max()) == 1:
        # a finished search leaves one live candidate per decision: the pruned space is a single network
        full_space = True
        note = ("the pruned space holds a single architecture (the search finished), so ENG searched the full "
                "space, ranking pruned candidates by the θ they had when pruned; use --stage K for an earlier θ")
    answers = generate(space, distribution, costs, requests, live_only=not full_space)
    out = []
    for answer in answers:
        config = layerwise.network_config(answer.architecture)
        out.append({**answer.to_dict(), "network": config.to_dict()})
    sweep = pareto_cost or next(iter(budgets))
    front = pareto_front(space, distribution, costs, sweep, points=points, live_only=not full_space)
    return {
        "run_dir": str(run_dir), "full_space": full_space, "stage": stage, "note": note, "answers": out,
        "costs": sorted(costs),
        "pareto": {"cost": sweep, "points": [p.to_dict() for p in front]},
    }


def plot_front(front: Sequence[Mapping[str, Any]], answers: Sequence[Mapping[str, Any]], cost_name: str, path: pathlib.Path) -> None:
    """Expectation versus cost of the Pareto front, with the requested answers marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    xs = [p["costs"][cost_name] for p in front]
    ys = [p["expectation"] for p in front]
    ax.step(xs, ys, where="post", color="tab:blue", alpha=0.6)
    ax.plot(xs, ys, "o", color="tab:blue", markersize=3, label="Pareto front")
    for a in answers:
        ax.plot(a["costs"][cost_name], a["expectation"], "*", color="tab:red", markersize=12)
        ax.annotate(f"{a['budgets'].get(cost_name, '')}", (a["costs"][cost_name], a["expectation"]),
                    textcoords="offset points", xytext=(4, -12), fontsize=8)
    ax.set_xlabel(cost_name)
    ax.set_ylabel("architecture expectation E[α] (higher is better)")
    ax.set_title("ENG: best expected architecture per budget")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 600,400,200, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tools/generate.py RUN_DIR",
        description="ENG for MobileNet layer-wise / NAS-Bench-Macro runs: best expected networks under budgets.",
    )
    parser.add_argument("--flops", type=_floats, help="MAC budgets in millions, e.g. 600,400,200")
    parser.add_argument("--params", type=_floats, help="parameter budgets in millions")
    parser.add_argument("--latency-ms", type=_floats, help="latency budgets in ms (needs --latency-table)")
    parser.add_argument("--latency-table", type=pathlib.Path, help="JSON from tools/measure_latency.py")
    parser.add_argument("--full-space", action="store_true", help="search all candidates, not only unpruned ones")
    parser.add_argument("--output-dir", type=pathlib.Path, help="default: RUN_DIR/generated")
    parser.add_argument("--pareto", default=None, help="cost to sweep for the front (default: first budgeted cost)")
    parser.add_argument("--stage", type=int, default=None, help="use θ after this many stages (default: final θ)")
    parser.add_argument("--points", type=int, default=60, help="budgets in the Pareto sweep")
    return parser


def cli(run_dir: pathlib.Path, argv: list[str]) -> int:
    """The ENG command line (called by ``tools/generate.py``); returns the exit status."""
    args = build_parser().parse_args(argv)
    run_dir = pathlib.Path(run_dir)
    budgets = {COST_FLAGS[flag]: getattr(args, flag) for flag in COST_FLAGS if getattr(args, flag)}
    if not budgets:
        print("give at least one budget: --flops 600,400,200, --params 5 or --latency-ms 20", file=sys.stderr)
        return 2
    try:
        result = generate_networks(run_dir, budgets, args.latency_table, args.full_space, args.stage, args.pareto,
                                   args.points)
    except (InfeasibleBudgetError, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out_dir = args.output_dir or run_dir / "generated"
    for answer in result["answers"]:
        tag = "_".join(f"{k}-{v:g}" for k, v in answer["budgets"].items())
        answer["network_path"] = str(out_dir / f"network_{tag}.json")
        write_json_atomic(answer["network_path"], answer["network"])
    sweep, front = result["pareto"]["cost"], result["pareto"]["points"]
    write_json_atomic(out_dir / "eng.json", result)
    plot_front(front, result["answers"], sweep, out_dir / f"pareto_{sweep}.png")
    names = result["costs"]
    print("budgets".ljust(28) + "expectation  " + "  ".join(n.rjust(10) for n in names) + "  network")
    for a in result["answers"]:
        budget_text = ", ".join(f"{k}<={v:g}" for k, v in a["budgets"].items())
        values = "  ".join(f"{a['costs'][n]:10.3f}" for n in names)
        print(f"{budget_text:<28}{a['expectation']:11.4f}  {values}  {a['network_path']}")
    if result["note"]:
        print(f"note: {result['note']}")
    print(f"Pareto front ({len(front)} points): {out_dir / f'pareto_{sweep}.png'}")
    return 0
