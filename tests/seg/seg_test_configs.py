"""Paths of the ddp-seg configs and the ``--cfg-options`` that shrink them to the synthetic dataset.

A uniquely named module (not ``conftest``) so that test files import it unambiguously when pytest collects
several test folders, each with its own ``conftest.py``.
"""

import pathlib

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
# The configs ship inside the package (mmengine's `ddp_seg::` layout); these are their repository paths.
CONFIG_DIR = REPO_ROOT / "packages" / "ddp-seg" / "src" / "ddp_seg" / ".mim" / "configs" / "ddpnas"
DARTS_NAME = "ddp_seg::ddpnas/deeplabv3_ddpnas-darts_4xb2-80k_cityscapes-512x1024.py"
DARTS_CONFIG = CONFIG_DIR / "deeplabv3_ddpnas-darts_4xb2-80k_cityscapes-512x1024.py"
LAYERWISE_CONFIG = CONFIG_DIR / "deeplabv3_ddpnas-layerwise_4xb2-80k_cityscapes-512x1024.py"
# A backbone small enough for CPU tests, with the head widths that match it.
SMALL_DARTS = {
    "model.backbone.channels": 8,
    "model.backbone.layers": 5,
    "model.decode_head.in_channels": [64, 128],
    "model.auxiliary_head.in_channels": 32,
}


def tiny_overrides(data_root: pathlib.Path, iterations: int = 2, height: int = 64, width: int = 128) -> dict:
    """The ``--cfg-options`` that shrink a Cityscapes config to the synthetic dataset (as in the README)."""
    size_hw, scale_wh = (height, width), (width, height)
    overrides = {
        "model.data_preprocessor.size": size_hw,
        "train_dataloader.dataset.pipeline.2.scale": scale_wh,
        "train_dataloader.dataset.pipeline.3.crop_size": size_hw,
        "train_cfg.max_iters": iterations,
        "train_cfg.val_interval": iterations,
        "default_hooks.checkpoint.interval": iterations,
        "default_hooks.logger.interval": 1,
        "param_scheduler.0.end": iterations,
    }
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        overrides[f"{loader}.dataset.data_root"] = str(data_root)
        overrides[f"{loader}.num_workers"] = 0
        overrides[f"{loader}.persistent_workers"] = False
    for loader in ("val_dataloader", "test_dataloader"):
        overrides[f"{loader}.dataset.pipeline.1.scale"] = scale_wh
    return overrides


def overrides_as_cli(overrides: dict) -> list[str]:
    """The same overrides as ``--cfg-options`` arguments (tuples written without spaces)."""
    return [f"{key}={str(value).replace(' ', '')}" for key, value in overrides.items()]
