"""``tools/finetune_bert.py``: fine-tune a (compressed) model on a GLUE task and report the dev metric as JSON.

Works for any model ``AutoModelForSequenceClassification`` can load, including models exported by
``tools/generate.py`` (``import ddp_bert`` registers their type). Runs under ``accelerate launch`` too.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm.auto import tqdm
from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

import ddp_bert  # noqa: F401  (registers the compressed model type with the Auto classes)
from ddp_bert.elastic import task_loss
from ddp_bert.glue import glue_task, load_glue, load_metric, make_loader, predictions_from_logits, tokenize
from ddp_core import write_json_atomic


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``tools/finetune_bert.py``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", required=True, help="exported model directory (or any sequence classifier)")
    parser.add_argument("--task", required=True, help="GLUE task name")
    parser.add_argument("--data-dir", default=None, help="local GLUE copy in the hub layout (default: the hub)")
    parser.add_argument("--output-dir", default=None, help="save the fine-tuned model and results.json here")
    parser.add_argument("--results", default=None, help="results JSON (default OUTPUT_DIR/results.json)")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--eval-batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--max-steps", type=int, default=None, help="overrides --epochs")
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--max-train-examples", type=int, default=None)
    parser.add_argument("--max-eval-examples", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cpu", action="store_true")
    parser.add_argument("--mixed-precision", choices=("no", "fp16", "bf16"), default="no")
    return parser


@torch.no_grad()
def evaluate_model(model, loader, task, accelerator: Accelerator) -> dict[str, float]:
    """Official metric(s) of ``task`` over ``loader``."""
    model.eval()
    logits_parts, label_parts = [], []
    for batch in loader:
        labels = batch.pop("labels")
        logits = model(**batch).logits
        logits, labels = accelerator.gather_for_metrics((logits, labels))
        logits_parts.append(logits.float().cpu().numpy())
        label_parts.append(labels.cpu().numpy())
    predictions = predictions_from_logits(task, np.concatenate(logits_parts))
    metrics = load_metric(task).compute(predictions=predictions, references=np.concatenate(label_parts))
    return {name: float(value) for name, value in metrics.items()}


def main(argv: Sequence[str] | None = None) -> int:
    """Fine-tune, evaluate on the dev split, write the results JSON; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        task = glue_task(args.task)
    except ValueError as error:
        parser.error(str(error))
    accelerator = Accelerator(cpu=args.cpu, mixed_precision=args.mixed_precision)
    set_seed(args.seed)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForSequenceClassification.from_pretrained(args.model)
    if model.config.num_labels != task.num_labels:
        raise SystemExit(f"{args.model} has {model.config.num_labels} outputs; {task.name} needs {task.num_labels}")
    with accelerator.main_process_first():
        raw = load_glue(task, args.data_dir)
        train, dev = raw["train"], raw[task.dev_split]
        if args.max_train_examples is not None:
            train = train.select(range(min(args.max_train_examples, len(train))))
        if args.max_eval_examples is not None:
            dev = dev.select(range(min(args.max_eval_examples, len(dev))))
        train_set = tokenize(train, task, tokenizer, args.max_length)
        dev_set = tokenize(dev, task, tokenizer, args.max_length)
    train_loader = make_loader(train_set, tokenizer, args.batch_size, shuffle=True, seed=args.seed)
    dev_loader = make_loader(dev_set, tokenizer, args.eval_batch_size, shuffle=False)
    steps_per_epoch = math.ceil(len(train_loader) / accelerator.num_processes)
    total_steps = args.max_steps or max(1, math.ceil(args.epochs * steps_per_epoch))
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(args.warmup_ratio * total_steps), total_steps)
    model, optimizer, train_loader, dev_loader, scheduler = accelerator.prepare(
        model, optimizer, train_loader, dev_loader, scheduler)
    before = evaluate_model(model, dev_loader, task, accelerator)
    model.train()
    step, losses = 0, []
    progress = tqdm(total=total_steps, desc=f"fine-tune {task.name}", disable=not accelerator.is_main_process)
    while step < total_steps:
        for batch in train_loader:
            labels = batch.pop("labels")
            loss = task_loss(model(**batch).logits, labels)
            accelerator.backward(loss)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            step += 1
            progress.update(1)
            progress.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
            if step >= total_steps:
                break
    progress.close()
    after = evaluate_model(model, dev_loader, task, accelerator)
    unwrapped = accelerator.unwrap_model(model)
    results = {
        "task": task.name, "model": str(args.model), "dev_split": task.dev_split, "dev_examples": len(dev_set),
        "search_metric": task.search_metric, "metrics_before": before, "metrics": after,
        "params_m": sum(p.numel() for p in unwrapped.parameters()) / 1e6, "steps": step,
        "final_train_loss": float(np.mean(losses[-20:])) if losses else None,
    }
    if accelerator.is_main_process:
        if args.output_dir is not None:
            Path(args.output_dir).mkdir(parents=True, exist_ok=True)
            unwrapped.save_pretrained(args.output_dir)
            tokenizer.save_pretrained(args.output_dir)
        target = args.results or (Path(args.output_dir) / "results.json" if args.output_dir else None)
        if target is not None:
            write_json_atomic(Path(target), results)
        accelerator.print(json.dumps(results))
    accelerator.end_training()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
