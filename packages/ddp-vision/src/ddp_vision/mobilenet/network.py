"""Standalone layer-wise MobileNet-family networks built from a :class:`NetworkConfig` (no supernet code).

The network splits into ``forward_features`` (one feature map per resolution stage, increasing stride) and
``forward_head`` so that detection/segmentation heads can use it as a backbone; registered factories make
the named variants available through :func:`ddp_vision.registry.create_model`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ddp_vision.mobilenet.blocks import ClassifierHead, ConvBNAct, build_block, initialize_weights
from ddp_vision.mobilenet.config import NetworkConfig, mobilenetv2_config
from ddp_vision.registry import register_model


class LayerwiseMobileNet(nn.Module):
    """A MobileNet-family network: stem, inverted-residual (or 1x1) blocks, 1x1 head, pooling, classifier.

    Parameters
    ----------
    config : NetworkConfig
        The full description (a JSON written by ENG loads with :meth:`NetworkConfig.load`).

    Attributes
    ----------
    feature_channels : list of int
        Width of each map ``forward_features`` returns.
    feature_strides : list of int
        Stride (input pixels per feature pixel) of each map, increasing.
    """

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.config = config
        act = config.activation
        stem = ConvBNAct(config.in_channels, config.stem_channels, 3, config.stem_stride, activation=act)
        # Group blocks into stages: a new stage starts at every block that reduces the resolution.
        stages: list[list[nn.Module]] = [[stem]]
        self.feature_channels: list[int] = [config.stem_channels]
        self.feature_strides: list[int] = [config.stem_stride]
        channels = config.stem_channels
        for block in config.blocks:
            if block.stride > 1:
                stages.append([])
                self.feature_strides.append(self.feature_strides[-1] * block.stride)
                self.feature_channels.append(channels)
            stages[-1].append(build_block(block, channels, act))
            channels = block.out_channels
            self.feature_channels[-1] = channels
        self.stages = nn.ModuleList(nn.Sequential(*modules) for modules in stages)
        self.head = ClassifierHead(channels, config.head_channels, config.num_classes, act, config.dropout)
        initialize_weights(self)

    @property
    def num_features(self) -> int:
        """Width of the last feature map (the input of the head)."""
        return self.feature_channels[-1]

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """One feature map per resolution stage, in order of increasing stride."""
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features

    def forward_head(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Classifier logits from the last feature map."""
        return self.head(features[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _config_from(config: NetworkConfig | Mapping[str, Any] | str | os.PathLike[str]) -> NetworkConfig:
    if isinstance(config, NetworkConfig):
        return config
    if isinstance(config, Mapping):
        return NetworkConfig.from_dict(config)
    return NetworkConfig.load(config)


@register_model
def ddpnas_mobilenet(
    config: NetworkConfig | Mapping[str, Any] | str | os.PathLike[str], num_classes: int | None = None, **overrides: Any
) -> LayerwiseMobileNet:
    """A searched network from a config, a config dictionary, or the path of its JSON (e.g. an ENG answer).

    ``num_classes`` and other ``NetworkConfig`` fields given as keywords override the config's values.
    """
    resolved = _config_from(config)
    if num_classes is not None:
        overrides["num_classes"] = num_classes
    if overrides:
        data = resolved.to_dict()
        data.update(overrides)
        resolved = NetworkConfig.from_dict(data)
    return LayerwiseMobileNet(resolved)


@register_model
def mobilenetv2_100_layerwise(num_classes: int = 1000, dropout: float = 0.2, **kwargs: Any) -> LayerwiseMobileNet:
    """MobileNetV2 1.0 built by the layer-wise builder (300.8M MACs, 3.50M parameters at 224)."""
    return LayerwiseMobileNet(mobilenetv2_config(1.0, num_classes=num_classes, dropout=dropout, **kwargs))


@register_model
def mobilenetv2_050_layerwise(num_classes: int = 1000, dropout: float = 0.2, **kwargs: Any) -> LayerwiseMobileNet:
    """MobileNetV2 0.5 built by the layer-wise builder."""
    return LayerwiseMobileNet(mobilenetv2_config(0.5, num_classes=num_classes, dropout=dropout, **kwargs))
