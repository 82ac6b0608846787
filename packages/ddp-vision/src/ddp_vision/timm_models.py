"""ddpnas networks in timm's model registry: ``timm.create_model("ddpnas_darts_cifar", genotype="DARTS_V2")``,
``timm.create_model("ddpnas_mobilenet", config="network.json")``, and trained networks with their weights:
``timm.create_model("ddpnas_mobilenet", pretrained=True, pretrained_cfg_overlay={"file": "OUT/model.safetensors"})``
(``file`` may also name the output directory ``OUT`` of tools/train_*.py).

timm is a test dependency, not a runtime one. ``import ddp_vision`` registers these entry points with timm's
``register_model`` only when timm is installed (:func:`register_if_timm_installed`); otherwise timm is never
imported and :func:`ddp_vision.create_model` (our own registry) builds the same networks.

timm calls an entry point with ``pretrained``, ``pretrained_cfg``, ``pretrained_cfg_overlay`` and (1.0.x)
``cache_dir``. Every network built here carries ``pretrained_cfg`` (also as ``default_cfg``), which
``timm.data.resolve_data_config(model=...)`` and ``create_transform`` read: for a trained network, the exact
evaluation transform its ``config.json`` records (input size, mean/std, interpolation, crop, label names:
:mod:`ddp_vision.preprocessing`); for a fresh one, the usual transform of the family's dataset (CIFAR-10 for
``ddpnas_darts_cifar``, ImageNet otherwise). There are no published weights: ``pretrained=True`` needs a local
``file``. timm's ``in_chans`` maps to our ``in_channels``; ``checkpoint_path=`` (timm's own loader) works too.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import warnings
from collections.abc import Callable
from typing import Any

import torch.nn as nn

__all__ = ["ENTRYPOINTS", "pretrained_cfg_of", "register_if_timm_installed", "register_with_timm"]

# what timm passes that our factories do not take
_TIMM_ONLY = ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir", "pretrained_model_args")


def _weights_source(name: str, kwargs: dict[str, Any]) -> pathlib.Path:
    """The trained network directory a ``pretrained=True`` call names through timm's ``file`` field."""
    found = None
    for key in ("pretrained_cfg_overlay", "pretrained_cfg"):
        value = kwargs.get(key)
        value = value if isinstance(value, dict) else getattr(value, "__dict__", None)
        if value and value.get("file"):
            found = pathlib.Path(os.fspath(value["file"])).expanduser()
            break
    if found is None:
        raise ValueError(f"{name} has no published weights to download; load a trained network with "
                         f"timm.create_model({name!r}, pretrained=True, pretrained_cfg_overlay=dict(file="
                         "'OUTPUT_DIR/model.safetensors')) or ddp_vision.artifacts.load_network(OUTPUT_DIR)")
    return found if found.is_dir() else found.parent


def _build(name: str, pretrained: bool, kwargs: dict[str, Any]) -> nn.Module:
    from ddp_vision.artifacts import WEIGHTS_FILE, read_artifact
    from ddp_vision.checkpoints import CheckpointError, load_weights
    from ddp_vision.registry import create_model

    arguments = {key: value for key, value in kwargs.items() if key not in _TIMM_ONLY}
    if "in_chans" in arguments:
        arguments["in_channels"] = arguments.pop("in_chans")
    artifact, directory = None, None
    if pretrained:
        directory = _weights_source(name, kwargs)
        artifact = read_artifact(directory)
        if artifact.model != name:
            raise ValueError(f"{directory} holds a {artifact.model} network, not {name}: "
                             f"call timm.create_model({artifact.model!r}, ...)")
        arguments = {**artifact.arguments, **arguments}
    model = create_model(name, **arguments)
    if artifact is not None:
        try:
            model.load_state_dict(load_weights(directory / WEIGHTS_FILE))
        except RuntimeError as error:
            text = " ".join(str(error).split())[:300]
            raise CheckpointError(f"{directory / WEIGHTS_FILE} does not fit the network these arguments build "
                                  f"({text})") from None
    cfg = pretrained_cfg_of(name, model, artifact)
    if directory is not None:
        cfg["file"] = str(directory / WEIGHTS_FILE)
    model.pretrained_cfg = cfg
    model.default_cfg = cfg
    return model


def pretrained_cfg_of(name: str, model: nn.Module, artifact=None) -> dict[str, Any]:
    """timm's ``pretrained_cfg`` of a network: its artefact's evaluation transform, else the family's usual one."""
    from ddp_vision.preprocessing import (
        CIFAR10_MEAN,
        CIFAR10_STD,
        IMAGE_FOLDER_CROP_PCT,
        IMAGENET_MEAN,
        IMAGENET_STD,
    )

    classifier = next((n for n, m in reversed(list(model.named_modules())) if isinstance(m, nn.Linear)), None)
    first_conv = next((n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)), None)
    cfg: dict[str, Any] = {"architecture": name, "classifier": classifier, "first_conv": first_conv,
                           "crop_mode": "center", "interpolation": "bilinear"}
    if artifact is not None and artifact.preprocessing:
        fields = artifact.preprocessing
        return {**cfg, "input_size": tuple(fields["input_size"]), "mean": tuple(fields["mean"]),
                "std": tuple(fields["std"]), "interpolation": fields["interpolation"], "crop_pct": fields["crop_pct"],
                "num_classes": artifact.num_classes, "label_names": tuple(fields["label_names"])}
    config = getattr(model, "config", None)
    channels = getattr(config, "in_channels", None) or _input_channels(model) or 3
    cifar = name == "ddpnas_darts_cifar"
    size = getattr(config, "resolution", None) or (32 if cifar else 224)
    mean, std = (CIFAR10_MEAN, CIFAR10_STD) if cifar else (IMAGENET_MEAN, IMAGENET_STD)
    if channels != 3:  # one grey (or other) channel: the average statistics
        mean, std = (sum(mean) / 3,) * channels, (sum(std) / 3,) * channels
    linear = model.get_submodule(classifier) if classifier else None
    return {**cfg, "input_size": (channels, size, size), "mean": tuple(mean), "std": tuple(std),
            "crop_pct": 1.0 if cifar else IMAGE_FOLDER_CROP_PCT,
            "num_classes": getattr(linear, "out_features", None)}


def _input_channels(model: nn.Module) -> int | None:
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return None if conv is None else conv.in_channels


def ddpnas_darts_cifar(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """DARTS CIFAR evaluation network of a genotype (``genotype=`` name, text, JSON or Genotype)."""
    return _build("ddpnas_darts_cifar", pretrained, kwargs)


def ddpnas_darts_imagenet(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """DARTS ImageNet (mobile setting) evaluation network of a genotype."""
    return _build("ddpnas_darts_imagenet", pretrained, kwargs)


def ddpnas_mobilenet(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """A layer-wise network from ``config=`` (a NetworkConfig, its dict, or an ENG answer's JSON path)."""
    return _build("ddpnas_mobilenet", pretrained, kwargs)


ENTRYPOINTS: tuple[Callable[..., nn.Module], ...] = (ddpnas_darts_cifar, ddpnas_darts_imagenet, ddpnas_mobilenet)


def register_with_timm(register: Callable[[Callable[..., Any]], Any] | None = None) -> list[str]:
    """Register :data:`ENTRYPOINTS` with ``register`` (default: timm's ``register_model``); returns the names."""
    if register is None:
        from timm.models import is_model
        from timm.models import register_model as register

        if all(is_model(entrypoint.__name__) for entrypoint in ENTRYPOINTS):
            return [entrypoint.__name__ for entrypoint in ENTRYPOINTS]  # already there: no overwrite warning
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
