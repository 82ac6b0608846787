"""The DARTS-space search behind ``tools/search_darts.py``: DDPNAS with a single-path supernet.

With no arguments it searches scikit-learn's digits (embedded, nothing to download) with a supernet small
enough for a 2-core CPU, then prints the derived genotype and ENG answers for a few budgets. The same
command runs CIFAR-10 (``--dataset cifar10 --data-dir DIR``, the paper's supernet), on one GPU, on the CPU,
or on several GPUs through ``accelerate launch tools/search_darts.py ...``. ``--resume RUN_DIR`` continues a
killed run exactly where its last checkpoint left it.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import sys
import time

import torch
from tqdm.auto import tqdm

from ddp_core import DDPSearch, SearchConfig, SearchSpace, read_json, stage_schedule
from ddp_vision.darts.generate import DEFAULT_BUDGETS, format_report, parse_budget, run_generation
from ddp_vision.darts.space import DartsSupernetConfig, build_search_space, supernet_config_from_space
from ddp_vision.darts.supernet import DartsSupernet
from ddp_vision.data import DATASET_NAMES, load_splits
from ddp_vision.supernet_evaluator import SupernetEvaluator, SupernetTrainingConfig, make_accelerator

__all__ = ["DATASET_PRESETS", "build_parser", "main"]

# supernet and batch settings per dataset; digits is sized to finish on a 2-core CPU in a few minutes
DATASET_PRESETS = {
    "digits": {"image_size": 8, "channels": 8, "layers": 5, "batch_size": 64, "eval_batch_size": 1024},
    "cifar10": {"image_size": 32, "channels": 16, "layers": 8, "batch_size": 512, "eval_batch_size": 1024},
    "image_folder": {"image_size": 64, "channels": 16, "layers": 8, "batch_size": 256, "eval_batch_size": 512,
                     "workers": 8},
    "synthetic": {"image_size": 8, "channels": 4, "layers": 3, "batch_size": 16, "eval_batch_size": 64},
}


def build_parser() -> argparse.ArgumentParser:
    """Flags of ``tools/search_darts.py``."""
    parser = argparse.ArgumentParser(
        prog="tools/search_darts.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", choices=DATASET_NAMES, default="digits")
    data.add_argument("--data-dir", type=pathlib.Path, default=None, help="cifar10 / image_folder root")
    data.add_argument("--image-size", type=int, default=None, help="default: per dataset")
    data.add_argument("--val-fraction", type=float, default=0.5, help="part of the training set held out")
    net = parser.add_argument_group("supernet and its training")
    net.add_argument("--channels", type=int, default=None, help="default: per dataset (paper: 16)")
    net.add_argument("--layers", type=int, default=None, help="cells (paper: 8)")
    net.add_argument("--batch-size", type=int, default=None)
    net.add_argument("--eval-batch-size", type=int, default=None)
    net.add_argument("--steps-per-unit", type=int, default=None, help="batches per unit; default: one epoch")
    net.add_argument("--workers", type=int, default=None,
                     help="data loading workers for image folders (tensor datasets need none)")
    net.add_argument("--learning-rate", type=float, default=0.025)
    net.add_argument("--momentum", type=float, default=0.9)
    net.add_argument("--weight-decay", type=float, default=3e-4)
    net.add_argument("--mixed-precision", choices=("auto", "no", "bf16", "fp16"), default="auto",
                     help="auto: bf16 autocast on GPUs that support it, full precision on the CPU")
    net.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is present")
    net.add_argument("--threads", type=int, default=1,
                     help="CPU threads for torch (small supernet ops gain nothing from more, and oversubscribed "
                     "cores slow them down badly)")
    ddp = parser.add_argument_group("DDPNAS")
    ddp.add_argument("--rounds-per-stage", type=int, default=3, help="T, rounds between pruning steps")
    ddp.add_argument("--theta-momentum", type=float, default=0.9, help="γ of the θ update")
    ddp.add_argument("--temperature", type=float, default=0.01, help="τ of the softmax over utilities")
    ddp.add_argument("--normalization", choices=("sum", "softmax"), default="sum")
    ddp.add_argument("--no-prune", action="store_true", help="the NoPrune ablation")
    ddp.add_argument("--bound-threshold", type=float, default=None,
                     help="postpone pruning while the Theorem 3 bound exceeds this (not in the paper)")
    ddp.add_argument("--seed", type=int, default=0)
    run = parser.add_argument_group("run")
    run.add_argument("--run-dir", type=pathlib.Path, default=None, help="default: runs/darts-<dataset>-<time>")
    run.add_argument("--resume", type=pathlib.Path, default=None, metavar="RUN_DIR",
                     help="continue a run; its saved settings win over the flags above")
    run.add_argument("--budget", action="append", type=parse_budget, default=None,
                     help="ENG budget KEY=VALUE[,KEY=VALUE] after the search (repeatable)")
    run.add_argument("--no-progress", action="store_true")
    return parser


class _ProgressBar:
    """A tqdm bar over trained architectures, plus TensorBoard scalars through accelerate."""

    def __init__(self, accelerator, total: int, initial: int, enabled: bool):
        self.accelerator = accelerator
        self.bar = tqdm(total=total, initial=initial, desc="DDPNAS", unit="arch", disable=not enabled,
                        dynamic_ncols=True)

    def on_sample(self, search: DDPSearch, event: dict) -> None:
        self.bar.update(1)
        self.bar.set_postfix(stage=event["stage"], score=f"{event['score']:.3f}")
        self.accelerator.log({"search/score": event["score"], "search/stage": event["stage"]}, step=event["step"])

    def on_stage_end(self, search: DDPSearch, info: dict) -> None:
        live = search.distribution.live_counts
        self.accelerator.log({"search/max_theorem3_bound": info["max_bound"], "search/mean_live": float(live.mean())},
                             step=search.steps)
        if info["pruned"]:
            self.bar.write(f"stage {info['stage']}: pruned {len(info['pruned'])} ops, "
                           f"{int(live.max())} left on the widest edge")

    def on_end(self, search: DDPSearch, result) -> None:
        self.bar.close()


def _settings_from_run(run_dir: pathlib.Path) -> tuple[SearchSpace, SearchConfig]:
    if not (run_dir / "state.json").is_file():
        raise FileNotFoundError(f"--resume {run_dir}: no state.json there; start a new run with --run-dir")
    space = SearchSpace.from_dict(read_json(run_dir / "space.json"))
    config = SearchConfig(**read_json(run_dir / "config.json"))
    return space, config


def _new_settings(args: argparse.Namespace) -> tuple[SearchSpace, SearchConfig]:
    preset = DATASET_PRESETS[args.dataset]
    pick = lambda name: getattr(args, name) if getattr(args, name) is not None else preset[name]  # noqa: E731
    config = SearchConfig(rounds_per_stage=args.rounds_per_stage, momentum=args.theta_momentum,
                          temperature=args.temperature, normalization=args.normalization,
                          prune=not args.no_prune, bound_threshold=args.bound_threshold, seed=args.seed)
    image_size = pick("image_size")
    probe = load_splits(args.dataset, args.data_dir, image_size, args.val_fraction, args.seed)
    supernet = DartsSupernetConfig(channels=pick("channels"), layers=pick("layers"), in_channels=probe.in_channels,
                                   num_classes=probe.num_classes, image_size=probe.image_size)
    provisional = build_search_space(supernet)
    units = config.rounds_per_stage * sum(stage_schedule(provisional, config.prune, config.stages))
    training = SupernetTrainingConfig(
        learning_rate=args.learning_rate, momentum=args.momentum, weight_decay=args.weight_decay,
        batch_size=pick("batch_size"), eval_batch_size=pick("eval_batch_size"),
        steps_per_unit=args.steps_per_unit, total_units=units, seed=args.seed,
        num_workers=args.workers if args.workers is not None else preset.get("workers", 0),
    )
    dataset = {"name": args.dataset, "data_dir": None if args.data_dir is None else str(args.data_dir),
               "image_size": image_size, "val_fraction": args.val_fraction, "split_seed": args.seed}
    space = build_search_space(supernet, dataset=dataset, training=training.to_dict(),
                               mixed_precision=args.mixed_precision)
    return space, config


def main(argv: list[str] | None = None) -> int:
    """Run (or resume) a search, then derive and generate; returns the exit status.

    Bad input (missing data, a wrong genotype, inconsistent settings) prints one error line, exit status 2.
    """
    try:
        return _run(argv)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _run(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.resume is not None:
        run_dir = args.resume
        space, config = _settings_from_run(run_dir)
    else:
        run_dir = args.run_dir or pathlib.Path("runs") / f"darts-{args.dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
        if (run_dir / "state.json").exists():
            print(f"error: {run_dir} already holds a search; continue it with --resume {run_dir} "
                  "or choose another --run-dir", file=sys.stderr)
            return 2
        space, config = _new_settings(args)
    dataset = dict(space.metadata["dataset"])
    if args.data_dir is not None:
        dataset["data_dir"] = str(args.data_dir)  # the data may have moved since the run started
    supernet_config = supernet_config_from_space(space)
    training = SupernetTrainingConfig(**space.metadata["training"])

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    accelerator = make_accelerator(space.metadata.get("mixed_precision", "auto"), log_dir=run_dir, cpu=args.cpu)
    main_process = accelerator.is_main_process
    if main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
    accelerator.init_trackers("tensorboard", config={
        **{f"supernet/{k}": v for k, v in supernet_config.to_dict().items()},
        **{f"training/{k}": v for k, v in training.to_dict().items() if v is not None},
        **{f"search/{k}": v for k, v in dataclasses.asdict(config).items() if v is not None},
    })
    splits = load_splits(dataset["name"], dataset["data_dir"], dataset["image_size"], dataset["val_fraction"],
                         dataset["split_seed"])
    torch.manual_seed(config.seed)  # identical supernet initialisation in every process and every run
    evaluator = SupernetEvaluator(DartsSupernet(supernet_config), splits, training, accelerator)
    # only the main process owns the run directory; the others follow the same seeded samples
    search = DDPSearch(space, evaluator, config, run_dir=run_dir, resume=True, writes=main_process)
    progress = _ProgressBar(accelerator, search.total_steps, search.steps, main_process and not args.no_progress)
    search.callbacks.append(progress)
    started = time.perf_counter()
    result = search.run()
    accelerator.end_training()
    if not main_process:
        return 0
    print(f"search: {result.steps} architectures trained, {time.perf_counter() - started:.1f}s in this process")
    report = run_generation(run_dir, args.budget or list(DEFAULT_BUDGETS))
    print(format_report(report), end="")
    print(f"run directory: {run_dir} (theta_history.png, cells.png, eng.json; "
          f"more budgets: tools/generate.py {run_dir} --budget params_m=2.0)")
    return 0
