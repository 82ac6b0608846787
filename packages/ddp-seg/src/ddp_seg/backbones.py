"""DDPNAS evaluation networks as mmsegmentation backbones, named from a config.

Each backbone wraps one of ``ddp_vision``'s public evaluation networks, which expose
``forward_features(x) -> list[Tensor]`` (one map per resolution stage, increasing stride) with
``feature_channels`` and ``feature_strides``. The backbone returns the maps at ``out_indices`` as the tuple
mmseg's decode heads expect, and drops the classification head so its parameters neither count nor train.

Importing :mod:`ddp_seg` registers the classes in mmseg's ``MODELS`` registry, so any mmseg config can say
``backbone=dict(type="DDPNASDartsBackbone", genotype="DARTS_V2", ...)``.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.runner.checkpoint import CheckpointLoader, load_state_dict
from mmseg.registry import MODELS
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = [
    "DDPNASBackbone",
    "DDPNASDartsBackbone",
    "DDPNASLayerwiseBackbone",
    "build_vision_network",
    "resolve_genotype",
]

NETWORK_PREFIX = "network."


def build_vision_network(model_name: str, **model_kwargs: Any) -> nn.Module:
    """Build a registered ``ddp_vision`` network and check it exposes the feature interface.

    Parameters
    ----------
    model_name:
        A name from ``ddp_vision.registry.list_models()``.
    **model_kwargs:
        Keyword arguments of that model's factory.

    Returns
    -------
    torch.nn.Module
        The network, with ``forward_features``, ``feature_channels`` and ``feature_strides``.
    """
    from ddp_vision.registry import create_model, list_models

    if model_name not in list_models():
        raise KeyError(
            f"ddp_vision has no model named {model_name!r}; registered models: {sorted(list_models())}"
        )
    network = create_model(model_name, **model_kwargs)
    missing = [name for name in ("forward_features", "feature_channels", "feature_strides") if not hasattr(network, name)]
    if missing:
        raise TypeError(
            f"ddp_vision model {model_name!r} lacks {missing}; a DDPNAS backbone needs forward_features(x) -> "
            "list[Tensor] with feature_channels and feature_strides"
        )
    return network


@MODELS.register_module()
class DDPNASBackbone(BaseModule):
    """Any ``ddp_vision`` evaluation network as a multi-scale mmseg backbone.

    Parameters
    ----------
    model_name:
        Registered ``ddp_vision`` model name.
    model_kwargs:
        Keyword arguments of the model factory (``num_classes`` is irrelevant: the head is dropped).
    out_indices:
        Which of ``forward_features``' maps to return, in order (non-negative, increasing stride).
    norm_eval:
        Keep BatchNorm layers in eval mode (frozen running statistics) while training, as mmseg backbones do
        when fine-tuning with small batches.
    head_modules:
        Attribute names of the network's classification head, removed after building.
    init_cfg:
        mmengine initialisation config; ``dict(type="Pretrained", checkpoint=PATH, prefix=None)`` loads a
        classification checkpoint of the same network (keys as in its ``state_dict``) or, with
        ``prefix="backbone."``, the backbone of a segmentor checkpoint.
    pretrained:
        Deprecated shortcut for ``init_cfg=dict(type="Pretrained", checkpoint=pretrained)``.

    Attributes
    ----------
    out_channels : list of int
        Channels of each returned map (what a decode head's ``in_channels`` must say).
    out_strides : list of int
        Stride of each returned map, in input pixels.
    """

    def __init__(
        self,
        model_name: str,
        model_kwargs: Mapping[str, Any] | None = None,
        out_indices: Sequence[int] | None = None,
        norm_eval: bool = False,
        head_modules: Sequence[str] = (),
        init_cfg: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        pretrained: str | None = None,
    ) -> None:
        if pretrained is not None:
            if init_cfg is not None:
                raise ValueError("give either init_cfg or pretrained, not both (pretrained is deprecated)")
            warnings.warn(
                "pretrained is deprecated; use init_cfg=dict(type='Pretrained', checkpoint=...)",
                DeprecationWarning,
                stacklevel=2,
            )
            init_cfg = dict(type="Pretrained", checkpoint=pretrained)
        super().__init__(init_cfg=init_cfg)
        self.network = build_vision_network(model_name, **_plain(dict(model_kwargs or {})))
        for name in head_modules:
            if hasattr(self.network, name):
                delattr(self.network, name)
        num_maps = len(self.network.feature_channels)
        self.out_indices = self._check_out_indices(out_indices, num_maps)
        self.out_channels = [int(self.network.feature_channels[i]) for i in self.out_indices]
        self.out_strides = [int(self.network.feature_strides[i]) for i in self.out_indices]
        self.norm_eval = norm_eval

    def _check_out_indices(self, out_indices: Sequence[int] | None, num_maps: int) -> tuple[int, ...]:
        if out_indices is None:
            return tuple(range(num_maps))
        indices = tuple(int(i) for i in out_indices)
        available = ", ".join(
            f"{i}: stride {s}, {c} channels"
            for i, (s, c) in enumerate(zip(self.network.feature_strides, self.network.feature_channels, strict=True))
        )
        if not indices or any(i < 0 or i >= num_maps for i in indices) or list(indices) != sorted(set(indices)):
            raise ValueError(
                f"out_indices must be increasing, distinct and within 0..{num_maps - 1}; got {indices}. "
                f"This network's feature maps are [{available}]"
            )
        return indices

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return the feature maps at ``out_indices``, in order of increasing stride."""
        features = self.network.forward_features(x)
        return tuple(features[i] for i in self.out_indices)

    def train(self, mode: bool = True) -> DDPNASBackbone:
        """Switch train/eval mode, keeping BatchNorm in eval mode when ``norm_eval`` is set."""
        super().train(mode)
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    def init_weights(self) -> None:
        """Initialise as mmseg backbones do; a ``Pretrained`` init_cfg loads into the wrapped network."""
        configs = self.init_cfg if isinstance(self.init_cfg, (list, tuple)) else [self.init_cfg]
        pretrained = [c for c in configs if isinstance(c, Mapping) and c.get("type") == "Pretrained"]
        if not pretrained:
            super().init_weights()  # the network initialised itself when built
            return
        if len(pretrained) > 1:
            raise ValueError(f"init_cfg names {len(pretrained)} Pretrained checkpoints; give one")
        self.load_network_checkpoint(pretrained[0]["checkpoint"], prefix=pretrained[0].get("prefix"))
        self._is_init = True

    def load_network_checkpoint(self, checkpoint: str | os.PathLike[str], prefix: str | None = None) -> None:
        """Load weights of the wrapped network from a classification or segmentor checkpoint.

        Parameters
        ----------
        checkpoint:
            Path or URL that mmengine's ``CheckpointLoader`` understands; a bare ``state_dict`` or a dict with
            ``state_dict``/``model``.
        prefix:
            Keep only keys starting with it and strip it (``"backbone."`` for a segmentor checkpoint).

        Raises
        ------
        ValueError
            If no key of the checkpoint matches the network, which means it belongs to another model.
        """
        loaded = CheckpointLoader.load_checkpoint(str(checkpoint), map_location="cpu", logger="current")
        state = loaded.get("state_dict", loaded.get("model", loaded)) if isinstance(loaded, Mapping) else loaded
        if prefix:
            state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        # Backbone keys are "network.<key>"; accept both those and the plain network's keys.
        state = {k[len(NETWORK_PREFIX) :] if k.startswith(NETWORK_PREFIX) else k: v for k, v in state.items()}
        own_keys = set(self.network.state_dict())
        matching = own_keys & set(state)
        if not matching:
            raise ValueError(
                f"checkpoint {checkpoint} has no weights for this backbone (prefix={prefix!r}); its first keys "
                f"are {sorted(state)[:3]}, the network's are {sorted(own_keys)[:3]}. Pass prefix='backbone.' "
                "for a segmentor checkpoint, or a checkpoint of the same ddp_vision network"
            )
        print_log(
            f"{type(self).__name__}: loading {len(matching)}/{len(own_keys)} tensors from {checkpoint}",
            logger="current",
            level=logging.INFO,
        )
        load_state_dict(self.network, state, strict=False, logger="current")


@MODELS.register_module()
class DDPNASDartsBackbone(DDPNASBackbone):
    """A DARTS-space network built from a genotype (stacked normal and reduction cells).

    Parameters
    ----------
    genotype:
        A published name (``"DARTS_V2"``), ``Genotype(...)`` text, a genotype dict
        (``{"normal": [[op, input], ...], "normal_concat": [...], "reduce": ..., "reduce_concat": ...}``), or
        the path of a JSON file holding such a dict (at its top level or under ``"genotype"``, as ENG writes).
    model_name:
        ``"ddpnas_darts_imagenet"`` (three stride-2 stem convolutions; maps at strides 8, 16, 32) or
        ``"ddpnas_darts_cifar"`` (full-resolution stem; strides 1, 2, 4: for small images only).
    channels, layers:
        Initial cell width and number of cells (reductions at one and two thirds of the depth).
    out_indices:
        Feature maps to return; default all.
    norm_eval, init_cfg, pretrained:
        As in :class:`DDPNASBackbone`.
    **model_kwargs:
        Further keyword arguments of the ``ddp_vision`` factory.
    """

    def __init__(
        self,
        genotype: Any,
        model_name: str = "ddpnas_darts_imagenet",
        channels: int = 48,
        layers: int = 14,
        out_indices: Sequence[int] | None = None,
        norm_eval: bool = False,
        init_cfg: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        pretrained: str | None = None,
        **model_kwargs: Any,
    ) -> None:
        model_kwargs = {
            "genotype": resolve_genotype(genotype),
            "channels": channels,
            "layers": layers,
            "auxiliary": False,  # DARTS' auxiliary classifier is a classification-training device
            **model_kwargs,
        }
        super().__init__(
            model_name=model_name,
            model_kwargs=model_kwargs,
            out_indices=out_indices,
            norm_eval=norm_eval,
            head_modules=("classifier",),
            init_cfg=init_cfg,
            pretrained=pretrained,
        )


def resolve_genotype(genotype: Any) -> Any:
    """Turn a config's genotype (name, text, dict, JSON path or ``Genotype``) into a ``ddp_vision`` Genotype.

    Parameters
    ----------
    genotype:
        See :class:`DDPNASDartsBackbone`.

    Returns
    -------
    ddp_vision.darts.genotypes.Genotype
    """
    from ddp_vision.darts.genotypes import Genotype, genotype_from_dict, parse_genotype, validate_genotype

    if isinstance(genotype, Genotype):
        return validate_genotype(genotype)
    if isinstance(genotype, Mapping):
        data = _plain(genotype)
        return genotype_from_dict(data.get("genotype", data))
    if isinstance(genotype, (str, os.PathLike)):
        text = os.fspath(genotype)
        if text.endswith(".json") or os.path.isfile(text):
            if not os.path.isfile(text):
                raise FileNotFoundError(f"genotype file {text} does not exist")
            with open(text, encoding="utf-8") as handle:
                data = json.load(handle)
            return genotype_from_dict(data.get("genotype", data))
        return parse_genotype(text)
    raise TypeError(
        f"genotype must be a name, Genotype(...) text, a dict or a JSON path, got {type(genotype).__name__}"
    )


@MODELS.register_module()
class DDPNASLayerwiseBackbone(DDPNASBackbone):
    """A layer-wise (MobileNet-family) network built from its network config.

    Parameters
    ----------
    network_config:
        The network, in one of three forms: the path of a network JSON (an ENG answer written by
        ``tools/generate.py``, or ``NetworkConfig.save``); a ``NetworkConfig`` dict (``{"blocks": [...]}``);
        or the name of a registered ``ddp_vision`` layer-wise model such as ``"mobilenetv2_100_layerwise"``.
    out_indices:
        Feature maps to return; default all.
    norm_eval, init_cfg, pretrained:
        As in :class:`DDPNASBackbone`.
    **model_kwargs:
        Further keyword arguments of the ``ddp_vision`` factory.
    """

    def __init__(
        self,
        network_config: Mapping[str, Any] | str | os.PathLike[str],
        out_indices: Sequence[int] | None = None,
        norm_eval: bool = False,
        init_cfg: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        pretrained: str | None = None,
        **model_kwargs: Any,
    ) -> None:
        model_name, model_kwargs = _layerwise_factory(network_config, model_kwargs)
        super().__init__(
            model_name=model_name,
            model_kwargs=model_kwargs,
            out_indices=out_indices,
            norm_eval=norm_eval,
            head_modules=("head", "classifier"),
            init_cfg=init_cfg,
            pretrained=pretrained,
        )


CONFIG_FACTORY = "ddpnas_mobilenet"


def _layerwise_factory(
    network_config: Mapping[str, Any] | str | os.PathLike[str], model_kwargs: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    """Map a ``network_config`` (path, dict or registered name) to a ddp_vision factory and its arguments."""
    if isinstance(network_config, Mapping):
        return CONFIG_FACTORY, {"config": _plain(network_config), **model_kwargs}
    text = os.fspath(network_config)
    if os.path.isfile(text):
        return CONFIG_FACTORY, {"config": text, **model_kwargs}
    from ddp_vision.registry import is_model

    if is_model(text) and text != CONFIG_FACTORY:
        return text, dict(model_kwargs)
    raise ValueError(
        f"network_config={text!r} is neither an existing JSON file nor a registered ddp_vision model; give the "
        "path of a network JSON written by tools/generate.py, a dict with 'blocks', or a model name such as "
        "'mobilenetv2_100_layerwise'"
    )


def _plain(value: Any) -> Any:
    """Turn mmengine ``ConfigDict`` values into plain dicts, lists and tuples (dataclass builders expect them).

    Named tuples (a ``Genotype``) and other objects pass through unchanged.
    """
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if type(value) is tuple:
        return tuple(_plain(v) for v in value)
    return value
