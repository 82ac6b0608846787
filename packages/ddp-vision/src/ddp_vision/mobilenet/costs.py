"""Exact multiply-accumulates (MACs) and parameter counts of layer-wise networks: the one place they are computed.

Counting convention (the one MobileNetV2's "300M MACs" and NAS-Bench-Macro's ``flops`` use): MACs of
convolutions and of the classifier's matrix product; BatchNorm, activations, residual additions, pooling and
biases cost no MACs. Parameters are every trainable tensor: convolution weights, BatchNorm weight and bias,
classifier weight and bias (BatchNorm running statistics are buffers, not parameters).

The network builder in :mod:`ddp_vision.mobilenet.network` creates exactly these layers; tests count a built
network layer by layer with forward hooks and compare.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ddp_vision.mobilenet.config import BlockConfig, NetworkConfig, conv_output_size


@dataclass(frozen=True)
class Cost:
    """MACs and parameters of a part of a network.

    Attributes
    ----------
    macs : int
        Multiply-accumulates for one image.
    params : int
        Trainable parameters.
    """

    macs: int = 0
    params: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.macs + other.macs, self.params + other.params)

    @property
    def flops_m(self) -> float:
        """MACs in millions (the paper's and the field's "FLOPs")."""
        return self.macs / 1e6

    @property
    def params_m(self) -> float:
        """Parameters in millions."""
        return self.params / 1e6


def conv_bn_cost(in_channels: int, out_channels: int, kernel: int, stride: int, size: int, groups: int = 1) -> tuple[Cost, int]:
    """Cost of a bias-free ``kernel x kernel`` convolution followed by BatchNorm, and the output size.

    Parameters
    ----------
    in_channels, out_channels, kernel, stride, groups : int
        The convolution (``padding = kernel // 2``).
    size : int
        Input height (= width) in pixels.

    Returns
    -------
    (Cost, int)
        The cost and the output height.
    """
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"channels {in_channels}->{out_channels} are not divisible by groups={groups}")
    out_size = conv_output_size(size, kernel, stride)
    weights = out_channels * (in_channels // groups) * kernel * kernel
    return Cost(macs=weights * out_size * out_size, params=weights + 2 * out_channels), out_size


def block_cost(block: BlockConfig, in_channels: int, size: int) -> tuple[Cost, int]:
    """Cost of one block at its position (input width ``in_channels``, input height ``size``)."""
    if block.type == "conv_bn":
        return conv_bn_cost(in_channels, block.out_channels, block.kernel, block.stride, size)
    hidden = in_channels * block.expansion
    total = Cost()
    if block.expansion != 1:
        expand, size = conv_bn_cost(in_channels, hidden, 1, 1, size)
        total += expand
    depthwise, size = conv_bn_cost(hidden, hidden, block.kernel, block.stride, size, groups=hidden)
    project, size = conv_bn_cost(hidden, block.out_channels, 1, 1, size)
    return total + depthwise + project, size


def stem_cost(config: NetworkConfig) -> tuple[Cost, int]:
    """Cost of the 3x3 stem convolution + BatchNorm, and its output height."""
    return conv_bn_cost(config.in_channels, config.stem_channels, 3, config.stem_stride, config.resolution)


def head_cost(in_channels: int, size: int, head_channels: int, num_classes: int) -> Cost:
    """Cost of the 1x1 head convolution + BatchNorm, pooling and the linear classifier."""
    conv, _ = conv_bn_cost(in_channels, head_channels, 1, 1, size)
    classifier = Cost(macs=head_channels * num_classes, params=head_channels * num_classes + num_classes)
    return conv + classifier


@dataclass(frozen=True)
class CostBreakdown:
    """Per-part costs of a network: stem, each block, head; plus the shapes the blocks see."""

    stem: Cost
    blocks: tuple[Cost, ...]
    head: Cost
    block_inputs: tuple[tuple[int, int], ...]  # (in_channels, input height) of each block

    @property
    def total(self) -> Cost:
        total = self.stem + self.head
        for cost in self.blocks:
            total += cost
        return total


def network_cost_breakdown(config: NetworkConfig) -> CostBreakdown:
    """Cost of every part of ``config`` at ``config.resolution``."""
    stem, size = stem_cost(config)
    channels = config.stem_channels
    costs: list[Cost] = []
    inputs: list[tuple[int, int]] = []
    for block in config.blocks:
        inputs.append((channels, size))
        cost, size = block_cost(block, channels, size)
        costs.append(cost)
        channels = block.out_channels
    head = head_cost(channels, size, config.head_channels, config.num_classes)
    return CostBreakdown(stem=stem, blocks=tuple(costs), head=head, block_inputs=tuple(inputs))


def network_cost(config: NetworkConfig) -> Cost:
    """Total MACs and parameters of ``config`` at ``config.resolution``."""
    return network_cost_breakdown(config).total


def sum_costs(costs: Sequence[Cost]) -> Cost:
    """Sum a sequence of costs."""
    total = Cost()
    for cost in costs:
        total += cost
    return total
