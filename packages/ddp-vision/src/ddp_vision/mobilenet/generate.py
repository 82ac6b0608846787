"""Efficient Network Generation for layer-wise spaces: ``tools/generate.py RUN_DIR --flops 600,400,200``.

Reads the run directory of a search (``space.json`` + ``state.json``), builds exact ``flops_m`` / ``params_m``
cost tables (and ``latency_ms`` from a measured lookup table), asks ddp-core's exact ``generate`` for every
budget in one call, writes each answer as a standalone network config JSON, and plots the Pareto front
(expectation versus cost) as a PNG. The front is ENG's own exact answers over a budget sweep that includes every
requested budget, so each answer of the call is a point of the drawn front; files of an earlier call
(``network_*.json``, ``pareto_*.png``) are removed, so the output directory holds exactly what ``eng.json`` lists.
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
    GenerationResult,
    InfeasibleBudgetError,
    SearchSpace,
    generate,
    load_run,
    pareto_front,
    plot_pareto_front,
    write_json_atomic,
)
from ddp_core.validation import check_number
from ddp_vision.arguments import OneLineArgumentParser, positive_int
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
        architecture (a finished search), the full space is searched anyway and the result carries a note; a
        budget the live candidates cannot meet is answered over the full space (its ``space`` says so).
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
    answers = generate(space, distribution, costs, requests, live_only=not full_space, on_infeasible="report")
    out = []
    for i, answer in enumerate(answers):
        searched = "full" if full_space else "live"
        if not isinstance(answer, GenerationResult):
            # pruning removed every candidate cheap enough: rank the full space by the θ pruned ones had
            # (raises, naming the smallest achievable cost, when no network at all meets the budget)
            answer = answers[i] = generate(space, distribution, costs, requests[i], live_only=False)
            searched = "full (the live candidates cannot meet this budget)"
        config = layerwise.network_config(answer.architecture)
        out.append({**answer.to_dict(), "space": searched, "network": config.to_dict()})
    sweep = pareto_cost or next(iter(budgets))
    if sweep not in costs:
        raise ValueError(f"--pareto {sweep}: unknown cost; known: {', '.join(sorted(costs))}")
    front = exact_front(space, distribution, costs, sweep, points, not full_space,
                        [r[sweep] for r in requests if set(r) == {sweep}])
    return {
        "run_dir": str(run_dir), "full_space": full_space, "stage": stage, "note": note, "answers": out,
        "costs": sorted(costs), "pareto": {"cost": sweep, "points": [p.to_dict() for p in front]},
        "_results": (answers, front),
    }


def exact_front(space: SearchSpace, distribution: CategoricalDistribution, costs: Mapping[str, Any], cost_name: str,
                points: int, live_only: bool, requested: Sequence[float] = ()) -> list[GenerationResult]:
    """ENG's exact answers over ``points`` budgets evenly spread over what the space can cost, plus every
    ``requested`` budget, as a Pareto front: ascending cost, strictly rising expectation.

    Each point is the exact optimum under its budget, and an answer to a requested budget of this cost alone is
    a point of the front. (The full front can hold thousands of steps a hair apart; the sweep samples it.)
    """
    sampled = pareto_front(space, distribution, costs, cost_name, points=points, live_only=live_only)
    budgets = sorted({*(p.costs[cost_name] for p in sampled), *(float(b) for b in requested)})
    found = generate(space, distribution, costs, [{cost_name: b} for b in budgets], live_only=live_only,
                     on_infeasible="report")
    unique = {r.architecture: r for r in [*sampled, *found] if isinstance(r, GenerationResult)}
    front: list[GenerationResult] = []
    for result in sorted(unique.values(), key=lambda r: (r.costs[cost_name], -r.expectation)):
        if not front or result.expectation > front[-1].expectation:
            front.append(result)
    return front


def remove_earlier_outputs(out_dir: pathlib.Path, keep: Sequence[pathlib.Path]) -> None:
    """Delete ``network_*.json`` / ``pareto_*.png`` an earlier call left in ``out_dir`` that this call did not write."""
    keep_names = {pathlib.Path(k).name for k in keep}
    for pattern in ("network_*.json", "pareto_*.png"):
        for path in out_dir.glob(pattern):
            if path.name not in keep_names:
                path.unlink(missing_ok=True)


def _budgets(flag: str):
    def parse(text: str) -> list[float]:
        try:
            values = [float(v) for v in text.split(",") if v.strip()]
            if not values:
                raise ValueError
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} takes comma-separated numbers such as 600,400,200, "
                                             f"got {text!r}") from None
        try:
            return [check_number(flag, v, minimum=0, exclusive_minimum=True) for v in values]
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = flag
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="tools/generate.py RUN_DIR",
        description="ENG for MobileNet layer-wise / NAS-Bench-Macro runs: best expected networks under budgets.",
    )
    parser.add_argument("--flops", type=_budgets("--flops"), help="MAC budgets in millions, e.g. 600,400,200")
    parser.add_argument("--params", type=_budgets("--params"), help="parameter budgets in millions")
    parser.add_argument("--latency-ms", type=_budgets("--latency-ms"), help="latency budgets in ms (needs --latency-table)")
    parser.add_argument("--latency-table", type=pathlib.Path, help="JSON from tools/measure_latency.py")
    parser.add_argument("--full-space", action="store_true", help="search all candidates, not only unpruned ones")
    parser.add_argument("--output-dir", type=pathlib.Path, help="default: RUN_DIR/generated")
    parser.add_argument("--pareto", default=None, help="cost to sweep for the front (default: first budgeted cost)")
    parser.add_argument("--stage", type=positive_int("--stage"), default=None,
                        help="use θ after this many stages (default: final θ)")
    parser.add_argument("--points", type=positive_int("--points"), default=60, help="budgets in the Pareto sweep")
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
    answers, front_results = result.pop("_results")
    written = []
    for answer in result["answers"]:
        tag = "_".join(f"{k}-{v:g}" for k, v in answer["budgets"].items())
        answer["network_path"] = str(out_dir / f"network_{tag}.json")
        write_json_atomic(answer["network_path"], answer["network"])
        written.append(answer["network_path"])
    sweep, front = result["pareto"]["cost"], result["pareto"]["points"]
    figure = out_dir / f"pareto_{sweep}.png"
    write_json_atomic(out_dir / "eng.json", result)
    plot_pareto_front(front_results, sweep, figure, title=f"ENG: best expected architecture per {sweep} budget",
                      highlight=list(answers))
    remove_earlier_outputs(out_dir, [*written, figure])
    names = result["costs"]
    print("budgets".ljust(28) + "expectation  " + "  ".join(n.rjust(10) for n in names) + "  network")
    for a in result["answers"]:
        budget_text = ", ".join(f"{k}<={v:g}" for k, v in a["budgets"].items())
        values = "  ".join(f"{a['costs'][n]:10.3f}" for n in names)
        print(f"{budget_text:<28}{a['expectation']:11.4f}  {values}  {a['network_path']}")
    if result["note"]:
        print(f"note: {result['note']}")
    for a in result["answers"]:
        if a["space"].startswith("full ("):
            budget_text = ", ".join(f"{k}<={v:g}" for k, v in a["budgets"].items())
            print(f"note: {budget_text}: the live candidates cannot meet it; answered over the full space, pruned "
                  "candidates ranked by the θ they had when pruned")
    print(f"Pareto front ({len(front)} points): {out_dir / f'pareto_{sweep}.png'}")
    return 0
