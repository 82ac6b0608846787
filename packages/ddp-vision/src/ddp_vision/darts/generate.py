"""``tools/generate.py RUN_DIR`` for DARTS runs: derive genotypes from θ and run ENG under budgets.

Reads ``space.json`` and ``state.json`` of a search run directory, then writes

- ``genotype.txt`` / ``genotype.json``: the DARTS rule (two strongest inputs per node, argmax op);
- ``eng.json`` / ``eng.txt``: one exact ENG answer per ``--budget`` (genotype, expectation, costs);
- ``cells.png`` and ``eng_cells_<i>.png``: drawings of those genotypes (the paper's Fig. 5).

Costs refer to an evaluation network (``--network cifar|imagenet``, DARTS' sizes by default, classes,
input channels and image size taken from the search's dataset unless given).
"""

from __future__ import annotations

import argparse
import pathlib
from collections.abc import Sequence

from ddp_core import CategoricalDistribution, InfeasibleBudgetError, SearchSpace, read_json, write_json_atomic
from ddp_core.persistence import write_text_atomic
from ddp_vision.darts.costs import EvalNetworkSpec, eval_cost_tables, network_costs
from ddp_vision.darts.derivation import BUDGET_KEYS, darts_derivation, generate_genotypes
from ddp_vision.darts.drawing import draw_genotype
from ddp_vision.darts.genotypes import format_genotype, genotype_to_dict
from ddp_vision.darts.space import supernet_config_from_space

__all__ = ["cli", "parse_budget", "load_run", "DEFAULT_BUDGETS", "run_generation"]

DEFAULT_BUDGETS = ({}, {"nonparam_ops": 4}, {"nonparam_ops": 4, "cell_height": 2}, {"params_m": 2.5})


def parse_budget(text: str) -> dict[str, float]:
    """``"params_m=2.5,nonparam_ops=4"`` -> ``{"params_m": 2.5, "nonparam_ops": 4.0}``; ``"none"`` -> ``{}``."""
    if text.strip().lower() in ("", "none", "{}"):
        return {}
    budget = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in BUDGET_KEYS:
            raise argparse.ArgumentTypeError(
                f"bad budget part {part!r}: write KEY=VALUE[,KEY=VALUE] with KEY in {', '.join(BUDGET_KEYS)}"
            )
        try:
            budget[key] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"budget {key} needs a number, got {value!r}") from None
    return budget


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
                   draw: bool = True) -> dict:
    """Derive, run ENG for ``budgets`` and write the result files; returns the ``eng.json`` content."""
    run_dir = pathlib.Path(run_dir)
    space, distribution = load_run(run_dir)
    steps = supernet_config_from_space(space).steps
    spec = spec or default_spec(space)
    derived = darts_derivation(space, distribution.theta, distribution.live, steps)
    costs = eval_cost_tables(space, spec, steps)
    derived_costs = network_costs(spec.build(derived), spec.image_size, spec.in_channels)
    write_json_atomic(run_dir / "genotype.json", {"genotype": genotype_to_dict(derived), "costs": derived_costs,
                                                   "rule": "darts: two strongest inputs per node, argmax op"})
    write_text_atomic(run_dir / "genotype.txt", format_genotype(derived) + "\n")
    answers, errors = [], []
    for budget in budgets:
        try:
            answers.extend(generate_genotypes(space, distribution.theta, distribution.live, costs, [budget], steps))
        except InfeasibleBudgetError as error:
            errors.append({"budgets": budget, "error": str(error)})
    report = {"network": spec.to_dict(), "derived": {"genotype_text": format_genotype(derived), **derived_costs},
              "answers": [a.to_dict() for a in answers], "infeasible": errors}
    write_json_atomic(run_dir / "eng.json", report)
    write_text_atomic(run_dir / "eng.txt", format_report(report))
    if draw:
        draw_genotype(derived, run_dir / "cells.png", title="DARTS rule (two strongest inputs, argmax op)")
        for i, answer in enumerate(answers):
            label = ", ".join(f"{k} <= {v:g}" for k, v in answer.budgets.items()) or "no constraint"
            draw_genotype(answer.genotype, run_dir / f"eng_cells_{i}.png",
                          title=f"ENG {label}: E={answer.expectation:.4f}, {answer.costs['params_m']:.2f}M params")
    return report


def format_report(report: dict) -> str:
    """Human-readable lines of an ``eng.json`` report."""
    net = report["network"]
    lines = [f"evaluation network: {net['kind']}, {net['layers']} cells, {net['channels']} channels, "
             f"{net['image_size']}px, {net['num_classes']} classes",
             f"DARTS rule: {report['derived']['params_m']:.3f}M params, {report['derived']['flops_m']:.1f}M MACs",
             f"  {report['derived']['genotype_text']}"]
    for answer in report["answers"]:
        label = ", ".join(f"{k} <= {v:g}" for k, v in answer["budgets"].items()) or "no constraint"
        c = answer["costs"]
        lines.append(f"ENG [{label}]: expectation {answer['expectation']:.4f}, {c['params_m']:.3f}M params, "
                     f"{c['flops_m']:.1f}M MACs, nonparam ops/cell {c['nonparam_ops']}, height {c['cell_height']}")
        lines.append(f"  {answer['genotype_text']}")
    for failure in report["infeasible"]:
        lines.append(f"ENG {failure['budgets']}: infeasible: {failure['error']}")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    """Flags of ``tools/generate.py RUN_DIR`` for DARTS runs."""
    parser = argparse.ArgumentParser(prog="tools/generate.py RUN_DIR", description=__doc__.split("\n")[0])
    parser.add_argument("--budget", action="append", type=parse_budget, default=None,
                        help="KEY=VALUE[,KEY=VALUE] with KEY in " + ", ".join(BUDGET_KEYS)
                        + "; repeat for several budgets ('none' = unconstrained). Default: a few examples")
    parser.add_argument("--network", choices=("cifar", "imagenet"), default="cifar")
    parser.add_argument("--channels", type=int, default=None, help="default: 36 (cifar) / 48 (imagenet)")
    parser.add_argument("--layers", type=int, default=None, help="default: 20 (cifar) / 14 (imagenet)")
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--num-classes", type=int, default=None)
    parser.add_argument("--no-draw", action="store_true", help="skip the cell drawings")
    return parser


def cli(run_dir: pathlib.Path, argv: list[str]) -> int:
    """Entry point of ``tools/generate.py RUN_DIR [flags]`` for DARTS runs; returns the exit status."""
    args = build_parser().parse_args(argv)
    space, _ = load_run(run_dir)
    spec = default_spec(space, args.network, channels=args.channels, layers=args.layers,
                        image_size=args.image_size, num_classes=args.num_classes)
    report = run_generation(pathlib.Path(run_dir), args.budget or list(DEFAULT_BUDGETS), spec,
                            draw=not args.no_draw)
    print(format_report(report), end="")
    print(f"wrote {pathlib.Path(run_dir) / 'eng.json'} and cell drawings")
    return 1 if report["infeasible"] and not report["answers"] else 0
