"""ENG for a BERT run: one sub-network per parameter (and latency) budget, exported for transformers.

``python tools/generate.py RUN_DIR --budget params_m=67 --export-dir out/`` (``tools/generate.py`` calls :func:`cli`)
prints, per budget, one sub-network and a line on how it was chosen: by default (``--eng model``, the default
preset's) the recommended network, the exact argmax of the search's estimate of quality over the whole space
under the budget (never worse by that estimate than the best evaluated network meeting it); ``--eng theta``
(the ``paper``/``authors`` presets') is Eq. 10 on θ over the live candidates (``--full-space``: all). ``eng.json``
keeps the alternatives (the θ answer, the best evaluated network). ``--export-dir`` writes a Hub-ready model
directory (weights, tokenizer, remote code, model card); ``--push-to-hub REPO_ID`` uploads it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ddp_bert.costs import PARAMS_COST_NAME, parameter_cost_table, subnetwork_parameters
from ddp_bert.hub_access import SourceUnavailableError, check_can_push, push_folder
from ddp_bert.space import SubnetworkShape, decode_architecture, teacher_shape_of
from ddp_core import (
    CostTable,
    InfeasibleBudgetError,
    LoadedRun,
    SearchSpace,
    generate,
    load_run,
    pareto_front,
    plot_pareto_front,
    read_json,
    run_cli,
    write_json_atomic,
)
from ddp_core.budgets import add_budget_arguments, requests_from_args
from ddp_core.cli import EXPECTED_ERRORS, OneLineArgumentParser
from ddp_core.run_eng import (
    ENG_CHOICES,
    ENG_HELP,
    THETA_HOW,
    alternatives_entry,
    model_front,
    run_eng,
    sweep_budgets,
)
from ddp_core.validation import non_negative_int, positive_int

# The paper's budget: 67M parameters for a BERT-base teacher (109.5M with a 2-way classifier).
PAPER_BUDGET_PARAMS_M = 67.0
BERT_BASE_PARAMS_M = 109.48
LATENCY_COST_NAME = "latency_ms"
BUDGET_KEYS = (PARAMS_COST_NAME, LATENCY_COST_NAME)


def default_params_budget_m(space: SearchSpace) -> float:
    """67M for a BERT-base teacher; the same fraction of the whole teacher for other teachers."""
    teacher = teacher_shape_of(space)
    num_labels = int(space.metadata.get("num_labels", 2))
    full = subnetwork_parameters(teacher, SubnetworkShape.full(teacher), num_labels) / 1e6
    if teacher.num_layers == 12 and teacher.hidden_size == 768 and teacher.intermediate_size == 3072:
        return PAPER_BUDGET_PARAMS_M
    return round(full * PAPER_BUDGET_PARAMS_M / BERT_BASE_PARAMS_M, 3)


def build_parser() -> argparse.ArgumentParser:
    """Flags after RUN_DIR in ``tools/generate.py RUN_DIR ...`` for a BERT run."""
    parser = OneLineArgumentParser(prog="tools/generate.py RUN_DIR", description=__doc__.split("\n\n")[0])
    add_budget_arguments(parser, BUDGET_KEYS, help_extra="Default: params_m=67 for BERT-base, the same fraction "
                         "of other teachers; latency_ms needs --latency-table.")
    parser.add_argument("--latency-table", default=None,
                        help="JSON latency table (ddp_bert.latency); measured and written here if missing")
    parser.add_argument("--latency-batch-size", type=positive_int, default=1)
    parser.add_argument("--latency-seq-len", type=positive_int, default=128)
    parser.add_argument("--device", default="cpu", help="device for the latency measurement (cpu, cuda, cuda:1)")
    parser.add_argument("--eng", choices=ENG_CHOICES, default=None, help=ENG_HELP)
    parser.add_argument("--full-space", action="store_true",
                        help="--eng theta: choose among pruned candidates too (ranked by the θ they had when pruned); "
                             "default: only the candidates the search kept live (--min-live). The model always "
                             "searches the whole space")
    parser.add_argument("--pareto", type=non_negative_int, default=0, metavar="POINTS",
                        help="also write a Pareto front of the chosen ENG's answers over a params sweep (JSON + PNG: "
                             "predicted score for the model, E[α] for θ)")
    parser.add_argument("--export-dir", default=None,
                        help="save the chosen model here: weights, tokenizer, remote code and a model card")
    hub = parser.add_argument_group("Hugging Face Hub (needs --export-dir)")
    hub.add_argument("--push-to-hub", default=None, metavar="REPO_ID",
                     help="upload the export directory to this model repository (created if missing)")
    hub.add_argument("--hub-token", default=None, help="token with write access (default: saved login or HF_TOKEN)")
    hub.add_argument("--private", action="store_true", help="create the repository as private")
    parser.add_argument("--output", default=None, help="result JSON (default RUN_DIR/eng.json)")
    return parser


def load_supernet(run_dir: Path, run: LoadedRun):
    """Rebuild the elastic supernet of a run from its saved teacher config and newest checkpoint."""
    from transformers import BertForSequenceClassification

    from ddp_bert.elastic import ElasticBertForSequenceClassification
    from ddp_bert.evaluator import CHECKPOINT_FILE, load_torch_file
    from ddp_bert.model_loading import inside_run_directory, load_config

    state = read_json(run_dir / "state.json")
    if not state.get("checkpoint"):
        raise FileNotFoundError(f"{run_dir}/state.json names no checkpoint; the search saved no weights")
    teacher_dir = inside_run_directory(run_dir, run.space.metadata.get("teacher_dir", "teacher"),
                                       "space.json metadata.teacher_dir")
    checkpoint_dir = inside_run_directory(run_dir / "checkpoints", state["checkpoint"], "state.json checkpoint")
    config = load_config(teacher_dir)  # trust_remote_code=False: a crafted config.json runs nothing
    config.num_labels = int(run.space.metadata.get("num_labels", config.num_labels))
    supernet = ElasticBertForSequenceClassification(BertForSequenceClassification(config))
    checkpoint = load_torch_file(checkpoint_dir / CHECKPOINT_FILE, "cpu")
    supernet.load_state_dict(checkpoint["model"])
    return supernet.eval(), teacher_dir


def describe_export(run: LoadedRun, shape: SubnetworkShape, answer, budgets: dict[str, float]):
    """The model card's facts about the exported sub-network: teacher, budget, exact size, search settings."""
    from ddp_bert.model_card import ExportDescription

    metadata = run.space.metadata
    teacher = teacher_shape_of(run.space)
    num_labels = int(metadata.get("num_labels", 2))
    search_args = _read_if_exists(run.run_dir / "search_args.json")
    search = {key: value for key, value in run.config.items() if isinstance(value, (int, float, str, bool))}
    search.update({key: search_args[key] for key in SEARCH_SETTINGS if search_args.get(key) is not None})
    for decision in ("depth", "layer0.ffn", "layer0.heads"):
        candidates = [c.name for d in run.space.decisions if d.name == decision for c in d.candidates]
        search[f"{decision.removeprefix('layer0.')}_choices"] = [int(name) for name in candidates]
    search["search_finished"] = run.finished
    metrics, when = _known_search_metrics(run, shape)
    return ExportDescription(
        teacher=str(metadata.get("teacher", "unknown")), task=str(metadata.get("task", "unknown")),
        depth=shape.depth, layer_num_heads=list(shape.num_heads), layer_intermediate_sizes=list(shape.intermediate_sizes),
        parameters=subnetwork_parameters(teacher, shape, num_labels),
        teacher_parameters=subnetwork_parameters(teacher, SubnetworkShape.full(teacher), num_labels),
        budgets=dict(budgets), costs={name: float(value) for name, value in answer.costs.items()},
        predicted_score=None if getattr(answer, "predicted_score", None) is None else
        round(float(answer.predicted_score), 6),
        theta_expectation=None if np.isnan(answer.expectation) else round(float(answer.expectation), 6), search=search,
        search_metrics=metrics, search_metrics_when=when, glue_from_hub=search_args.get("data_dir") is None,
    )


def _known_search_metrics(run: LoadedRun, shape: SubnetworkShape) -> tuple[dict | None, str | None]:
    """Score-split metrics of ``shape`` recorded by the search: at its end, else when last sampled."""
    result = _read_if_exists(run.run_dir / "search_result.json")
    if result.get("shape") == shape.to_dict() and result.get("score_split_metrics"):
        return result["score_split_metrics"], "after the search"
    log = run.run_dir / "log.jsonl"
    lines = log.read_text().splitlines() if log.exists() else []
    for line in reversed(lines):
        entry = json.loads(line)
        if entry.get("kind") == "sample" and entry.get("metrics") and "architecture" in entry and \
                decode_architecture(run.space, entry["architecture"]) == shape:
            return entry["metrics"], f"when last sampled (search step {entry.get('step')})"
    return None, None


# Training settings of tools/search_bert.py worth repeating in a model card (from search_args.json).
SEARCH_SETTINGS = ("max_length", "batch_size", "lr", "warmup_steps", "steps_per_unit", "importance_batches",
                   "distill_weight", "score_fraction", "max_train_examples")


def _read_if_exists(path: Path) -> dict:
    return read_json(path) if path.exists() else {}


def export_model(run_dir: Path, run: LoadedRun, shape: SubnetworkShape, export_dir: Path, card=None) -> dict:
    """Save the sub-network with its tokenizer (and ``card``), reload it through the Auto classes and compare."""
    from ddp_bert.export import save_compressed
    from ddp_bert.model_loading import load_sequence_classifier, load_tokenizer

    supernet, teacher_dir = load_supernet(run_dir, run)
    tokenizer = load_tokenizer(teacher_dir)
    model = save_compressed(supernet, shape, export_dir, tokenizer, card=card)
    # ddp_bert registered the exported type, so its auto_map code is not needed (trust_remote_code=False)
    reloaded = load_sequence_classifier(export_dir).eval()
    batch = tokenizer(["a short check sentence", "another one"], ["with a pair", "of inputs"],
                      padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = supernet(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"),
                            subnetwork=shape)
        saved = model(**batch).logits
        loaded = reloaded(**batch).logits
    return {
        "export_dir": str(export_dir),
        "parameters": int(sum(p.numel() for p in reloaded.parameters())),
        "reload_max_abs_diff": float((saved - loaded).abs().max()),
        "supernet_max_abs_diff": float((expected - loaded).abs().max()),
    }


def _latency_table(args, run_dir: Path, run: LoadedRun) -> CostTable:
    from ddp_bert.latency import load_latency_table, measure_latency_table, save_latency_table

    path = Path(args.latency_table)
    if path.exists():
        return load_latency_table(path, run.space)
    supernet, _ = load_supernet(run_dir, run)
    table, info = measure_latency_table(supernet, run.space, args.latency_batch_size, args.latency_seq_len,
                                        device=args.device)
    save_latency_table(path, table, info)
    print(f"measured a latency table on {info['device']} -> {path}")
    return table


def cli(run_dir: Path, argv: Sequence[str]) -> int:
    """Entry point for ``tools/generate.py`` (entry point ``ddpnas.generators: bert``): expected failures are
    one ``error:`` line and exit status 2."""
    return run_cli(lambda arguments: _generate(Path(run_dir), arguments), list(argv),
                   expected=(*EXPECTED_ERRORS, SourceUnavailableError))


def _generate(run_dir: Path, argv: Sequence[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv))
    if args.push_to_hub and args.export_dir is None:
        parser.error("--push-to-hub needs --export-dir (the directory that is uploaded)")
    requests = requests_from_args(args, combine="pair", keys=BUDGET_KEYS)
    if args.export_dir is not None and len(requests) > 1:
        parser.error("--export-dir saves one model: give one --budget (several only compare budgets)")
    if any(LATENCY_COST_NAME in r for r in requests) and args.latency_table is None:
        parser.error("--budget latency_ms=... needs --latency-table PATH (measured there if the file is missing)")
    if args.push_to_hub:  # say so before the export work, not after
        check_can_push(args.push_to_hub)
    run = load_run(run_dir)
    num_labels = int(run.space.metadata.get("num_labels", 2))
    costs = {PARAMS_COST_NAME: parameter_cost_table(run.space, num_labels)}
    if any(LATENCY_COST_NAME in r for r in requests):
        costs[LATENCY_COST_NAME] = _latency_table(args, run_dir, run)
    requests = requests or [{PARAMS_COST_NAME: default_params_budget_m(run.space)}]
    latencies = {r.get(LATENCY_COST_NAME) for r in requests}
    # the front sweeps parameters with the latency budget held, when every request has the same one
    fixed = {LATENCY_COST_NAME: latencies.pop()} if len(latencies) == 1 and None not in latencies else {}
    live_only = not args.full_space
    eng = run_eng(run, args.eng)
    # One infeasible budget of a list is reported in its place; the others are still answered.
    thetas = generate(run.space, run.distribution, costs, requests, live_only=live_only, on_infeasible="report")
    swept = []
    if eng == "model":
        if args.pareto:
            requested = [r[PARAMS_COST_NAME] for r in requests if PARAMS_COST_NAME in r]
            swept = [{**fixed, PARAMS_COST_NAME: b} for b in sweep_budgets(run, costs, PARAMS_COST_NAME, args.pareto,
                                                                             requested)]
        found = run.generate(costs, [*requests, *swept], eng="model")
        answers = found[:len(requests)]
        if any(a.feasible and a.source == "theta" for a in found):  # fewer than two scores: Eq. 10 on θ
            eng = "theta"
    if eng == "theta":
        answers = thetas
        for answer in answers:
            if answer.feasible:
                answer.how = THETA_HOW
    feasible = [answer for answer in answers if answer.feasible]
    if not feasible:
        hint = "" if not live_only or eng == "model" else "; or pass --full-space to choose among pruned candidates too"
        raise InfeasibleBudgetError(" | ".join(answer.message for answer in answers) + hint)
    entries = [_entry(run, answer, theta if eng == "model" else None) for answer, theta in zip(answers, thetas,
                                                                                               strict=True)]
    common = {"eng": eng, "search_finished": run.finished, "live_only": live_only and eng == "theta",
              "task": run.space.metadata.get("task")}
    result = {**entries[0], **common} if len(answers) == 1 else {"answers": entries, **common}
    if args.pareto:
        if eng == "model":
            front, plotted = model_front([*found, *feasible], PARAMS_COST_NAME), "predicted_score"
            title = "recommended network per parameter budget (the search's model)"
        else:
            front, plotted = _front_through(run, costs, feasible, args.pareto, live_only, fixed), "expectation"
            title = "ENG Pareto front (parameters)"
        write_json_atomic(run_dir / "pareto_params.json", [r.to_dict() for r in front])
        plot_pareto_front(front, PARAMS_COST_NAME, run_dir / "pareto_params.png", title, highlight=feasible,
                          plotted=plotted)
        result["pareto"] = str(run_dir / "pareto_params.json")
    if args.export_dir is not None:
        from ddp_bert.model_card import export_card

        answer, shape = feasible[0], decode_architecture(run.space, feasible[0].architecture)
        card = export_card(describe_export(run, shape, answer, answer.budgets), repo_id=args.push_to_hub)
        result["export"] = export_model(run_dir, run, shape, Path(args.export_dir), card=card)
        if args.push_to_hub:
            result["export"]["pushed_to"] = push_folder(args.export_dir, args.push_to_hub, token=args.hub_token,
                                                        private=True if args.private else None)
    output = Path(args.output) if args.output else run_dir / "eng.json"
    write_json_atomic(output, result)
    for answer in answers:
        print(_answer_line(run, answer))
        if answer.feasible:
            print(f"  how: {answer.how}")
    if eng == "model":
        print(f"alternatives per budget (θ answer, best evaluated network): {output}")
    print(f"-> {output}")
    if "export" in result:  # what the user takes home, and what to do with it
        task = run.space.metadata.get("task", "TASK")
        print(f"exported the network to {args.export_dir} (config.json, model.safetensors, tokenizer, README.md)")
        print(f"next: python tools/finetune_bert.py --model {args.export_dir} --task {task}")
    if "pushed_to" in result.get("export", {}):
        print(f"uploaded {args.export_dir} to {args.push_to_hub}: {result['export']['pushed_to']}")
    if any(np.isnan(answer.expectation) for answer in feasible):
        print("warning: the expectation is NaN; the run's θ holds no scores yet")
    return 0


def _entry(run: LoadedRun, answer, theta=None) -> dict:
    """An answer as eng.json holds it; with ``theta`` (the model's answers) its alternatives, each with its shape."""
    if not answer.feasible:
        return answer.to_dict()
    entry = {**answer.to_dict(), "shape": decode_architecture(run.space, answer.architecture).to_dict()}
    if theta is not None:
        entry["alternatives"] = alternatives_entry(answer, theta)
        for alternative in entry["alternatives"].values():
            if alternative is not None:
                alternative["shape"] = decode_architecture(run.space, tuple(alternative["architecture"])).to_dict()
    return entry


def _answer_line(run: LoadedRun, answer) -> str:
    budget = ", ".join(f"{name} <= {value:g}" for name, value in answer.budgets.items())
    if not answer.feasible:
        return f"ENG {budget}: infeasible: {answer.message}"
    shape = decode_architecture(run.space, answer.architecture)
    costs_text = ", ".join(f"{name} {value:.3f}" for name, value in answer.costs.items())
    score = (f"predicted score {answer.predicted_score:.4f}" if answer.predicted_score is not None else
             f"E[α] {answer.expectation:.4f}")
    return (f"ENG {budget}: depth {shape.depth}, heads {list(shape.num_heads)}, FFN {list(shape.intermediate_sizes)}; "
            f"{costs_text}; {score}")


def _front_through(run: LoadedRun, costs: dict, answers: list, points: int, live_only: bool, fixed: dict) -> list:
    """The exact parameters-vs-E[α] front over ``points`` budgets plus the answers' own budgets, so each answer
    is a point of the drawn front (between two swept budgets the drawn step would pass below it)."""
    sweep = pareto_front(run.space, run.distribution, costs, PARAMS_COST_NAME, points=points, live_only=live_only,
                         fixed_budgets=fixed)
    low, high = sweep[0].costs[PARAMS_COST_NAME], sweep[-1].costs[PARAMS_COST_NAME]
    budgets = sorted({*np.linspace(low, high, points).tolist(),
                      *(a.budgets[PARAMS_COST_NAME] for a in answers if PARAMS_COST_NAME in a.budgets)})
    front = pareto_front(run.space, run.distribution, costs, PARAMS_COST_NAME, budgets=budgets, live_only=live_only,
                         fixed_budgets=fixed)
    merged = {r.architecture: r for r in [*front, *answers]}.values()
    return [r for r in sorted(merged, key=lambda r: r.costs[PARAMS_COST_NAME])
            if not any(_dominates(o, r) for o in merged)]


def _dominates(other, result) -> bool:
    cost, value = other.costs[PARAMS_COST_NAME], other.expectation
    mine, my_value = result.costs[PARAMS_COST_NAME], result.expectation
    return (cost <= mine and value > my_value) or (cost < mine and value >= my_value)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ddp_bert.generate RUN_DIR [flags]`` (the same as ``tools/generate.py RUN_DIR [flags]``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-"):
        build_parser().print_help()
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    return cli(Path(argv[0]), argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
