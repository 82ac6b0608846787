"""``tools/search_bert.py``: a DDPNAS BERT compression search, run under ``accelerate launch``.

Fine-tunes the elastic supernet while ddp-core samples sub-networks, scores each on a split held out of
the GLUE training set, and writes a resumable run directory that ``tools/generate.py`` turns into a model.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import torch
from accelerate import Accelerator, DataLoaderConfiguration, DistributedDataParallelKwargs
from accelerate.utils import set_seed
from transformers import (
    AutoConfig,
    AutoTokenizer,
    BertForSequenceClassification,
    get_constant_schedule_with_warmup,
)

from ddp_bert.costs import subnetwork_parameters
from ddp_bert.elastic import ElasticBertForSequenceClassification
from ddp_bert.evaluator import BatchStream, BertSupernetEvaluator
from ddp_bert.glue import glue_task, load_glue, make_loader, split_for_search, tokenize
from ddp_bert.hub_access import DEFAULT_TEACHER, SourceUnavailableError, check_hub_sources
from ddp_bert.importance import reorder_by_importance
from ddp_bert.search_logging import JsonlLogger, TqdmProgress
from ddp_bert.space import TeacherShape, build_search_space, decode_architecture
from ddp_core import DDPSearch, add_search_arguments, search_config_from_args, write_json_atomic

TEACHER_SUBDIR = "teacher"


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``tools/search_bert.py``."""
    parser = argparse.ArgumentParser(
        description="DDPNAS BERT compression search (run it with `accelerate launch`).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    data = parser.add_argument_group("task and data")
    data.add_argument("--task", required=True, help="GLUE task: cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte")
    data.add_argument("--data-dir", default=None, help="local GLUE copy in the hub layout (default: nyu-mll/glue)")
    data.add_argument("--max-length", type=int, default=128, help="tokens per example")
    data.add_argument("--score-fraction", type=float, default=0.1,
                      help="part of the training set held out to score sub-networks")
    data.add_argument("--max-score-examples", type=int, default=2000, help="cap on the scoring split")
    data.add_argument("--max-train-examples", type=int, default=None, help="subsample the training part")
    model = parser.add_argument_group("teacher and space")
    model.add_argument("--model", default=DEFAULT_TEACHER, help="BERT checkpoint: hub name or local directory")
    model.add_argument("--depths", type=_int_list, default=None, help="e.g. 6,8,10,12 (default: paper's, scaled)")
    model.add_argument("--ffn-widths", type=_int_list, default=None, help="e.g. 512,768,1024,3072")
    model.add_argument("--heads", type=_int_list, default=None, help="e.g. 4,8,12")
    train = parser.add_argument_group("training")
    train.add_argument("--batch-size", type=int, default=32, help="per process")
    train.add_argument("--eval-batch-size", type=int, default=64, help="per process")
    train.add_argument("--lr", type=float, default=2e-5)
    train.add_argument("--weight-decay", type=float, default=0.01)
    train.add_argument("--lr-warmup-steps", type=int, default=100, help="linear learning-rate warm-up")
    train.add_argument("--warmup-steps", type=int, default=0,
                       help="fine-tune the whole teacher this many steps before the search")
    train.add_argument("--importance-batches", type=int, default=8,
                       help="batches to rank heads/neurons by importance before the search (0: keep order)")
    train.add_argument("--steps-per-unit", type=int, default=100, help="optimizer steps per sampled architecture")
    train.add_argument("--distill-weight", type=float, default=0.0, help="weight of the soft-target loss")
    train.add_argument("--distill-temperature", type=float, default=1.0)
    train.add_argument("--teacher-model", default=None,
                       help="fine-tuned classifier for soft targets (default: the whole supernet, in place)")
    add_search_arguments(parser, "search (ddp-core); --run-dir defaults to runs/bert-<task>")
    run = parser.add_argument_group("run")
    run.add_argument("--cpu", action="store_true", help="run on the CPU even if a GPU is visible")
    run.add_argument("--mixed-precision", choices=("no", "fp16", "bf16"), default="no")
    try:  # unless the shared search flags already define it
        run.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    except argparse.ArgumentError:
        pass
    return parser


def _optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        (no_decay if parameter.ndim == 1 or "LayerNorm" in name else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr)


def _load_supernet(args, run_dir: Path, num_labels: int, label_names: tuple[str, ...], resuming: bool
                   ) -> ElasticBertForSequenceClassification:
    if resuming:  # weights come from the checkpoint; the teacher's config was saved in the run directory
        config = AutoConfig.from_pretrained(run_dir / TEACHER_SUBDIR)
        return ElasticBertForSequenceClassification(BertForSequenceClassification(config))
    return ElasticBertForSequenceClassification.from_pretrained(args.model, num_labels=num_labels,
                                                                label_names=label_names)


def main(argv: Sequence[str] | None = None) -> int:
    """Run (or resume) a search; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        task = glue_task(args.task)
    except ValueError as error:
        parser.error(str(error))
    try:  # offline or unreachable hub: one line now instead of a minute of retries and a traceback
        check_hub_sources(None if args.resume else args.model, args.data_dir, task.name, args.teacher_model)
    except SourceUnavailableError as error:
        if args.debug:
            raise
        parser.exit(2, f"error: {error}\n")
    run_dir = Path(args.resume or args.run_dir or f"runs/bert-{task.name}")
    has_state = (run_dir / "state.json").exists()
    if has_state and not args.resume:
        raise SystemExit(f"{run_dir} already holds a search: pass --resume {run_dir} to continue it, or another --run-dir")
    if args.resume and not has_state:
        raise SystemExit(f"--resume: {run_dir} holds no search (no state.json); drop --resume to start one")
    accelerator = Accelerator(
        cpu=args.cpu, mixed_precision=args.mixed_precision,
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
    )
    set_seed(args.seed)
    tokenizer_source = run_dir / TEACHER_SUBDIR if args.resume else args.model
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_source)
    with accelerator.main_process_first():
        raw = load_glue(task, args.data_dir)
        train_part, score_part = split_for_search(raw["train"], args.score_fraction, args.seed, args.max_score_examples)
        if args.max_train_examples is not None and len(train_part) > args.max_train_examples:
            train_part = train_part.select(range(args.max_train_examples))
        train_set = tokenize(train_part, task, tokenizer, args.max_length)
        score_set = tokenize(score_part, task, tokenizer, args.max_length)
    supernet = _load_supernet(args, run_dir, task.num_labels, task.label_names, args.resume)
    teacher = TeacherShape.from_config(supernet.config)
    space = build_search_space(teacher, args.depths, args.ffn_widths, args.heads, extra_metadata={
        "teacher": str(args.model), "teacher_dir": TEACHER_SUBDIR, "task": task.name,
        "num_labels": task.num_labels, "max_length": args.max_length,
    })
    importance_loader = make_loader(train_set, tokenizer, args.batch_size, shuffle=False)
    optimizer = _optimizer(supernet, args.lr, args.weight_decay)
    scheduler = get_constant_schedule_with_warmup(optimizer, args.lr_warmup_steps)
    train_loader = make_loader(train_set, tokenizer, args.batch_size, shuffle=True, seed=args.seed)
    score_loader = make_loader(score_set, tokenizer, args.eval_batch_size, shuffle=False)
    prepared, optimizer, train_loader, score_loader, scheduler = accelerator.prepare(
        supernet, optimizer, train_loader, score_loader, scheduler)
    teacher_model = None
    if args.teacher_model is not None:
        from transformers import AutoModelForSequenceClassification

        teacher_model = AutoModelForSequenceClassification.from_pretrained(args.teacher_model)
        if teacher_model.config.num_labels != task.num_labels:
            raise SystemExit(f"--teacher-model {args.teacher_model} has {teacher_model.config.num_labels} outputs; "
                             f"{task.name} needs {task.num_labels}: pass a classifier fine-tuned on {task.name}")
        teacher_model.to(accelerator.device).eval()
    evaluator = BertSupernetEvaluator(
        prepared, space, task, accelerator, optimizer, scheduler, BatchStream(train_loader, accelerator),
        score_loader, args.steps_per_unit, args.distill_weight, args.distill_temperature, teacher_model,
        seed=args.seed,
    )
    if not args.resume:
        _prepare_fresh_run(args, accelerator, evaluator, supernet, tokenizer, importance_loader, run_dir)
    config = search_config_from_args(args)
    main_process = accelerator.is_main_process
    callbacks = [TqdmProgress(disable=not main_process)]
    if main_process:
        callbacks.append(JsonlLogger(run_dir / "log.jsonl", evaluator))
    # Only the main process writes the run directory; the others follow it (same seed, same samples).
    search = DDPSearch(space, evaluator, config, run_dir=run_dir, callbacks=callbacks, resume=args.resume is not None,
                       writes=main_process)
    result = search.run()
    accelerator.wait_for_everyone()
    shape = decode_architecture(space, result.architecture)
    summary = {
        "task": task.name, "search_metric": task.search_metric, "architecture": list(result.architecture),
        "described": result.describe(), "shape": shape.to_dict(),
        "params_m": subnetwork_parameters(teacher, shape, task.num_labels) / 1e6,
        "teacher_params_m": subnetwork_parameters(teacher, supernet.full_shape(), task.num_labels) / 1e6,
        "score_split_metrics": evaluator.evaluate(shape), "steps": result.steps,
        "optimizer_steps": evaluator.optimizer_steps,
    }
    if main_process:
        write_json_atomic(run_dir / "search_result.json", summary)
        accelerator.print(json.dumps({k: summary[k] for k in ("described", "params_m", "score_split_metrics")}))
        accelerator.print(f"next: python tools/generate.py {run_dir} --params-m <budget> --export-dir <dir>")
    accelerator.end_training()
    return 0


def _prepare_fresh_run(args, accelerator, evaluator, supernet, tokenizer, importance_loader, run_dir: Path) -> None:
    """Optional full-teacher fine-tuning, then importance reordering; saves the teacher config and tokenizer."""
    if args.warmup_steps > 0:
        loss = evaluator.train_steps(supernet.full_shape(), args.warmup_steps, description="fine-tune teacher")
        accelerator.print(f"fine-tuned the whole teacher for {args.warmup_steps} steps (loss {loss:.4f})")
    orders = None
    if args.importance_batches > 0:
        orders = reorder_by_importance(supernet, importance_loader, args.importance_batches)
        evaluator.optimizer.state.clear()  # Adam moments would no longer match the permuted weights
    if accelerator.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        supernet.config.save_pretrained(run_dir / TEACHER_SUBDIR)
        tokenizer.save_pretrained(run_dir / TEACHER_SUBDIR)
        if orders is not None:
            write_json_atomic(run_dir / "importance_order.json", orders)
        write_json_atomic(run_dir / "search_args.json", vars(args))


if __name__ == "__main__":
    raise SystemExit(main())
