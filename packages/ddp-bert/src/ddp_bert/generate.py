"""ENG for a BERT run: the best sub-network under a parameter (and latency) budget, exported for transformers.

``python tools/generate.py RUN_DIR --params-m 67 --export-dir out/`` (``tools/generate.py`` calls :func:`cli`).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ddp_bert.costs import PARAMS_COST_NAME, parameter_cost_table, subnetwork_parameters
from ddp_bert.space import SubnetworkShape, decode_architecture, teacher_shape_of
from ddp_core import (
    CostTable,
    InfeasibleBudgetError,
    LoadedRun,
    generate,
    load_run,
    pareto_front,
    plot_pareto_front,
    read_json,
    write_json_atomic,
)

# The paper's budget: 67M parameters for a BERT-base teacher (109.5M with a 2-way classifier).
PAPER_BUDGET_PARAMS_M = 67.0
BERT_BASE_PARAMS_M = 109.48
LATENCY_COST_NAME = "latency_ms"


def default_params_budget_m(run: LoadedRun) -> float:
    """67M for a BERT-base teacher; the same fraction of the whole teacher for other teachers."""
    teacher = teacher_shape_of(run.space)
    num_labels = int(run.space.metadata.get("num_labels", 2))
    full = subnetwork_parameters(teacher, SubnetworkShape.full(teacher), num_labels) / 1e6
    if teacher.num_layers == 12 and teacher.hidden_size == 768 and teacher.intermediate_size == 3072:
        return PAPER_BUDGET_PARAMS_M
    return round(full * PAPER_BUDGET_PARAMS_M / BERT_BASE_PARAMS_M, 3)


def build_parser() -> argparse.ArgumentParser:
    """Flags after RUN_DIR in ``tools/generate.py RUN_DIR ...`` for a BERT run."""
    parser = argparse.ArgumentParser(prog="tools/generate.py RUN_DIR", description=__doc__.split("\n\n")[0])
    parser.add_argument("--params-m", type=float, default=None,
                        help="parameter budget in millions (default: 67 for BERT-base, same fraction otherwise)")
    parser.add_argument("--latency-ms", type=float, default=None, help="latency budget (needs --latency-table)")
    parser.add_argument("--latency-table", default=None,
                        help="JSON latency table (ddp_bert.latency); measured and written here if missing")
    parser.add_argument("--latency-batch-size", type=int, default=1)
    parser.add_argument("--latency-seq-len", type=int, default=128)
    parser.add_argument("--device", default="cpu", help="device for the latency measurement (cpu, cuda, cuda:1)")
    parser.add_argument("--live-only", action="store_true", help="search only the pruned space")
    parser.add_argument("--pareto", type=int, default=0, metavar="POINTS",
                        help="also write a params-vs-expectation Pareto front (JSON + PNG)")
    parser.add_argument("--export-dir", default=None, help="save the chosen model here with save_pretrained")
    parser.add_argument("--output", default=None, help="result JSON (default RUN_DIR/eng.json)")
    return parser


def load_supernet(run_dir: Path, run: LoadedRun):
    """Rebuild the elastic supernet of a run from its saved teacher config and newest checkpoint."""
    from transformers import AutoConfig, BertForSequenceClassification

    from ddp_bert.elastic import ElasticBertForSequenceClassification
    from ddp_bert.evaluator import CHECKPOINT_FILE

    state = read_json(run_dir / "state.json")
    if not state.get("checkpoint"):
        raise FileNotFoundError(f"{run_dir}/state.json names no checkpoint; the search saved no weights")
    teacher_dir = run_dir / run.space.metadata.get("teacher_dir", "teacher")
    config = AutoConfig.from_pretrained(teacher_dir)
    config.num_labels = int(run.space.metadata.get("num_labels", config.num_labels))
    supernet = ElasticBertForSequenceClassification(BertForSequenceClassification(config))
    checkpoint = torch.load(run_dir / "checkpoints" / state["checkpoint"] / CHECKPOINT_FILE,
                            map_location="cpu", weights_only=True)
    supernet.load_state_dict(checkpoint["model"])
    return supernet.eval(), teacher_dir


def export_model(run_dir: Path, run: LoadedRun, shape: SubnetworkShape, export_dir: Path) -> dict:
    """Save the sub-network with its tokenizer, reload it through the Auto classes and compare logits."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ddp_bert.export import save_compressed

    supernet, teacher_dir = load_supernet(run_dir, run)
    tokenizer = AutoTokenizer.from_pretrained(teacher_dir)
    model = save_compressed(supernet, shape, export_dir, tokenizer)
    reloaded = AutoModelForSequenceClassification.from_pretrained(export_dir).eval()
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
    """Entry point for ``tools/generate.py`` (metadata ``generator = "ddp_bert.generate:cli"``)."""
    args = build_parser().parse_args(list(argv))
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    num_labels = int(run.space.metadata.get("num_labels", 2))
    costs = {PARAMS_COST_NAME: parameter_cost_table(run.space, num_labels)}
    budgets = {PARAMS_COST_NAME: args.params_m if args.params_m is not None else default_params_budget_m(run)}
    if args.latency_ms is not None:
        if args.latency_table is None:
            raise SystemExit("--latency-ms needs --latency-table PATH (measured there if the file is missing)")
        costs[LATENCY_COST_NAME] = _latency_table(args, run_dir, run)
        budgets[LATENCY_COST_NAME] = args.latency_ms
    # After a full search every decision has one live candidate, so ENG searches the full space by default:
    # ddp-core then counts each pruned candidate with the θ it had when pruned (the candidates that survived
    # longest are preferred).
    distribution = run.distribution
    try:
        answer = generate(run.space, distribution, costs, budgets, live_only=args.live_only)
    except InfeasibleBudgetError as error:
        raise SystemExit(f"error: {error}") from None
    shape = decode_architecture(run.space, answer.architecture)
    result = {**answer.to_dict(), "shape": shape.to_dict(), "search_finished": run.finished,
              "live_only": args.live_only, "task": run.space.metadata.get("task")}
    if args.pareto:
        front = pareto_front(run.space, distribution, costs, PARAMS_COST_NAME, points=args.pareto,
                             live_only=args.live_only)
        write_json_atomic(run_dir / "pareto_params.json", [r.to_dict() for r in front])
        plot_pareto_front(front, PARAMS_COST_NAME, run_dir / "pareto_params.png", "ENG Pareto front (parameters)",
                          highlight=[answer])
        result["pareto"] = str(run_dir / "pareto_params.json")
    if args.export_dir is not None:
        result["export"] = export_model(run_dir, run, shape, Path(args.export_dir))
    output = Path(args.output) if args.output else run_dir / "eng.json"
    write_json_atomic(output, result)
    costs_text = ", ".join(f"{name} {value:.3f}" for name, value in answer.costs.items())
    print(f"ENG: depth {shape.depth}, heads {list(shape.num_heads)}, FFN {list(shape.intermediate_sizes)}; "
          f"{costs_text}; E[α] {answer.expectation:.4f} -> {output}")
    if np.isnan(answer.expectation):
        print("warning: the expectation is NaN; the run's θ holds no scores yet")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ddp_bert.generate RUN_DIR [flags]`` (the same as ``tools/generate.py RUN_DIR [flags]``)."""
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-"):
        build_parser().print_help()
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    return cli(Path(argv[0]), argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
