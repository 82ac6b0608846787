"""Train an mmseg config with mmengine's Runner, for users without mmseg's repository.

This is the same flow as mmseg's ``tools/train.py`` (shipped in its wheel under ``mmseg/.mim/tools/``): read
the config, merge ``--cfg-options``, pick the work directory, build the Runner and train. ``tools/train_seg.py``
is a thin entry point to :func:`main`. There is no second training loop: the Runner owns it.
"""

from __future__ import annotations

import argparse
import logging
import os
import pathlib
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from mmengine.config import Config

__all__ = [
    "MissingDatasetError",
    "build_runner",
    "build_segmentor",
    "check_datasets",
    "check_head_channels",
    "load_config",
    "main",
    "parse_args",
]


def load_config(config: str | os.PathLike[str], cfg_options: Mapping[str, Any] | None = None) -> Config:
    """Read an mmseg config file (processing ``_base_`` and ``custom_imports``) and merge overrides.

    Parameters
    ----------
    config:
        Path of a ``.py`` config, or the name of one shipped with ddp_seg
        (``ddp_seg::ddpnas/deeplabv3_ddpnas-darts_4xb2-80k_cityscapes-512x1024.py``).
    cfg_options:
        Dotted-key overrides, as ``--cfg-options`` gives them (``{"train_dataloader.batch_size": 1}``).

    Returns
    -------
    mmengine.config.Config
    """
    import ddp_seg  # noqa: F401  (mmcv.ops stand-in before mmseg's models; the ddp_seg:: config scope)
    from ddp_seg.configs import resolve

    path = pathlib.Path(resolve(config))
    if not path.is_file():
        raise FileNotFoundError(
            f"config {path} does not exist; the DDPNAS configs ship with ddp_seg: `python -m ddp_seg.configs --list`"
        )
    with warnings.catch_warnings():
        # mmengine re-imports setuptools' pkg_resources for every `scope::` base, each time warning that the
        # API is deprecated (setuptools < 82 is pinned for it); nothing for the user to act on.
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        try:
            cfg = Config.fromfile(str(path))
        except SyntaxError as error:  # mmengine parses without a file name: say which file
            if error.filename in (None, "<unknown>"):
                error.filename = str(path)
            raise
    if cfg_options:
        cfg.merge_from_dict(dict(cfg_options))
    return cfg


class MissingDatasetError(FileNotFoundError):
    """A dataloader's dataset folder does not exist; the message names the config key and the way out."""


def _dataset_folders(dataset: Mapping[str, Any], key: str) -> list[tuple[str, str]]:
    """``(config key, folder)`` pairs a dataset config reads, following wrapper datasets."""
    if isinstance(dataset.get("dataset"), Mapping):  # RepeatDataset, ClassBalancedDataset, ...
        return _dataset_folders(dataset["dataset"], f"{key}.dataset")
    if isinstance(dataset.get("datasets"), (list, tuple)):  # ConcatDataset
        return [pair for i, child in enumerate(dataset["datasets"]) for pair in _dataset_folders(child, f"{key}.datasets.{i}")]
    root = dataset.get("data_root")
    if not root:
        return []
    folders = [(f"{key}.data_root", str(root))]
    prefix = dataset.get("data_prefix") or {}
    folders += [(f"{key}.data_prefix.{name}", os.path.join(str(root), str(sub))) for name, sub in prefix.items() if sub]
    return folders


def check_datasets(cfg: Config, loaders: Sequence[str] = ("train_dataloader", "val_dataloader")) -> None:
    """Fail fast, in one line, when a dataloader's dataset folder is missing (mmengine finds out much later).

    Parameters
    ----------
    cfg:
        A loaded config.
    loaders:
        The dataloaders that will run (training: train and val; testing: test). Loaders the config does not
        have, and remote roots (``s3://...``), are skipped.

    Raises
    ------
    MissingDatasetError
        Naming the missing folder, its config key, and the synthetic data generator with the keys to set.
    """
    for loader in loaders:
        dataset = (cfg.get(loader) or {}).get("dataset")
        if not isinstance(dataset, Mapping):
            continue
        for key, folder in _dataset_folders(dataset, f"{loader}.dataset"):
            if "://" in folder or os.path.isdir(folder):
                continue
            roots = " ".join(f"{name}.dataset.data_root=DIR" for name in ("train_dataloader", "val_dataloader", "test_dataloader"))
            raise MissingDatasetError(
                f"dataset folder {folder} ({key}) does not exist: prepare the dataset there (Cityscapes: mmseg's "
                f"tools/dataset_converters/cityscapes.py), or write a small synthetic Cityscapes with "
                f"`python -m ddp_seg.synthetic_cityscapes DIR` and pass --cfg-options {roots} (ddp-seg's README "
                f"lists the options that shrink the crops to its 64x128 images)"
            )


def check_head_channels(model_cfg: Mapping[str, Any], backbone_out_channels: Sequence[int]) -> None:
    """Check that each head's ``in_channels`` matches the backbone maps it reads (``in_index``).

    A searched network changes the backbone's widths; without this check a mismatch surfaces as a convolution
    shape error deep inside the head.

    Parameters
    ----------
    model_cfg:
        The config's ``model`` dict (``decode_head``, optional ``auxiliary_head`` dict or list of dicts).
    backbone_out_channels:
        The built backbone's ``out_channels``.

    Raises
    ------
    ValueError
        Naming the head, what it says, what the backbone gives, and the ``--cfg-options`` that fixes it.
    """
    if model_cfg.get("neck"):
        return  # a neck changes the widths the heads see
    heads: list[tuple[str, Mapping[str, Any]]] = []
    for key in ("decode_head", "auxiliary_head"):
        value = model_cfg.get(key)
        if isinstance(value, Mapping):
            heads.append((key, value))
        elif isinstance(value, (list, tuple)):
            heads.extend((f"{key}.{i}", head) for i, head in enumerate(value))
    out_channels = [int(c) for c in backbone_out_channels]
    for name, head in heads:
        index, declared = head.get("in_index", -1), head.get("in_channels")
        if declared is None:
            continue
        try:
            expected: Any = [out_channels[i] for i in index] if isinstance(index, (list, tuple)) else out_channels[index]
        except IndexError:
            raise ValueError(
                f"model.{name}.in_index={index} but the backbone returns {len(out_channels)} maps "
                f"(out_channels {out_channels})"
            ) from None
        normalized = list(declared) if isinstance(declared, (list, tuple)) else declared
        if normalized != expected:
            value = str(expected).replace(" ", "")
            raise ValueError(
                f"model.{name}.in_channels={declared} but the backbone's maps at in_index={index} have {expected} "
                f"channels (backbone out_channels {out_channels}); fix: --cfg-options model.{name}.in_channels={value}"
            )


def build_segmentor(cfg: Config) -> Any:
    """Build ``cfg.model`` (e.g. an ``EncoderDecoder``) in mmseg's registry scope, outside a Runner.

    Parameters
    ----------
    cfg:
        A loaded config (see :func:`load_config`).

    Returns
    -------
    torch.nn.Module
        The segmentor with its weights initialised (``init_weights`` called, as the Runner does).

    Raises
    ------
    ValueError
        If a head's ``in_channels`` does not match a DDPNAS backbone's ``out_channels``.
    """
    from mmengine.config import ConfigDict
    from mmengine.logging import MMLogger
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    register_all_modules(init_default_scope=False)
    scope = cfg.get("default_scope", "mmseg")
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(ConfigDict(cfg.model))
    out_channels = getattr(getattr(model, "backbone", None), "out_channels", None)
    if out_channels is not None:
        check_head_channels(cfg.model, out_channels)
    # init_weights logs one line per parameter outside a Runner; keep warnings, drop that listing.
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    return model


def build_runner(
    cfg: Config,
    work_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    amp: bool = False,
    launcher: str = "none",
    config_path: str | os.PathLike[str] | None = None,
) -> Any:
    """Build mmengine's Runner for ``cfg`` (mmseg's ``tools/train.py`` rules for work_dir, amp and resume).

    Parameters
    ----------
    cfg:
        A loaded config (see :func:`load_config`).
    work_dir:
        Where logs and checkpoints go; default the config's ``work_dir`` or ``./work_dirs/<config name>``.
    resume:
        Resume from the newest checkpoint in ``work_dir``.
    amp:
        Mixed precision through ``AmpOptimWrapper``.
    launcher:
        ``"none"`` (one process), ``"pytorch"``, ``"slurm"`` or ``"mpi"``.
    config_path:
        The config's path, used for the default work directory name.

    Returns
    -------
    mmengine.runner.Runner
    """
    from mmengine.runner import Runner
    from mmseg.registry import RUNNERS

    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = str(work_dir)
    elif cfg.get("work_dir", None) is None:
        name = pathlib.Path(config_path).stem if config_path else "ddpnas_seg"
        cfg.work_dir = str(pathlib.Path("work_dirs") / name)
    if amp:
        wrapper_type = cfg.optim_wrapper.get("type", "OptimWrapper")
        if wrapper_type not in ("OptimWrapper", "AmpOptimWrapper"):
            raise ValueError(f"--amp needs optim_wrapper.type OptimWrapper, the config has {wrapper_type!r}")
        cfg.optim_wrapper.type = "AmpOptimWrapper"
        cfg.optim_wrapper.setdefault("loss_scale", "dynamic")
    cfg.resume = resume
    runner = RUNNERS.build(cfg) if "runner_type" in cfg else Runner.from_cfg(cfg)
    model = runner.model.module if hasattr(runner.model, "module") else runner.model
    out_channels = getattr(getattr(model, "backbone", None), "out_channels", None)
    if out_channels is not None:
        check_head_channels(cfg.model, out_channels)
    return runner


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line arguments of ``tools/train_seg.py`` (the same names as mmseg's ``tools/train.py``)."""
    from ddp_seg.command_line import CfgOptionsAction, argument_parser

    parser = argument_parser("Train a DDPNAS segmentor from an mmseg config", prog="tools/train_seg.py")
    parser.add_argument(
        "config", help="config file, or a shipped one: ddp_seg::ddpnas/<name>.py (python -m ddp_seg.configs --list)"
    )
    parser.add_argument("--work-dir", help="directory for logs and checkpoints")
    parser.add_argument("--resume", action="store_true", help="resume from the newest checkpoint in work-dir")
    parser.add_argument("--amp", action="store_true", help="automatic mixed precision")
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=CfgOptionsAction,
        help='override config keys, e.g. train_dataloader.batch_size=1 "model.data_preprocessor.size=(64,128)"',
    )
    parser.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0)
    parser.add_argument("--debug", action="store_true", help="show a traceback on bad input")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Train from the command line; returns the process exit status (2: bad input, one line on stderr)."""
    from ddp_seg.checkpoint_loading import CheckpointLoadError
    from ddp_seg.command_line import EXPECTED_ERRORS, report

    args = parse_args(argv)
    if args.launcher != "none":  # torch.distributed reads it; a plain run must not leave it behind (in-process callers)
        os.environ.setdefault("LOCAL_RANK", str(args.local_rank))
    try:
        cfg = load_config(args.config, args.cfg_options)
        check_datasets(cfg, ["train_dataloader"] + (["val_dataloader"] if cfg.get("val_cfg") else []))
        runner = build_runner(
            cfg,
            work_dir=args.work_dir,
            resume=args.resume,
            amp=args.amp,
            launcher=args.launcher,
            config_path=args.config,
        )
    except EXPECTED_ERRORS as error:
        return report(error, args.debug)
    try:
        runner.train()
    except (CheckpointLoadError, FileNotFoundError) as error:  # load_from / --resume: refused or missing
        return report(error, args.debug)
    return 0
