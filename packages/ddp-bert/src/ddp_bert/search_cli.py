"""``tools/search_bert.py``: a DDPNAS BERT compression search, run under ``accelerate launch``.

Fine-tunes the elastic supernet while ddp-core samples sub-networks, scores each on a split held out of
the GLUE training set, and writes a resumable run directory that ``tools/generate.py`` turns into a model.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from accelerate import Accelerator, DataLoaderConfiguration, DistributedDataParallelKwargs
from accelerate.utils import ProjectConfiguration, set_seed
from transformers import BertForSequenceClassification, get_constant_schedule_with_warmup

from ddp_bert.costs import PARAMS_COST_NAME, parameter_cost_table
from ddp_bert.elastic import ElasticBertForSequenceClassification
from ddp_bert.evaluator import BatchStream, BertSupernetEvaluator
from ddp_bert.glue import glue_task, load_glue, make_loader, split_for_search, tokenize
from ddp_bert.hub_access import DEFAULT_TEACHER, SourceUnavailableError, check_hub_sources
from ddp_bert.importance import reorder_by_importance
from ddp_bert.model_loading import (
    check_max_length,
    inside_run_directory,
    load_config,
    load_sequence_classifier,
    load_tokenizer,
)
from ddp_bert.search_logging import JsonlLogger, MetricsTracker
from ddp_bert.search_report import report_result
from ddp_bert.search_setup import (
    broadcaster,
    check_resume_settings,
    check_trackers,
    description_of,
    tracker_config,
)
from ddp_bert.space import DEFAULT_MIN_LIVE, TeacherShape, build_search_space
from ddp_core import (
    DDPSearch,
    ProgressBar,
    TrackerCallback,
    add_search_arguments,
    argument_type,
    run_cli,
    search_config_from_args,
    write_json_atomic,
)
from ddp_core.budgets import budget_type
from ddp_core.cli import (
    EXPECTED_ERRORS,
    OneLineArgumentParser,
    check_planned_evaluations,
    prepare_run_directory,
)
from ddp_core.rundir import RunDirectoryError, read_json_file
from ddp_core.validation import non_negative_int, positive_int

TEACHER_SUBDIR = "teacher"
# Each checkpoint holds the supernet and its AdamW moments (3x the weights: 0.27 GB for MiniLM, 1.3 GB for
# BERT-base), so saving after every sub-network costs more than it protects. ddp-core also saves at every
# stage end, so a crash loses at most this many trained sub-networks.
DEFAULT_CHECKPOINT_EVERY = 4


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``tools/search_bert.py``."""
    parser = OneLineArgumentParser(
        description="DDPNAS BERT compression search (run it with `accelerate launch`).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    data = parser.add_argument_group("task and data")
    data.add_argument("--task", required=True, help="GLUE task: cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte")
    data.add_argument("--data-dir", default=None, help="local GLUE copy in the hub layout (default: nyu-mll/glue)")
    data.add_argument("--max-length", type=argument_type("--max-length", integer=True, minimum=2), default=128,
                      help="tokens per example")
    data.add_argument("--score-fraction", default=0.1, help="part of the training set held out to score sub-networks",
                      type=argument_type("--score-fraction", minimum=0, maximum=1, exclusive_minimum=True,
                                         exclusive_maximum=True))
    data.add_argument("--max-score-examples", type=positive_int, default=2000, help="cap on the scoring split")
    data.add_argument("--max-train-examples", type=positive_int, default=None, help="subsample the training part")
    model = parser.add_argument_group("teacher and space")
    model.add_argument("--model", default=DEFAULT_TEACHER, help="BERT checkpoint: hub name or local directory")
    model.add_argument("--depths", type=_int_list, default=None, help="e.g. 6,8,10,12 (default: paper's, scaled)")
    model.add_argument("--ffn-widths", type=_int_list, default=None, help="e.g. 512,768,1024,3072")
    model.add_argument("--heads", type=_int_list, default=None, help="e.g. 4,8,12")
    model.add_argument("--min-live", type=positive_int, default=DEFAULT_MIN_LIVE,
                       help="pruning stops at this many live candidates per decision; ENG then chooses among them "
                            "(1: the paper, one architecture left)")
    train = parser.add_argument_group("training")
    train.add_argument("--batch-size", type=positive_int, default=32, help="per process")
    train.add_argument("--eval-batch-size", type=positive_int, default=64, help="per process")
    train.add_argument("--lr", type=argument_type("--lr", minimum=0, exclusive_minimum=True), default=2e-5)
    train.add_argument("--weight-decay", type=argument_type("--weight-decay", minimum=0), default=0.01)
    train.add_argument("--lr-warmup-steps", type=non_negative_int, default=100, help="linear learning-rate warm-up")
    train.add_argument("--warmup-steps", type=non_negative_int, default=0,
                       help="fine-tune the whole teacher this many steps before the search")
    train.add_argument("--importance-batches", type=non_negative_int, default=8,
                       help="batches to rank heads/neurons by importance before the search (0: keep order)")
    train.add_argument("--steps-per-unit", type=positive_int, default=100,
                       help="optimizer steps per sampled architecture")
    train.add_argument("--distill-weight", type=argument_type("--distill-weight", minimum=0, maximum=1), default=0.0,
                       help="weight of the soft-target loss")
    train.add_argument("--distill-temperature", type=argument_type("--distill-temperature", minimum=0,
                                                                   exclusive_minimum=True), default=1.0)
    train.add_argument("--teacher-model", default=None,
                       help="fine-tuned classifier for soft targets (default: the whole supernet, in place)")
    add_search_arguments(parser, "search (ddp-core); --run-dir defaults to runs/bert-<task>")
    parser.set_defaults(checkpoint_every=DEFAULT_CHECKPOINT_EVERY)
    model.add_argument("--budget", dest="search_budgets", action="append", type=budget_type((PARAMS_COST_NAME,)),
                       default=None, metavar="params_m=VALUE",
                       help="a budget known before the search (millions of parameters; repeat for several): the "
                            "default preset's target slots spend their evaluations on networks that meet them; "
                            "saved in the run and checked on resume; tools/generate.py afterwards still answers "
                            "any budget. Without it the search still spreads part of its evaluations over the "
                            "whole parameter range")
    run = parser.add_argument_group("run")
    run.add_argument("--cpu", action="store_true", help="run on the CPU even if a GPU is visible")
    run.add_argument("--mixed-precision", choices=("no", "fp16", "bf16"), default="no")
    return parser


def check_teacher_dir(run_dir: Path) -> None:
    """The saved space's ``metadata.teacher_dir`` names the teacher folder inside the run directory, as
    ``tools/generate.py`` requires: a resume never carries an edited path (``/etc``, ``../x``) forward."""
    space = read_json_file(run_dir / "space.json", "a search space")
    metadata = space.get("metadata") if isinstance(space, dict) else None
    if not isinstance(metadata, dict):
        raise RunDirectoryError(f"{run_dir / 'space.json'} is not a search space (no metadata object); restore it "
                                "or start a new --run-dir")
    inside_run_directory(run_dir, metadata.get("teacher_dir", TEACHER_SUBDIR), "space.json metadata.teacher_dir")


def _optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        (no_decay if parameter.ndim == 1 or "LayerNorm" in name else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr)


def _load_supernet(args, run_dir: Path, num_labels: int, label_names: tuple[str, ...], resuming: bool
                   ) -> ElasticBertForSequenceClassification:
    if resuming:  # weights come from the checkpoint; the teacher's config was saved in the run directory
        config = load_config(run_dir / TEACHER_SUBDIR)
        return ElasticBertForSequenceClassification(BertForSequenceClassification(config))
    return ElasticBertForSequenceClassification.from_pretrained(args.model, num_labels=num_labels,
                                                                label_names=label_names)


def _load_teacher_model(args, task, device):
    if args.teacher_model is None:
        return None
    teacher = load_sequence_classifier(args.teacher_model)
    if teacher.config.num_labels != task.num_labels:
        raise ValueError(f"--teacher-model {args.teacher_model} has {teacher.config.num_labels} outputs; "
                         f"{task.name} needs {task.num_labels}: pass a classifier fine-tuned on {task.name}")
    return teacher.to(device).eval()


def main(argv: Sequence[str] | None = None) -> int:
    """Run (or resume) a search; returns the process exit status (wrap in ``run_cli`` for one-line errors)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    task = glue_task(args.task)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    # offline or unreachable hub: one line now instead of a minute of retries and a traceback
    check_hub_sources(None if args.resume else args.model, args.data_dir, task.name, args.teacher_model)
    run_dir = prepare_run_directory(args, Path(f"runs/bert-{task.name}"), kind="bert")  # ddp-core's rule
    resuming = args.resume is not None
    run_dir.mkdir(parents=True, exist_ok=True)  # an unwritable --run-dir fails now, not after the warm-up
    log_with = check_trackers(args.report_to)
    accelerator = Accelerator(
        cpu=args.cpu, mixed_precision=args.mixed_precision, log_with=log_with or None,
        project_config=ProjectConfiguration(project_dir=str(run_dir), logging_dir=str(run_dir / "logs")),
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
    )
    description = description_of(args, task.name, accelerator.num_processes)
    if resuming:  # before any loading or writing: a mismatching flag is one error in a second
        check_resume_settings(run_dir, description, args)
        check_teacher_dir(run_dir)
    import datasets
    import transformers

    datasets.disable_progress_bars()  # one progress bar: the search's
    transformers.utils.logging.disable_progress_bar()
    set_seed(args.seed)
    source = run_dir / TEACHER_SUBDIR if resuming else args.model
    check_max_length(args.max_length, load_config(source), source)
    tokenizer = load_tokenizer(source)
    with accelerator.main_process_first():
        raw = load_glue(task, args.data_dir)
        train_part, score_part = split_for_search(raw["train"], args.score_fraction, args.seed, args.max_score_examples)
        if args.max_train_examples is not None and len(train_part) > args.max_train_examples:
            train_part = train_part.select(range(args.max_train_examples))
        train_set = tokenize(train_part, task, tokenizer, args.max_length)
        score_set = tokenize(score_part, task, tokenizer, args.max_length)
    supernet = _load_supernet(args, run_dir, task.num_labels, task.label_names, resuming)
    teacher = TeacherShape.from_config(supernet.config)
    space = build_search_space(teacher, args.depths, args.ffn_widths, args.heads, min_live=args.min_live,
                               extra_metadata={"teacher": str(args.model), "teacher_dir": TEACHER_SUBDIR,
                                               "task": task.name, "num_labels": task.num_labels,
                                               "max_length": args.max_length})
    check_planned_evaluations(space, search_config_from_args(args))
    importance_loader = make_loader(train_set, tokenizer, args.batch_size, shuffle=False)
    optimizer = _optimizer(supernet, args.lr, args.weight_decay)
    scheduler = get_constant_schedule_with_warmup(optimizer, args.lr_warmup_steps)
    train_loader = make_loader(train_set, tokenizer, args.batch_size, shuffle=True, seed=args.seed)
    score_loader = make_loader(score_set, tokenizer, args.eval_batch_size, shuffle=False)
    prepared, optimizer, train_loader, score_loader, scheduler = accelerator.prepare(
        supernet, optimizer, train_loader, score_loader, scheduler)
    evaluator = BertSupernetEvaluator(
        prepared, space, task, accelerator, optimizer, scheduler, BatchStream(train_loader, accelerator),
        score_loader, args.steps_per_unit, args.distill_weight, args.distill_temperature,
        _load_teacher_model(args, task, accelerator.device), seed=args.seed,
    )
    if not resuming:
        _prepare_fresh_run(args, accelerator, evaluator, supernet, tokenizer, importance_loader, run_dir, description)
    main_process = accelerator.is_main_process
    logger = JsonlLogger(run_dir / "log.jsonl", evaluator)
    callbacks = [ProgressBar(disable=not main_process), TrackerCallback(accelerator.log),
                 MetricsTracker(accelerator.log, evaluator)]
    if main_process:
        callbacks.append(logger)
    # Only the main process writes the run directory; the others follow its rounds and scores.
    search = DDPSearch(space, evaluator, search_config_from_args(args), run_dir=run_dir, callbacks=callbacks,
                       resume=resuming, writes=main_process, description=description,
                       broadcast=broadcaster(accelerator),
                       costs={PARAMS_COST_NAME: parameter_cost_table(space, task.num_labels)})
    if main_process:
        logger.trim(search.steps, search.stage)
        accelerator.init_trackers("search", config=tracker_config(description))
    result = search.run()
    accelerator.wait_for_everyone()
    report_result(run_dir, result, evaluator, teacher, task, accelerator)
    accelerator.end_training()
    return 0


def _prepare_fresh_run(args, accelerator, evaluator, supernet, tokenizer, importance_loader, run_dir: Path,
                       description: dict) -> None:
    """Optional full-teacher fine-tuning, then importance reordering; saves the teacher config and tokenizer."""
    if args.warmup_steps > 0:
        loss = evaluator.train_steps(supernet.full_shape(), args.warmup_steps, description="fine-tune teacher")
        accelerator.print(f"fine-tuned the whole teacher for {args.warmup_steps} steps (loss {loss:.4f})")
    orders = None
    if args.importance_batches > 0:
        orders = reorder_by_importance(supernet, importance_loader, args.importance_batches)
        evaluator.optimizer.state.clear()  # Adam moments would no longer match the permuted weights
    evaluator.snapshot_rng()  # every process, so the first checkpoint holds each one's RNG state
    if accelerator.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        supernet.config.save_pretrained(run_dir / TEACHER_SUBDIR)
        tokenizer.save_pretrained(run_dir / TEACHER_SUBDIR)
        if orders is not None:
            write_json_atomic(run_dir / "importance_order.json", orders)
        write_json_atomic(run_dir / "search_args.json", {flag.removeprefix("--").replace("-", "_"): value
                                                         for flag, value in description.items()})


# A Hub source out of reach (SourceUnavailableError) is an expected failure too: one line, exit 2.
EXPECTED = (*EXPECTED_ERRORS, SourceUnavailableError)


def cli(argv: Sequence[str] | None = None) -> int:
    """``main`` with expected failures as one ``error:`` line and exit status 2 (``--debug``: a traceback)."""
    return run_cli(main, argv, expected=EXPECTED)


if __name__ == "__main__":
    sys.exit(cli())
