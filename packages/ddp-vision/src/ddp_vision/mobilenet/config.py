"""Layer-wise network configurations: plain data that fully describes a MobileNet-family network.

A :class:`NetworkConfig` is what ENG writes as JSON and what the standalone network builder reads. It is a
list of blocks after a stem and before a head, so it expresses the ProxylessNAS/DDPNAS space, MobileNetV2 with
its own depths and widths, and the NAS-Bench-Macro networks alike.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ddp_core import write_json_atomic

BLOCK_TYPES = ("mbconv", "conv_bn")
ACTIVATIONS = ("relu", "relu6")


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to the nearest multiple of ``divisor`` without losing more than 10 %.

    This is the rule MobileNetV2 and ProxylessNAS use to scale widths by a multiplier.
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return int(rounded)


@dataclass(frozen=True)
class BlockConfig:
    """One block of a layer-wise network.

    Parameters
    ----------
    out_channels : int
        Output width.
    stride : int
        Stride of the depthwise convolution (``mbconv``) or of the 1x1 convolution (``conv_bn``).
    kernel : int
        Depthwise kernel size (odd); 1 for ``conv_bn``.
    expansion : int
        Hidden width = ``expansion * in_channels``; 1 means no expansion convolution (MBConv1).
    type : str
        ``"mbconv"``: MobileNetV2 inverted residual (expand 1x1, depthwise kxk, project 1x1, residual when
        stride is 1 and widths match). ``"conv_bn"``: a 1x1 convolution with stride plus BatchNorm, the
        NAS-Bench-Macro "identity" where the shape changes.
    """

    out_channels: int
    stride: int = 1
    kernel: int = 3
    expansion: int = 6
    type: str = "mbconv"

    def __post_init__(self) -> None:
        if self.type not in BLOCK_TYPES:
            raise ValueError(f"block type must be one of {BLOCK_TYPES}, got {self.type!r}")
        if self.out_channels < 1:
            raise ValueError(f"a block needs out_channels >= 1, got {self.out_channels}")
        if self.stride not in (1, 2):
            raise ValueError(f"block stride must be 1 or 2, got {self.stride}")
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise ValueError(f"block kernel must be a positive odd number, got {self.kernel}")
        if self.expansion < 1:
            raise ValueError(f"block expansion must be >= 1, got {self.expansion}")


@dataclass(frozen=True)
class NetworkConfig:
    """A whole layer-wise network: stem, blocks, 1x1 head convolution, pooling and classifier.

    Parameters
    ----------
    blocks : sequence of BlockConfig
        The body, in order. Skipped (``zero``) blocks are simply absent.
    num_classes : int
    resolution : int
        Input height and width the costs are counted at (the network itself accepts any size).
    stem_channels, stem_stride : int
        The 3x3 stem convolution.
    head_channels : int
        Width of the final 1x1 convolution before pooling (1280 in MobileNetV2).
    in_channels : int
        Image channels.
    activation : str
        ``"relu6"`` (MobileNetV2, ProxylessNAS) or ``"relu"`` (NAS-Bench-Macro).
    dropout : float
        Dropout before the classifier.
    name : str
        Free label carried into JSON and checkpoints.
    """

    blocks: Sequence[BlockConfig]
    num_classes: int = 1000
    resolution: int = 224
    stem_channels: int = 32
    stem_stride: int = 2
    head_channels: int = 1280
    in_channels: int = 3
    activation: str = "relu6"
    dropout: float = 0.0
    name: str = "mobilenet_layerwise"
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        blocks = tuple(b if isinstance(b, BlockConfig) else BlockConfig(**b) for b in self.blocks)
        object.__setattr__(self, "blocks", blocks)
        object.__setattr__(self, "extra", dict(self.extra))
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {self.num_classes}")
        if self.resolution < 1:
            raise ValueError(f"resolution must be >= 1 pixel, got {self.resolution}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    # ------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dictionary; :meth:`from_dict` inverts it."""
        data = asdict(self)
        data["blocks"] = [asdict(b) for b in self.blocks]
        data["format"] = "ddpnas.mobilenet_layerwise/1"
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NetworkConfig:
        """Rebuild a config from :meth:`to_dict` output (an ENG answer file is accepted as well)."""
        data = dict(data)
        if "network" in data and "blocks" not in data:
            data = dict(data["network"])
        if "blocks" not in data:
            raise ValueError(
                "a network config needs a 'blocks' list; pass the JSON written by NetworkConfig.to_dict or by "
                "tools/generate.py (its 'network' entry)"
            )
        data.pop("format", None)
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown network config keys {unknown}; known: {sorted(known)}")
        data["blocks"] = [BlockConfig(**b) for b in data["blocks"]]
        return cls(**data)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the config as JSON atomically (temporary file + rename)."""
        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> NetworkConfig:
        """Read a config written by :meth:`save` (or an ENG answer)."""
        path = pathlib.Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"network config {path} does not exist; generate one with tools/generate.py")
        fix = "pass the JSON written by NetworkConfig.save or tools/generate.py"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError(f"a network config is a JSON object, got a {type(data).__name__}")
            return cls.from_dict(data)
        except UnicodeDecodeError:
            raise ValueError(f"network config {path} is not text (a binary file, such as a pickle?): {fix}") from None
        except (ValueError, TypeError) as error:  # wrong JSON, wrong keys or types of a block
            raise ValueError(f"network config {path}: {' '.join(str(error).split())}; {fix}") from None


def mobilenetv2_config(
    width_multiplier: float = 1.0, num_classes: int = 1000, resolution: int = 224, dropout: float = 0.2
) -> NetworkConfig:
    """MobileNetV2 (Sandler et al., 2018) expressed as a layer-wise config.

    Expansion 6, kernel 3 everywhere except the first MBConv1 block; widths [16, 24, 32, 64, 96, 160, 320],
    depths [1, 2, 3, 4, 3, 3, 1], first strides [1, 2, 2, 2, 1, 2, 1]. At width 1.0 and 224 pixels it counts
    300.8M MACs and 3.50M parameters.
    """
    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    blocks = []
    for expansion, width, depth, first_stride in settings:
        out = make_divisible(width * width_multiplier)
        for i in range(depth):
            blocks.append(BlockConfig(out, first_stride if i == 0 else 1, 3, expansion))
    return NetworkConfig(
        blocks=blocks,
        num_classes=num_classes,
        resolution=resolution,
        stem_channels=make_divisible(32 * width_multiplier),
        head_channels=make_divisible(1280 * max(1.0, width_multiplier)),
        dropout=dropout,
        name=f"mobilenetv2_{round(width_multiplier * 100)}",
    )


def conv_output_size(size: int, kernel: int, stride: int) -> int:
    """Spatial size after a convolution with ``padding = kernel // 2``."""
    return math.floor((size + 2 * (kernel // 2) - kernel) / stride) + 1
