"""Efficient Network Generation for layer-wise spaces: ``tools/generate.py RUN_DIR --budget flops_m=600
--budget flops_m=400,params_m=5`` (one ``--budget`` per request; see :mod:`ddp_core.budgets`).

Reads the run directory of a search (``space.json`` + ``state.json`` + ``records.jsonl``), builds exact
``flops_m`` / ``params_m`` cost tables (and ``latency_ms`` from a measured lookup table) and prints, per budget,
ONE network with a line on how it was chosen, written as a standalone network config JSON:

- ``--eng model`` (default for the default ``joint`` preset): the recommended network, the exact argmax of the
  search's estimate of quality (pairwise model of every record) over the whole space under the budget, never
  worse by that estimate than the best evaluated network that meets it (``SearchResult.generate``);
- ``--eng theta`` (default for the ``paper`` / ``authors`` presets, and with ``--stage``): Eq. 10, the network of
  highest expectation of θ over the live candidates (the full space when the search left a single network or
  with ``--full-space``; over the full space for a budget the live candidates cannot meet).

``eng.json`` keeps the alternatives per budget (the θ answer and the best evaluated network that meets the
budget, each with its network config). The Pareto plot draws the answers of the chosen ENG over a budget
sweep that includes every requested budget (predicted score for the model, E[α] for θ); files of an earlier
call (``network_*.json``, ``pareto_*.png``) are removed, so the output directory holds exactly what
``eng.json`` lists. A budget that no network of the space meets is reported in its place (with the smallest
achievable cost) and the others are answered, as in every space; only a call where no budget can be met fails
(exit 2).
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
from ddp_core.budgets import add_budget_arguments, budget_label, pair_lists, requests_from_args
from ddp_core.generation import InfeasibleBudget, evaluate_costs
from ddp_core.run_eng import (
    ENG_CHOICES,
    ENG_HELP,
    THETA_HOW,
    alternatives_entry,
    model_front,
    run_eng,
    sweep_budgets,
)
from ddp_vision.arguments import OneLineArgumentParser, positive_int
from ddp_vision.mobilenet.latency import latency_cost_table, load_latency_table
from ddp_vision.mobilenet.space import LayerwiseSpace, space_from_metadata

BUDGET_KEYS = ("flops_m", "params_m", "latency_ms")


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
    return pair_lists(budgets)


def generate_networks(
    run_dir: pathlib.Path,
    budgets: Sequence[Mapping[str, float]] | Mapping[str, Sequence[float]],
    latency_table: pathlib.Path | None = None,
    full_space: bool = False,
    stage: int | None = None,
    pareto_cost: str | None = None,
    points: int = 60,
    eng: str | None = None,
) -> dict[str, Any]:
    """One network per budget request (the chosen ENG's answer), with its network config and alternatives.

    Parameters
    ----------
    run_dir : Path
        A search run directory.
    budgets : list of requests (mapping cost name -> upper bound), or a mapping of cost name -> list of bounds
        (paired as :func:`budget_requests` does). Cost names: ``flops_m`` (MACs, millions), ``params_m``
        (millions), ``latency_ms``.
    latency_table : Path, optional
        A table written by ``tools/measure_latency.py``; required for ``latency_ms``.
    full_space : bool
        θ ENG only: search every candidate instead of only the live (unpruned) ones. When the live space is a
        single architecture (a finished search), the full space is searched anyway and the result carries a
        note; a budget the live candidates cannot meet is answered over the full space (its ``space`` says so).
        The model ENG always searches the whole space.
    stage : int, optional
        θ ENG only: use θ after this many stages instead of the final θ.
    pareto_cost, points : str, int
        The cost swept for the Pareto front (default: the first budgeted cost) and the number of budgets.
    eng : {"model", "theta"}, optional
        Default: the run's preset's (``model`` for ``joint``), ``theta`` with ``stage``.

    A request no network of the space meets is an entry with ``infeasible: true``, its message and the smallest
    achievable costs, in its place; the others are answered.
    """
    requests = budget_requests(budgets) if isinstance(budgets, Mapping) else [dict(b) for b in budgets]
    run = load_run(run_dir)
    if stage is not None and eng == "model":
        raise ValueError("--stage picks an earlier θ, which only --eng theta uses; drop --stage or pass --eng theta")
    eng = "theta" if stage is not None else run_eng(run, eng)
    space, layerwise, distribution = load_layerwise_run(run_dir, stage)
    costs = layerwise.cost_tables()
    if latency_table is not None:
        costs["latency_ms"] = latency_cost_table(load_latency_table(latency_table, layerwise))
    if any("latency_ms" in r for r in requests) and "latency_ms" not in costs:
        raise ValueError("a latency budget needs --latency-table (measure it with tools/measure_latency.py)")
    sweep = pareto_cost or next((name for r in requests for name in r), "flops_m")
    if sweep not in costs:
        raise ValueError(f"--pareto {sweep}: unknown cost; known: {', '.join(sorted(costs))}")
    note = None
    if eng == "model":
        swept = [{sweep: b} for b in sweep_budgets(run, costs, sweep, points,
                                                  [r[sweep] for r in requests if set(r) == {sweep}])]
        found = run.generate(costs, [*requests, *swept], eng="model")
        answers, front = found[:len(requests)], model_front(found, sweep)
        if any(a.feasible and a.source == "theta" for a in found):
            eng, note = "theta", "the search has fewer than two scores, too few for the model: Eq. 10 on θ"
    if eng == "theta" and not full_space and int(distribution.live_counts.max()) == 1:
        full_space = True
        note = ("the pruned space holds a single architecture (the search finished), so ENG searched the full "
                "space, ranking pruned candidates by the θ they had when pruned; use --stage K for an earlier θ")
    thetas, unmet = eng_answers(space, distribution, costs, requests, full_space)
    if eng == "theta":
        answers = thetas
        for answer in answers:
            if isinstance(answer, GenerationResult):
                answer.how = THETA_HOW
        met = [r for r, a in zip(requests, answers, strict=True) if isinstance(a, GenerationResult)]
        front = exact_front(space, distribution, costs, sweep, points, not full_space,
                            [r[sweep] for r in met if set(r) == {sweep}]) if met else []
    out = []
    for i, (answer, theta) in enumerate(zip(answers, thetas, strict=True)):
        if isinstance(answer, InfeasibleBudget):
            out.append(answer.to_dict())
            continue
        searched = "full" if full_space or eng == "model" else (
            "full (the live candidates cannot meet this budget)" if i in unmet else "live")
        config = layerwise.network_config(answer.architecture)
        entry = {**answer.to_dict(), "space": searched, "network": config.to_dict()}
        if eng == "model":
            entry["alternatives"] = _alternatives(space, layerwise, costs, answer, theta)
        out.append(entry)
    return {
        "run_dir": str(run_dir), "eng": eng, "full_space": full_space, "stage": stage, "note": note, "answers": out,
        "costs": sorted(costs), "pareto": {"cost": sweep, "points": [p.to_dict() for p in front]},
        "_results": (answers, front),
    }


def _alternatives(space: SearchSpace, layerwise: LayerwiseSpace, costs: Mapping[str, Any], answer: GenerationResult,
                  theta: Any) -> dict[str, Any]:
    """The θ answer and the best evaluated network under the budget, each with its costs and network config."""
    out = alternatives_entry(answer, theta if isinstance(theta, GenerationResult) else None)
    for entry in out.values():
        if entry is not None:
            architecture = tuple(entry["architecture"])
            entry["costs"] = evaluate_costs(space, costs, architecture)
            entry["network"] = layerwise.network_config(architecture).to_dict()
    return out


def eng_answers(space: SearchSpace, distribution: CategoricalDistribution, costs: Mapping[str, Any],
                requests: Sequence[Mapping[str, float]], full_space: bool = False) -> tuple[list, list[int]]:
    """This generator's ENG for every request: Eq. 10 on θ over the live candidates (the full space when the
    search left a single network, or with ``full_space``), and over the full space for a request the live
    candidates cannot meet (pruned candidates ranked by the θ they had when pruned). A request no network of the
    space meets is an ``InfeasibleBudget`` in its place. Returns the answers and the indices answered over the
    full space because the live candidates could not meet them."""
    full_space = full_space or int(distribution.live_counts.max()) == 1
    answers = generate(space, distribution, costs, list(requests), live_only=not full_space, on_infeasible="report")
    unmet = [i for i, a in enumerate(answers) if not isinstance(a, GenerationResult)]
    if unmet and not full_space:
        retried = generate(space, distribution, costs, [requests[i] for i in unmet], live_only=False,
                           on_infeasible="report")
        for i, answer in zip(unmet, retried, strict=True):
            answers[i] = answer
    return answers, unmet


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


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="tools/generate.py RUN_DIR",
        description="ENG for MobileNet layer-wise / NAS-Bench-Macro runs: one network per budget (the recommended "
                    "network by default), with a line on how it was chosen; alternatives in eng.json.",
    )
    add_budget_arguments(parser, BUDGET_KEYS, help_extra="latency_ms needs --latency-table.")
    parser.add_argument("--latency-table", type=pathlib.Path, help="JSON from tools/measure_latency.py")
    parser.add_argument("--eng", choices=ENG_CHOICES, default=None, help=ENG_HELP + " (theta with --stage)")
    parser.add_argument("--full-space", action="store_true",
                        help="--eng theta: search all candidates, not only unpruned ones (the model always does)")
    parser.add_argument("--output-dir", type=pathlib.Path, help="default: RUN_DIR/generated")
    parser.add_argument("--pareto", default=None, help="cost to sweep for the front (default: first budgeted cost)")
    parser.add_argument("--stage", type=positive_int("--stage"), default=None,
                        help="--eng theta: use θ after this many stages (default: final θ)")
    parser.add_argument("--points", type=positive_int("--points"), default=60, help="budgets in the Pareto sweep")
    return parser


def cli(run_dir: pathlib.Path, argv: list[str]) -> int:
    """The ENG command line (called by ``tools/generate.py``); returns the exit status."""
    args = build_parser().parse_args(argv)
    run_dir = pathlib.Path(run_dir)
    try:
        requests = requests_from_args(args, combine="pair", keys=BUDGET_KEYS)
        if not requests:
            raise ValueError("give at least one budget: --budget flops_m=400 (repeat --budget for several "
                             "networks; --budget params_m=5,latency_ms=20 for one under both)")
        result = generate_networks(run_dir, requests, args.latency_table, args.full_space, args.stage, args.pareto,
                                   args.points, args.eng)
    except (InfeasibleBudgetError, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    answers, front_results = result.pop("_results")
    met = [a for a in result["answers"] if not a.get("infeasible")]
    if not met:  # nothing to write: the files of an earlier call stay as they were
        for a in result["answers"]:
            print(f"error: {budget_label(a['budgets'])}: {a['message']}", file=sys.stderr)
        print("error: no budget can be met; raise the budgets to at least the smallest achievable costs named above",
              file=sys.stderr)
        return 2
    out_dir = args.output_dir or run_dir / "generated"
    written = []
    for answer in met:
        tag = "_".join(f"{k}-{v:g}" for k, v in answer["budgets"].items()) or "unconstrained"
        answer["network_path"] = str(out_dir / f"network_{tag}.json")
        write_json_atomic(answer["network_path"], answer["network"])
        written.append(answer["network_path"])
    sweep, front = result["pareto"]["cost"], result["pareto"]["points"]
    figure = out_dir / f"pareto_{sweep}.png"
    write_json_atomic(out_dir / "eng.json", result)
    model = result["eng"] == "model"
    feasible = [a for a in answers if isinstance(a, GenerationResult)]
    plot_pareto_front(front_results, sweep, figure, highlight=feasible,
                      plotted="predicted_score" if model else "expectation",
                      title=f"ENG: recommended network per {sweep} budget" if model else
                      f"ENG: best expected architecture per {sweep} budget")
    remove_earlier_outputs(out_dir, [*written, figure])
    names = result["costs"]
    score = "predicted" if model else "expectation"
    print("budgets".ljust(28) + score.rjust(11) + "  " + "  ".join(n.rjust(10) for n in names) + "  network")
    for a in result["answers"]:
        budget_text = ", ".join(f"{k}<={v:g}" for k, v in a["budgets"].items()) or "no budget"
        if a.get("infeasible"):
            print(f"{budget_text:<28}infeasible: {a['message']}")
            continue
        values = "  ".join(f"{a['costs'][n]:10.3f}" for n in names)
        shown = a["predicted_score"] if model else a["expectation"]
        print(f"{budget_text:<28}{shown:11.4f}  {values}  {a['network_path']}")
        print(f"{'':<28}how: {a['how']}")
    if result["note"]:
        print(f"note: {result['note']}")
    for a in met:
        if a["space"].startswith("full ("):
            budget_text = ", ".join(f"{k}<={v:g}" for k, v in a["budgets"].items())
            print(f"note: {budget_text}: the live candidates cannot meet it; answered over the full space, pruned "
                  "candidates ranked by the θ they had when pruned")
    if model:
        print(f"alternatives per budget (θ answer, best evaluated network): {out_dir / 'eng.json'}")
    print(f"Pareto front ({len(front)} points): {out_dir / f'pareto_{sweep}.png'}")
    return 0
