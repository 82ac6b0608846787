"""The eight DARTS operations and the building blocks of DARTS cells (Liu et al., 2019).

Parametric ops: ``sep_conv_3x3``, ``sep_conv_5x5``, ``dil_conv_3x3``, ``dil_conv_5x5``; non-parametric:
``max_pool_3x3``, ``avg_pool_3x3``, ``skip_connect`` (a factorised 1x1 reduction when the edge has stride 2,
which does carry weights), ``none``. Every op maps ``C`` channels to ``C`` channels and divides the spatial
size by its stride.
"""

from __future__ import annotations

import torch
import torch.nn as nn

__all__ = [
    "PRIMITIVES",
    "PARAMETRIC_OPS",
    "NONPARAMETRIC_OPS",
    "op_tag",
    "build_op",
    "ReLUConvBN",
    "SepConv",
    "DilConv",
    "FactorizedReduce",
    "Zero",
    "drop_path",
]

PARAMETRIC_OPS = ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
NONPARAMETRIC_OPS = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "none")
# the candidate order of the search space's decisions (tags live on candidates, so order is free)
PRIMITIVES = PARAMETRIC_OPS + NONPARAMETRIC_OPS


def op_tag(name: str) -> str:
    """``"param"`` or ``"nonparam"`` for an op name."""
    if name in PARAMETRIC_OPS:
        return "param"
    if name in NONPARAMETRIC_OPS:
        return "nonparam"
    raise KeyError(f"unknown DARTS op {name!r}; known ops: {', '.join(PRIMITIVES)}")


class ReLUConvBN(nn.Sequential):
    """ReLU, convolution, BatchNorm (the cell preprocessing)."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int, padding: int, affine: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class DilConv(nn.Sequential):
    """ReLU, dilated depthwise convolution, pointwise convolution, BatchNorm."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int, padding: int, dilation: int,
                 affine: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel_size, stride=stride, padding=padding, dilation=dilation, groups=c_in,
                      bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class SepConv(nn.Sequential):
    """Two stacked (ReLU, depthwise, pointwise, BatchNorm) blocks; the first carries the stride."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int, padding: int, affine: bool = True):
        super().__init__(
            DilConv(c_in, c_in, kernel_size, stride, padding, 1, affine),
            DilConv(c_in, c_out, kernel_size, 1, padding, 1, affine),
        )


class Zero(nn.Module):
    """The ``none`` op: zeros of the output shape (single-path execution skips it entirely)."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """Halve the resolution with two offset stride-2 1x1 convolutions, concatenated (channels ``c_out``)."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True):
        super().__init__()
        if c_out % 2:
            raise ValueError(f"FactorizedReduce needs an even number of output channels, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = nn.functional.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))  # odd sizes: keep both halves aligned
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


def build_op(name: str, channels: int, stride: int, affine: bool = True, pool_batchnorm: bool = False) -> nn.Module:
    """Instantiate op ``name`` on ``channels`` channels with ``stride``.

    ``pool_batchnorm`` adds a non-affine BatchNorm after pooling, as the DARTS search supernet does so that
    pooled outputs are on the scale of the convolutions'.
    """
    if name == "none":
        return Zero(stride)
    if name in ("max_pool_3x3", "avg_pool_3x3"):
        pool = (nn.MaxPool2d(3, stride=stride, padding=1) if name == "max_pool_3x3"
                else nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False))
        return nn.Sequential(pool, nn.BatchNorm2d(channels, affine=False)) if pool_batchnorm else pool
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels, affine)
    if name == "sep_conv_3x3":
        return SepConv(channels, channels, 3, stride, 1, affine)
    if name == "sep_conv_5x5":
        return SepConv(channels, channels, 5, stride, 2, affine)
    if name == "dil_conv_3x3":
        return DilConv(channels, channels, 3, stride, 2, 2, affine)
    if name == "dil_conv_5x5":
        return DilConv(channels, channels, 5, stride, 4, 2, affine)
    raise KeyError(f"unknown DARTS op {name!r}; known ops: {', '.join(PRIMITIVES)}")


def drop_path(x: torch.Tensor, drop_probability: float) -> torch.Tensor:
    """Zero whole samples with probability ``drop_probability`` and rescale the rest (DARTS' drop path)."""
    if drop_probability <= 0.0:
        return x
    keep = 1.0 - drop_probability
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x / keep * mask
