"""Command-line pieces every search tool shares, so DARTS, MobileNet, BERT and tabular spell them alike."""

from __future__ import annotations

import argparse
from pathlib import Path

from ddp_core.search import SearchConfig


def add_search_arguments(parser: argparse.ArgumentParser, title: str = "DDPNAS") -> argparse._ArgumentGroup:
    """Add the SearchConfig flags and ``--run-dir`` / ``--resume RUN_DIR`` to ``parser``.

    ``--theta-momentum`` is γ of Eq. 4 (named so, because trainers have an SGD ``--momentum`` of their own).
    """
    group = parser.add_argument_group(title)
    group.add_argument("--rounds-per-stage", type=int, default=3, help="T: rounds between pruning steps (paper: 3)")
    group.add_argument("--theta-momentum", type=float, default=0.9, help="γ of the θ update (paper: 0.7-0.9)")
    group.add_argument("--temperature", type=float, default=0.01,
                       help="τ: utilities are divided by it before the softmax; 0.01 suits scores in [0, 1]")
    group.add_argument("--normalization", choices=("sum", "softmax"), default="sum",
                       help="renormalise θ + V by its row sum (authors' code) or a softmax (paper text)")
    group.add_argument("--no-prune", action="store_true", help="the NoPrune ablation")
    group.add_argument("--bound-threshold", type=float, default=None,
                       help="postpone pruning while the Theorem 3 bound exceeds this (not in the paper)")
    group.add_argument("--seed", type=int, default=0)
    group.add_argument("--run-dir", type=Path, default=None, help="where state, checkpoints and reports go")
    group.add_argument("--resume", type=Path, default=None, metavar="RUN_DIR",
                       help="continue the search saved in RUN_DIR (its settings must match)")
    return group


def search_config_from_args(args: argparse.Namespace) -> SearchConfig:
    return SearchConfig(
        rounds_per_stage=args.rounds_per_stage,
        momentum=args.theta_momentum,
        temperature=args.temperature,
        normalization=args.normalization,
        prune=not args.no_prune,
        bound_threshold=args.bound_threshold,
        seed=args.seed,
    )


def run_directory(args: argparse.Namespace, default: Path) -> Path:
    """``--resume`` wins over ``--run-dir``; both fall back to ``default``."""
    if args.resume is not None:
        if not (Path(args.resume) / "state.json").exists():
            raise SystemExit(f"error: --resume {args.resume}: no state.json there; start a new run with --run-dir")
        return Path(args.resume)
    return Path(args.run_dir) if args.run_dir is not None else default
