"""The layers of layer-wise MobileNet-family networks (shared by the standalone network and the supernet)."""

from __future__ import annotations

import torch
from torch import nn

from ddp_vision.mobilenet.config import BlockConfig


def activation_layer(name: str) -> nn.Module:
    """The activation module named ``name`` (``"relu"`` or ``"relu6"``)."""
    if name == "relu6":
        return nn.ReLU6(inplace=True)
    if name == "relu":
        return nn.ReLU(inplace=True)
    raise ValueError(f"unknown activation {name!r}; use 'relu' or 'relu6'")


class ConvBNAct(nn.Sequential):
    """A bias-free convolution (``padding = kernel // 2``), BatchNorm and an optional activation."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int,
        stride: int = 1,
        groups: int = 1,
        activation: str | None = "relu6",
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        if activation is not None:
            layers.append(activation_layer(activation))
        super().__init__(*layers)


class InvertedResidual(nn.Module):
    """MobileNetV2 inverted residual: expand 1x1, depthwise kxk, linear project 1x1.

    The residual connection is used when ``stride == 1`` and ``in_channels == out_channels``.
    ``expansion == 1`` drops the expansion convolution (MBConv1).
    """

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, kernel: int, expansion: int, activation: str = "relu6"
    ) -> None:
        super().__init__()
        hidden = in_channels * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(ConvBNAct(in_channels, hidden, 1, activation=activation))
        layers.append(ConvBNAct(hidden, hidden, kernel, stride, groups=hidden, activation=activation))
        layers.append(ConvBNAct(hidden, out_channels, 1, activation=None))
        self.body = nn.Sequential(*layers)
        self.use_residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return x + out if self.use_residual else out


def build_block(block: BlockConfig, in_channels: int, activation: str) -> nn.Module:
    """The module for one :class:`BlockConfig` with input width ``in_channels``."""
    if block.type == "conv_bn":
        return ConvBNAct(in_channels, block.out_channels, block.kernel, block.stride, activation=None)
    return InvertedResidual(in_channels, block.out_channels, block.stride, block.kernel, block.expansion, activation)


class ClassifierHead(nn.Module):
    """1x1 convolution to ``head_channels``, global average pooling, dropout, linear classifier."""

    def __init__(self, in_channels: int, head_channels: int, num_classes: int, activation: str, dropout: float) -> None:
        super().__init__()
        self.conv = ConvBNAct(in_channels, head_channels, 1, activation=activation)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(head_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.conv(x)).flatten(1)
        return self.classifier(self.dropout(x))


def initialize_weights(module: nn.Module) -> None:
    """MobileNetV2's initialisation: Kaiming (fan-out) convolutions, unit BatchNorm, small linear weights."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
