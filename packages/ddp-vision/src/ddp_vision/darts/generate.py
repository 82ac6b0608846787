"""``tools/generate.py RUN_DIR`` for DARTS runs: one genotype per budget, with a line on how it was chosen.

Reads ``space.json``, ``state.json`` (and ``records.jsonl``) of a search run directory and answers every
``--budget`` with one genotype:

- ``--eng model`` (the default preset's; needs the search's records): the recommended genotype, the exact argmax
  of the search's estimate of quality under the budget and the DARTS cell rule (two non-``none`` inputs per
  node, as count constraints; :mod:`ddp_vision.darts.recommendation`), never worse by that estimate than the
  best evaluated genotype that meets them; budgets with ``cell_height`` keep θ's exact DARTS ENG;
- ``--eng theta`` (the ``paper``/``authors`` presets', and runs without records): the exact DARTS ENG on θ
  (Eq. 10 under the rule), printed after the DARTS rule's genotype as before.

It writes

- ``genotype.txt`` / ``genotype.json`` (what ``tools/train_darts.py --genotype RUN_DIR`` trains): the first
  budget's recommended genotype (``--eng theta``: the DARTS rule, two strongest inputs per node, argmax op);
- ``eng.json`` / ``eng.txt``: one answer per ``--budget`` (genotype, how, costs, and with the model the
  alternatives: Eq. 10 on θ and the best evaluated genotype; the DARTS rule on θ under ``derived``), and each
  budget no genotype meets with the smallest achievable value;
- ``cells.png`` and ``eng_cells_<i>.png``: drawings of those genotypes (the paper's Fig. 5).

A call in which no budget can be met writes nothing, so the files of an earlier call stay as they were.
``--nonparam-count exactly|at-most`` and ``--nonparam-cells normal|both`` choose how ``nonparam_ops`` reads
(default: exactly N in the normal cell, as the authors' code and the paper's Table 4).

Costs refer to an evaluation network (``--network cifar|imagenet``, DARTS' sizes by default, classes,
input channels and image size taken from the search's dataset unless given).
"""

from __future__ import annotations

import argparse
import math
import pathlib
import sys
from collections.abc import Sequence

from ddp_core import CategoricalDistribution, SearchSpace, argument_type, read_json, write_json_atomic
from ddp_core.budgets import add_budget_arguments, budget_type, requests_from_args
from ddp_core.persistence import load_run as load_loaded_run
from ddp_core.persistence import write_text_atomic
from ddp_core.run_eng import ENG_CHOICES, ENG_HELP, run_eng
from ddp_vision.darts.costs import EvalNetworkSpec, eval_cost_tables, network_costs
from ddp_vision.darts.derivation import BUDGET_KEYS, EngAnswer, darts_derivation, generate_genotypes
from ddp_vision.darts.drawing import draw_genotype
from ddp_vision.darts.genotypes import format_genotype, genotype_to_dict
from ddp_vision.darts.recommendation import THETA_CELL_HEIGHT_HOW, recommend_genotypes
from ddp_vision.darts.space import supernet_config_from_space

__all__ = ["cli", "parse_budget", "load_run", "DEFAULT_BUDGETS", "WHOLE_NUMBER_BUDGETS", "run_generation"]

DEFAULT_BUDGETS = ({}, {"nonparam_ops": 4}, {"nonparam_ops": 4, "cell_height": 2}, {"params_m": 2.5})
WHOLE_NUMBER_BUDGETS = {"nonparam_ops": 0, "cell_height": 1}  # budget key -> smallest allowed whole number


def parse_budget(text: str) -> dict[str, float]:
    """``"params_m=2.5,nonparam_ops=4"`` -> ``{"params_m": 2.5, "nonparam_ops": 4.0}``; ``"none"`` -> ``{}``
    (the grammar of every space, :mod:`ddp_core.budgets`; ``nonparam_ops`` and ``cell_height`` are whole numbers)."""
    return budget_type(BUDGET_KEYS, WHOLE_NUMBER_BUDGETS)(text)


def load_run(run_dir: pathlib.Path) -> tuple[SearchSpace, CategoricalDistribution]:
    """The space and the current θ / live mask of a run directory."""
    run_dir = pathlib.Path(run_dir)
    for name in ("space.json", "state.json"):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(f"{run_dir / name} is missing: is {run_dir} a search run directory?")
    space = SearchSpace.from_dict(read_json(run_dir / "space.json"))
    distribution = CategoricalDistribution.uniform(space)
    distribution.load_state_dict(read_json(run_dir / "state.json")["distribution"])
    return space, distribution


def default_spec(space: SearchSpace, network: str = "cifar", **overrides) -> EvalNetworkSpec:
    """Evaluation network of a run: DARTS' sizes, the search dataset's classes, channels and image size."""
    supernet = supernet_config_from_space(space)
    base = {"num_classes": supernet.num_classes, "in_channels": supernet.in_channels,
            "image_size": supernet.image_size}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if network == "imagenet":
        return EvalNetworkSpec.imagenet(**{"num_classes": supernet.num_classes, **overrides})
    return EvalNetworkSpec(**{**base, **overrides})


def run_generation(run_dir: pathlib.Path, budgets: Sequence[dict], spec: EvalNetworkSpec | None = None,
                   draw: bool = True, nonparam_rule: str = "exactly", nonparam_cells: str = "normal",
                   time_limit_s: float | None = 60.0, eng: str | None = None) -> dict:
    """One genotype per budget in one call, written with the result files; returns the ``eng.json`` content.

    ``eng``: ``"model"`` (the default preset's; needs the run's records) recommends per budget the genotype of
    :mod:`ddp_vision.darts.recommendation`; ``"theta"`` (the ``paper``/``authors`` presets', and runs without
    records) is the exact DARTS ENG on θ. Budgets no genotype meets are listed under ``infeasible``. When none
    can be met, nothing is written (``report["written"]`` is False) and the files of an earlier call stay untouched.
    """
    run_dir = pathlib.Path(run_dir)
    space, distribution = load_run(run_dir)
    steps = supernet_config_from_space(space).steps
    spec = spec or default_spec(space)
    derived = darts_derivation(space, distribution.theta, distribution.live, steps)
    costs = eval_cost_tables(space, spec, steps)
    derived_costs = network_costs(spec.build(derived), spec.image_size, spec.in_channels)
    options = {"nonparam_rule": nonparam_rule, "nonparam_cells": nonparam_cells, "time_limit_s": time_limit_s}
    results = generate_genotypes(space, distribution.theta, distribution.live, costs, list(budgets), steps,
                                 on_infeasible="report", **options)
    run, eng = model_run(run_dir, eng)
    if run is not None:
        results = recommended_entries(run, space, distribution, costs, list(budgets), steps, results, options)
    answers = [r for r in results if r.feasible]
    errors = [{"budgets": r.budgets, "error": r.message, "smallest": r.smallest, "proven": r.proven}
              for r in results if not r.feasible]
    report = {"network": spec.to_dict(), "eng": eng,
              "derived": {"genotype_text": format_genotype(derived), **derived_costs},
              "nonparam_rule": nonparam_rule, "nonparam_cells": nonparam_cells,
              "answers": [a.to_dict() for a in answers], "infeasible": errors, "written": bool(answers)}
    if not answers:
        return report
    if eng == "model":  # what tools/train_darts.py --genotype RUN_DIR trains: the first budget's recommendation
        chosen, label = answers[0].genotype, _label(answers[0].budgets, nonparam_rule, nonparam_cells)
        chosen_costs = network_costs(spec.build(chosen), spec.image_size, spec.in_channels)
        rule = f"recommended genotype for {label}: {answers[0].how}"
    else:
        chosen, chosen_costs, rule = derived, derived_costs, "darts: two strongest inputs per node, argmax op"
    write_json_atomic(run_dir / "genotype.json", {"genotype": genotype_to_dict(chosen), "costs": chosen_costs,
                                                   "rule": rule})
    write_text_atomic(run_dir / "genotype.txt", format_genotype(chosen) + "\n")
    write_json_atomic(run_dir / "eng.json", report)
    write_text_atomic(run_dir / "eng.txt", format_report(report))
    for stale in run_dir.glob("eng_cells_*.png"):  # drawings of an earlier call's answers
        stale.unlink(missing_ok=True)
    if draw:
        draw_genotype(chosen, run_dir / "cells.png", title="recommended genotype (genotype.json)" if eng == "model"
                      else "DARTS rule (two strongest inputs, argmax op)")
        for i, answer in enumerate(answers):
            label = ", ".join(f"{k} <= {v:g}" for k, v in answer.budgets.items()) or "no constraint"
            draw_genotype(answer.genotype, run_dir / f"eng_cells_{i}.png",
                          title=f"ENG {label}: E={answer.expectation:.4f}, {answer.costs['params_m']:.2f}M params")
    return report


def model_run(run_dir: pathlib.Path, eng: str | None):
    """``(LoadedRun, "model")`` when the model's ENG answers for this run, else ``(None, "theta")``.

    ``eng=None`` is the run's preset's ENG; a run without at least two records (or a bare ``state.json``) has
    only θ, so it gets θ's, and ``eng="model"`` for it is an error naming why.
    """
    if eng == "theta":
        return None, "theta"
    try:
        run = load_loaded_run(run_dir)
    except (ValueError, KeyError, TypeError, OSError) as error:
        if eng == "model":
            raise ValueError(f"--eng model needs the search's records: {error}") from None
        return None, "theta"
    eng = run_eng(run, eng)
    records = int(read_json(pathlib.Path(run_dir) / "state.json").get("records", 0))
    if eng == "model" and records < 2:
        raise ValueError(f"--eng model needs at least two scores; {run_dir} holds {records}: use --eng theta")
    return (run, eng) if eng == "model" else (None, eng)


class _Recommended(EngAnswer):
    """A recommended genotype in the format of an :class:`EngAnswer`, with how it was chosen and the alternatives."""

    def __init__(self, answer, expectation: float, counted: int, theta_answer) -> None:
        super().__init__(budgets=answer.budgets, genotype=answer.genotype, expectation=expectation,
                         costs={**answer.costs, "nonparam_ops": counted,
                                "cell_height": max(c["cell_height"] for c in answer.per_cell.values())},
                         per_cell=answer.per_cell, proven_optimal=answer.proven_optimal)
        self.answer, self.theta_answer = answer, theta_answer
        self.how = answer.how

    def to_dict(self) -> dict:
        alternatives = dict(self.answer.alternatives)
        alternatives["theta"] = self.theta_answer.to_dict() if self.theta_answer.feasible else None
        return {**super().to_dict(), "architecture": list(self.answer.architecture), "source": self.answer.source,
                "how": self.how, "estimate": self.answer.estimate, "predicted_score": self.answer.predicted_score,
                "alternatives": alternatives}


def recommended_entries(run, space, distribution, costs, budgets, steps, theta_results, options) -> list:
    """The model's answer per budget as DARTS answers: θ's for ``cell_height`` budgets (their how says why)."""
    found = recommend_genotypes(run, costs, budgets, steps, **options)
    out = []
    for answer, theta_answer in zip(found, theta_results, strict=True):
        if answer is None:  # cell_height: the exact DARTS ENG on θ
            if theta_answer.feasible:
                theta_answer.how = THETA_CELL_HEIGHT_HOW
            out.append(theta_answer)
        elif not answer.feasible and not answer.proven and theta_answer.feasible:
            theta_answer.how = ("exact DARTS ENG on θ (Eq. 10 under the DARTS rule): the model's ENG found no genotype "
                                "in the time limit (--time-limit)")
            out.append(theta_answer)
        elif not answer.feasible:
            out.append(answer)
        else:
            kept = [(e, k) for e, k in enumerate(answer.architecture) if space.decisions[e].candidates[k].name != "none"]
            expectation = sum(float(distribution.theta[e, k]) for e, k in kept) / (4 * steps)
            counted = (answer.per_cell["normal"]["nonparam_ops"] if options["nonparam_cells"] == "normal" else
                       max(c["nonparam_ops"] for c in answer.per_cell.values()))
            out.append(_Recommended(answer, expectation, counted, theta_answer))
    return out


def _label(budgets: dict, rule: str, cells: str) -> str:
    parts = []
    for key, value in budgets.items():
        if key == "nonparam_ops":
            where = "normal cell" if cells == "normal" else "each cell"
            parts.append(f"nonparam_ops {'==' if rule == 'exactly' else '<='} {value:g} ({where})")
        else:
            parts.append(f"{key} <= {value:g}")
    return ", ".join(parts) or "no constraint"


def format_report(report: dict) -> str:
    """Human-readable lines of an ``eng.json`` report: one genotype per budget, each with how it was chosen."""
    net = report["network"]
    rule, cells = report.get("nonparam_rule", "at_most"), report.get("nonparam_cells", "both")
    model = report.get("eng") == "model"
    # "cifar" is the DARTS network layout, not the dataset: a digits run is costed on the CIFAR layout at 8px
    lines = [f"costs for the evaluation network tools/train_darts.py builds: DARTS {net['kind']} layout, "
             f"{net['layers']} cells, {net['channels']} channels, {net['image_size']}x{net['image_size']} inputs, "
             f"{net['num_classes']} classes (--network/--layers/--channels change it)"]
    if not model:  # θ's ENG: the DARTS rule's genotype as before; with the model it is an alternative in eng.json
        lines += [f"DARTS rule: {report['derived']['params_m']:.3f}M params, {report['derived']['flops_m']:.1f}M MACs",
                  f"  {report['derived']['genotype_text']}"]
    for answer in report["answers"]:
        c, per_cell = answer["costs"], answer.get("per_cell", {})
        counts = "/".join(str(per_cell[k]["nonparam_ops"]) for k in ("normal", "reduce") if k in per_cell)
        proof = "" if answer.get("proven_optimal", True) else " (best found in the time limit, not proven optimal)"
        score = (f"recommended, predicted score {answer['predicted_score']:.4f}"
                 if answer.get("predicted_score") is not None else f"expectation {answer['expectation']:.4f}")
        lines.append(f"ENG [{_label(answer['budgets'], rule, cells)}]: {score}, "
                     f"{c['params_m']:.3f}M params, {c['flops_m']:.1f}M MACs, nonparam ops normal/reduce {counts}, "
                     f"height {c['cell_height']}{proof}")
        lines.append(f"  {answer['genotype_text']}")
        if answer.get("how"):
            lines.append(f"  how: {answer['how']}")
    for failure in report["infeasible"]:
        lines.append(f"ENG [{_label(failure['budgets'], rule, cells)}]: infeasible: {failure['error']}")
    if model:
        lines.append("alternatives per budget (Eq. 10 on θ, best evaluated genotype) and the DARTS rule on θ: eng.json; "
                     "genotype.json: the first budget's recommendation")
    return "\n".join(lines) + "\n"


class _OneLineErrors(argparse.ArgumentParser):
    """Bad flags are one ``error:`` line (exit status 2), not argparse's usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    """Flags of ``tools/generate.py RUN_DIR`` for DARTS runs."""
    parser = _OneLineErrors(prog="tools/generate.py RUN_DIR", description=__doc__.split("\n")[0])
    add_budget_arguments(parser, BUDGET_KEYS, WHOLE_NUMBER_BUDGETS, help_extra="Default: a few examples.")
    parser.add_argument("--network", choices=("cifar", "imagenet"), default="cifar")
    # bounds far above any DARTS network, so a typo (--layers 100000, --image-size 0) is one line, not a minute
    parser.add_argument("--channels", type=argument_type("--channels", integer=True, minimum=1, maximum=4096),
                        default=None, help="default: 36 (cifar) / 48 (imagenet)")
    parser.add_argument("--layers", type=argument_type("--layers", integer=True, minimum=3, maximum=200), default=None,
                        help="default: 20 (cifar) / 14 (imagenet)")
    parser.add_argument("--image-size", type=argument_type("--image-size", integer=True, minimum=8, maximum=4096),
                        default=None)
    parser.add_argument("--num-classes", type=argument_type("--num-classes", integer=True, minimum=2,
                                                            maximum=100_000), default=None)
    parser.add_argument("--nonparam-count", choices=("exactly", "at-most"), default="exactly",
                        help="nonparam_ops=N means exactly N (default; the authors' code, Table 4) or at most N")
    parser.add_argument("--nonparam-cells", choices=("normal", "both"), default="normal",
                        help="N applies to the normal cell only (default; the reduction cell follows θ) or to each")
    parser.add_argument("--time-limit", type=argument_type("--time-limit", minimum=0, exclusive_minimum=True,
                                                           maximum=86_400), default=60.0,
                        help="seconds for the whole ENG call; answers not proven optimal by then are flagged")
    parser.add_argument("--eng", choices=ENG_CHOICES, default=None,
                        help=ENG_HELP + "; the model's answers keep the DARTS cell rule (two non-none inputs per "
                        "node) as count constraints, budgets with cell_height use θ's exact DARTS ENG; runs without "
                        "records use θ")
    parser.add_argument("--no-draw", action="store_true", help="skip the cell drawings")
    return parser


def cli(run_dir: pathlib.Path, argv: list[str]) -> int:
    """Entry point of ``tools/generate.py RUN_DIR [flags]`` for DARTS runs; returns the exit status."""
    args = build_parser().parse_args(argv)
    if not (math.isfinite(args.time_limit) and args.time_limit > 0):
        print(f"error: --time-limit must be a positive number of seconds, got {args.time_limit}", file=sys.stderr)
        return 2
    try:
        requests = requests_from_args(args, combine="pair", keys=BUDGET_KEYS)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    space, _ = load_run(run_dir)
    spec = default_spec(space, args.network, channels=args.channels, layers=args.layers,
                        image_size=args.image_size, num_classes=args.num_classes)
    try:
        report = run_generation(pathlib.Path(run_dir), requests or list(DEFAULT_BUDGETS), spec,
                                draw=not args.no_draw, nonparam_rule=args.nonparam_count.replace("-", "_"),
                                nonparam_cells=args.nonparam_cells, time_limit_s=args.time_limit, eng=args.eng)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not report["written"]:
        for failure in report["infeasible"]:
            print(f"error: {failure['error']}", file=sys.stderr)
        print(f"error: no budget can be met; {pathlib.Path(run_dir) / 'eng.json'} and the drawings were left as they "
              "were", file=sys.stderr)
        return 2
    print(format_report(report), end="")
    print(f"wrote {pathlib.Path(run_dir) / 'eng.json'} and cell drawings")
    return 0
