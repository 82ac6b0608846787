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
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from mmengine.config import Config, DictAction

__all__ = ["build_runner", "build_segmentor", "check_head_channels", "load_config", "main", "parse_args"]


def load_config(config: str | os.PathLike[str], cfg_options: Mapping[str, Any] | None = None) -> Config:
    """Read an mmseg config file (processing ``_base_`` and ``custom_imports``) and merge overrides.

    Parameters
    ----------
    config:
        Path of a ``.py`` config, e.g. ``packages/ddp-seg/configs/ddpnas/...py``.
    cfg_options:
        Dotted-key overrides, as ``--cfg-options`` gives them (``{"train_dataloader.batch_size": 1}``).

    Returns
    -------
    mmengine.config.Config
    """
    path = pathlib.Path(config)
    if not path.is_file():
        raise FileNotFoundError(
            f"config {path} does not exist; the DDPNAS configs live in packages/ddp-seg/configs/ddpnas/"
        )
    import ddp_seg  # noqa: F401  (the stand-in for mmcv.ops must exist before mmseg's models import)

    cfg = Config.fromfile(str(path))
    if cfg_options:
        cfg.merge_from_dict(dict(cfg_options))
    return cfg


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
    parser = argparse.ArgumentParser(description="Train a DDPNAS segmentor from an mmseg config")
    parser.add_argument("config", help="config file, e.g. packages/ddp-seg/configs/ddpnas/<name>.py")
    parser.add_argument("--work-dir", help="directory for logs and checkpoints")
    parser.add_argument("--resume", action="store_true", help="resume from the newest checkpoint in work-dir")
    parser.add_argument("--amp", action="store_true", help="automatic mixed precision")
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=DictAction,
        help='override config keys, e.g. train_dataloader.batch_size=1 "model.data_preprocessor.size=(64,128)"',
    )
    parser.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Train from the command line; returns the process exit status."""
    args = parse_args(argv)
    os.environ.setdefault("LOCAL_RANK", str(args.local_rank))
    try:
        cfg = load_config(args.config, args.cfg_options)
        runner = build_runner(
            cfg,
            work_dir=args.work_dir,
            resume=args.resume,
            amp=args.amp,
            launcher=args.launcher,
            config_path=args.config,
        )
    except (FileNotFoundError, KeyError, TypeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    runner.train()
    return 0
