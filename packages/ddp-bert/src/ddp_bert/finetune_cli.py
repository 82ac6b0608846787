"""``tools/finetune_bert.py``: fine-tune a (compressed) model on a GLUE task with transformers' ``Trainer``.

Works for any model ``AutoModelForSequenceClassification`` can load, including models exported by
``tools/generate.py`` (``import ddp_bert`` registers their type). Reports the official dev metric as JSON; with
``--output-dir`` saves the model (with its remote code), the tokenizer and a model card holding the dev
results; ``--push-to-hub REPO_ID`` uploads that directory. Runs under ``accelerate launch`` too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from transformers import (
    DataCollatorWithPadding,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)

import ddp_bert  # noqa: F401  (registers the compressed model type with the Auto classes)
from ddp_bert.glue import GlueTask, glue_task, load_glue, load_metric, predictions_from_logits, tokenize
from ddp_bert.hub_access import SourceUnavailableError, check_can_push, check_hub_sources, push_folder
from ddp_bert.model_card import fine_tuned_card, save_card
from ddp_bert.model_loading import check_max_length, load_config, load_sequence_classifier, load_tokenizer
from ddp_core import argument_type, run_cli, write_json_atomic
from ddp_core.cli import EXPECTED_ERRORS, REPORT_TO, OneLineArgumentParser, seed_type, trackers
from ddp_core.validation import positive_int

# accelerate's trackers that transformers' Trainer has no integration for
NOT_IN_TRAINER = ("aim",)


# More epochs than this over a GLUE task is a typo, not a plan (the paper fine-tunes for 3).
MAX_EPOCHS = 1000


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``tools/finetune_bert.py``."""
    parser = OneLineArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", required=True, help="exported model directory (or any sequence classifier)")
    parser.add_argument("--task", required=True, help="GLUE task name")
    parser.add_argument("--data-dir", default=None, help="local GLUE copy in the hub layout (default: the hub)")
    parser.add_argument("--output-dir", default=None,
                        help="save the fine-tuned model, tokenizer, model card and results.json here")
    parser.add_argument("--results", default=None, help="results JSON (default OUTPUT_DIR/results.json)")
    parser.add_argument("--max-length", type=argument_type("--max-length", integer=True, minimum=2), default=128,
                        help="tokens per example (at most the model's max_position_embeddings)")
    parser.add_argument("--batch-size", type=argument_type("--batch-size", integer=True, minimum=1), default=32,
                        help="per device")
    parser.add_argument("--eval-batch-size", type=argument_type("--eval-batch-size", integer=True, minimum=1),
                        default=64, help="per device")
    parser.add_argument("--lr", type=argument_type("--lr", minimum=0, exclusive_minimum=True), default=2e-5)
    parser.add_argument("--weight-decay", type=argument_type("--weight-decay", minimum=0), default=0.01)
    parser.add_argument("--epochs", type=argument_type("--epochs", minimum=0, exclusive_minimum=True,
                                                       maximum=MAX_EPOCHS), default=3.0)
    parser.add_argument("--max-steps", type=argument_type("--max-steps", integer=True, minimum=1), default=None,
                        help="overrides --epochs")
    parser.add_argument("--warmup-ratio", type=argument_type("--warmup-ratio", minimum=0, maximum=1,
                                                             exclusive_maximum=True),
                        default=0.1, help="linear warm-up, part of all steps [0, 1)")
    parser.add_argument("--max-train-examples", type=positive_int, default=None)
    parser.add_argument("--max-eval-examples", type=positive_int, default=None)
    parser.add_argument("--seed", type=seed_type, default=0)
    parser.add_argument("--logging-steps", type=argument_type("--logging-steps", integer=True, minimum=1), default=50)
    parser.add_argument("--report-to", choices=REPORT_TO, default="none",
                        help="Trainer trackers (needs --output-dir: logs go to OUTPUT_DIR/logs)")
    parser.add_argument("--cpu", action="store_true")
    parser.add_argument("--mixed-precision", choices=("no", "fp16", "bf16"), default="no")
    hub = parser.add_argument_group("Hugging Face Hub (needs --output-dir)")
    hub.add_argument("--push-to-hub", default=None, metavar="REPO_ID", help="upload OUTPUT_DIR to this repository")
    hub.add_argument("--hub-token", default=None, help="token with write access (default: saved login or HF_TOKEN)")
    hub.add_argument("--private", action="store_true", help="create the repository as private")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    return parser


class LogLastStep(TrainerCallback):
    """Log the training loss at the last step too, so ``final_train_loss`` exists however short the run."""

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= state.max_steps:
            control.should_log = True
        return control


def report_to(args: argparse.Namespace) -> list[str]:
    """``--report-to`` as Trainer's ``report_to`` list; a missing package or a tracker Trainer lacks is an error."""
    names = trackers(args.report_to)
    if args.report_to in NOT_IN_TRAINER:
        raise ValueError(f"--report-to {args.report_to}: transformers' Trainer has no {args.report_to} integration; "
                         "pass another tracker (tensorboard, wandb, mlflow, ...) or none")
    names = [name for name in names if name not in NOT_IN_TRAINER]
    if names and args.output_dir is None:
        raise ValueError(f"--report-to {args.report_to} needs --output-dir: the logs go to OUTPUT_DIR/logs")
    return names


class GlueMetrics:
    """``compute_metrics`` for ``Trainer``: the task's official metric(s); remembers their names."""

    def __init__(self, task: GlueTask) -> None:
        self.task = task
        self.metric = load_metric(task)
        self.names: list[str] = []

    def __call__(self, prediction) -> dict[str, float]:
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        values = self.metric.compute(predictions=predictions_from_logits(self.task, np.asarray(logits)),
                                     references=np.asarray(prediction.label_ids))
        self.names = sorted(values)
        return {name: float(value) for name, value in values.items()}

    def of(self, trainer_metrics: dict[str, float]) -> dict[str, float]:
        """The task metrics out of ``Trainer.evaluate()``'s output (which prefixes ``eval_``)."""
        return {name: float(trainer_metrics[f"eval_{name}"]) for name in self.names}


def _fail(parser: argparse.ArgumentParser, debug: bool, error: Exception) -> None:
    if debug:
        raise error
    parser.exit(2, f"error: {error}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Fine-tune, evaluate on the dev split, write the results JSON; returns the exit status (:func:`cli` turns
    expected failures into one line)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        task = glue_task(args.task)
    except ValueError as error:
        parser.error(str(error))
    if args.push_to_hub and args.output_dir is None:
        parser.error("--push-to-hub needs --output-dir (the directory that is uploaded)")
    try:
        log_with = report_to(args)
    except ValueError as error:
        _fail(parser, args.debug, error)
    if log_with:  # TensorBoardCallback reads this at creation; other trackers keep their own places
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(Path(args.output_dir) / "logs")
    check_hub_sources(args.model, args.data_dir, task.name)
    if args.push_to_hub:  # before training, not after
        check_can_push(args.push_to_hub)
    check_max_length(args.max_length, load_config(args.model), args.model)  # trust_remote_code=False, as below
    set_seed(args.seed)
    tokenizer = load_tokenizer(args.model)
    model = load_sequence_classifier(args.model)
    if model.config.num_labels != task.num_labels:
        raise ValueError(f"{args.model} has {model.config.num_labels} outputs; {task.name} needs {task.num_labels}: "
                         f"pass a model exported from a {task.name} search")
    with tempfile.TemporaryDirectory(prefix="finetune-") as scratch:
        training_args = TrainingArguments(
            output_dir=args.output_dir or scratch, per_device_train_batch_size=args.batch_size,
            per_device_eval_batch_size=args.eval_batch_size, learning_rate=args.lr, weight_decay=args.weight_decay,
            num_train_epochs=args.epochs, max_steps=args.max_steps or -1, warmup_steps=args.warmup_ratio,
            lr_scheduler_type="linear", seed=args.seed, use_cpu=args.cpu, bf16=args.mixed_precision == "bf16",
            fp16=args.mixed_precision == "fp16", eval_strategy="no", save_strategy="no",
            logging_steps=args.logging_steps, report_to=log_with or "none",
        )
        with training_args.main_process_first(desc="GLUE loading and tokenisation"):
            raw = load_glue(task, args.data_dir)
            train, dev = raw["train"], raw[task.dev_split]
            if args.max_train_examples is not None:
                train = train.select(range(min(args.max_train_examples, len(train))))
            if args.max_eval_examples is not None:
                dev = dev.select(range(min(args.max_eval_examples, len(dev))))
            train_set = tokenize(train, task, tokenizer, args.max_length)
            dev_set = tokenize(dev, task, tokenizer, args.max_length)
        metrics = GlueMetrics(task)
        trainer = Trainer(model=model, args=training_args, train_dataset=train_set, eval_dataset=dev_set,
                          processing_class=tokenizer, data_collator=DataCollatorWithPadding(tokenizer),
                          compute_metrics=metrics, callbacks=[LogLastStep()])
        before = metrics.of(trainer.evaluate())
        trained = trainer.train()
        after = metrics.of(trainer.evaluate())
        losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
        results = {
            "task": task.name, "model": str(args.model), "dev_split": task.dev_split, "dev_examples": len(dev_set),
            "search_metric": task.search_metric, "metrics_before": before, "metrics": after,
            "params_m": sum(p.numel() for p in trainer.model.parameters()) / 1e6, "steps": trained.global_step,
            "train_loss": float(trained.training_loss), "final_train_loss": float(losses[-1]) if losses else None,
        }
        if trainer.is_world_process_zero():
            _save_outputs(args, trainer, task, results)
    return 0


def _save_outputs(args, trainer: Trainer, task: GlueTask, results: dict) -> None:
    """Model, tokenizer, card, results JSON and the optional upload (main process only)."""
    if args.output_dir is not None:
        trainer.save_model(args.output_dir)  # save_pretrained: weights, config, remote code, tokenizer
        # Trainer also pickles its arguments (for its own resume); a pickle has no place in a model repository.
        (Path(args.output_dir) / "training_args.bin").unlink(missing_ok=True)
        settings = {"steps": results["steps"], "lr": args.lr, "batch_size": args.batch_size,
                    "max_length": args.max_length, "seed": args.seed}
        card = fine_tuned_card(str(args.model), task.name, task.dev_split, results["metrics"], settings,
                               data_dir=args.data_dir)
        save_card(card, args.output_dir)
    target = args.results or (Path(args.output_dir) / "results.json" if args.output_dir else None)
    if target is not None:
        write_json_atomic(Path(target), results)
    print(json.dumps(results))
    if args.push_to_hub:
        try:
            url = push_folder(args.output_dir, args.push_to_hub, token=args.hub_token,
                              private=True if args.private else None,
                              commit_message=f"Fine-tuned on GLUE {task.name.upper()}")
        except SourceUnavailableError as error:
            if args.debug:
                raise
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(2) from None
        print(f"uploaded {args.output_dir} to {args.push_to_hub}: {url}")


def cli(argv: Sequence[str] | None = None) -> int:
    """``main`` with expected failures (a model that cannot be loaded safely, an unreachable Hub, bad data) as one
    ``error:`` line and exit status 2; ``--debug`` shows the traceback."""
    return run_cli(main, argv, expected=(*EXPECTED_ERRORS, SourceUnavailableError))


if __name__ == "__main__":
    raise SystemExit(cli())
