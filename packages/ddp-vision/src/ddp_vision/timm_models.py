"""ddpnas networks in timm's model registry: ``timm.create_model("ddpnas_darts_cifar", genotype="DARTS_V2")``,
``timm.create_model("ddpnas_mobilenet", config="network.json")``.

timm is not a dependency. ``import ddp_vision`` registers these entry points with timm's ``register_model``
only when timm is installed (:func:`register_if_timm_installed`); otherwise timm is never imported and
:func:`ddp_vision.create_model` (our own registry) builds the same networks.

timm calls an entry point with ``pretrained``, ``pretrained_cfg`` and ``pretrained_cfg_overlay``; there are no
published weights for searched networks, so ``pretrained=True`` is an error that says how to load a trained
one (:func:`ddp_vision.artifacts.load_network`). timm's ``in_chans`` maps to our ``in_channels``.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable
from typing import Any

import torch.nn as nn

__all__ = ["ENTRYPOINTS", "register_if_timm_installed", "register_with_timm"]


def _arguments(name: str, pretrained: bool, kwargs: dict[str, Any]) -> dict[str, Any]:
    if pretrained:
        raise ValueError(f"{name} has no pretrained weights to download; load a trained network with "
                         "ddp_vision.artifacts.load_network(OUTPUT_DIR) (model.safetensors + config.json)")
    kwargs.pop("pretrained_cfg", None)
    kwargs.pop("pretrained_cfg_overlay", None)
    if "in_chans" in kwargs:
        kwargs["in_channels"] = kwargs.pop("in_chans")
    return kwargs


def ddpnas_darts_cifar(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """DARTS CIFAR evaluation network of a genotype (``genotype=`` name, text, JSON or Genotype)."""
    from ddp_vision.registry import create_model

    return create_model("ddpnas_darts_cifar", **_arguments("ddpnas_darts_cifar", pretrained, kwargs))


def ddpnas_darts_imagenet(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """DARTS ImageNet (mobile setting) evaluation network of a genotype."""
    from ddp_vision.registry import create_model

    return create_model("ddpnas_darts_imagenet", **_arguments("ddpnas_darts_imagenet", pretrained, kwargs))


def ddpnas_mobilenet(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """A layer-wise network from ``config=`` (a NetworkConfig, its dict, or an ENG answer's JSON path)."""
    from ddp_vision.registry import create_model

    return create_model("ddpnas_mobilenet", **_arguments("ddpnas_mobilenet", pretrained, kwargs))


ENTRYPOINTS: tuple[Callable[..., nn.Module], ...] = (ddpnas_darts_cifar, ddpnas_darts_imagenet, ddpnas_mobilenet)


def register_with_timm(register: Callable[[Callable[..., Any]], Any] | None = None) -> list[str]:
    """Register :data:`ENTRYPOINTS` with ``register`` (default: timm's ``register_model``); returns the names."""
    if register is None:
        from timm.models import register_model as register
    for entrypoint in ENTRYPOINTS:
        register(entrypoint)
    return [entrypoint.__name__ for entrypoint in ENTRYPOINTS]


def register_if_timm_installed() -> list[str]:
    """Register with timm when it is installed (importing it then); nothing, and no import, otherwise."""
    if importlib.util.find_spec("timm") is None:
        return []
    try:
        return register_with_timm()
    except Exception as error:  # a broken timm install must not break ddp_vision
        warnings.warn(f"timm is installed but ddpnas models could not be registered with it ({error}); "
                      "use ddp_vision.create_model instead", stacklevel=2)
        return []
