"""The NAS-Bench-Macro space (Su et al., CVPR 2021) as a :class:`LayerwiseSpace`.

8 searchable layers in stages of [2, 3, 3]; the first layer of a stage has stride 2 and doubles the width
(32 -> 64 -> 128 -> 256). Choices per layer, in the benchmark's key order: ``0`` identity (a 1x1 convolution
with stride + BatchNorm where the shape changes, no layer otherwise), ``1`` MBConv kernel 3 expansion 3,
``2`` MBConv kernel 5 expansion 6. Stem 3x3 conv 32 stride 1, head 1x1 conv 1280, ReLU activations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ddp_vision.mobilenet.config import BlockConfig, NetworkConfig
from ddp_vision.mobilenet.space import LayerwiseSpace, candidate_name

IDENTITY = "identity"
MACRO_CANDIDATES = (IDENTITY, candidate_name(3, 3), candidate_name(5, 6))


@dataclass(frozen=True)
class MacroSpaceConfig:
    """Options of the NAS-Bench-Macro space; the defaults are the benchmark's."""

    num_classes: int = 10
    resolution: int = 32
    stem_channels: int = 32
    stage_widths: tuple[int, ...] = (64, 128, 256)
    stage_depths: tuple[int, ...] = (2, 3, 3)
    head_channels: int = 1280
    in_channels: int = 3
    dropout: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "stage_widths", tuple(int(v) for v in self.stage_widths))
        object.__setattr__(self, "stage_depths", tuple(int(v) for v in self.stage_depths))
        if len(self.stage_widths) != len(self.stage_depths):
            raise ValueError("stage_widths and stage_depths must have the same length")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MacroSpaceConfig:
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown NAS-Bench-Macro options {unknown}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**dict(data))


def macro_space(config: MacroSpaceConfig | None = None) -> LayerwiseSpace:
    """The NAS-Bench-Macro space: 8 decisions x {identity, mb3_e3, mb5_e6} with the default config."""
    config = config or MacroSpaceConfig()
    base = NetworkConfig(
        blocks=(),
        num_classes=config.num_classes,
        resolution=config.resolution,
        stem_channels=config.stem_channels,
        stem_stride=1,
        head_channels=config.head_channels,
        in_channels=config.in_channels,
        activation="relu",
        dropout=config.dropout,
        name="nas_bench_macro",
    )
    choices = []
    for width, depth in zip(config.stage_widths, config.stage_depths, strict=True):
        for i in range(depth):
            stride = 2 if i == 0 else 1
            identity = BlockConfig(width, stride, 1, 1, type="conv_bn") if i == 0 else None
            choices.append(
                [(IDENTITY, identity), (MACRO_CANDIDATES[1], BlockConfig(width, stride, 3, 3)),
                 (MACRO_CANDIDATES[2], BlockConfig(width, stride, 5, 6))]
            )
    return LayerwiseSpace(base, choices, kind="nas-bench-macro", options=config.to_dict(), decision_prefix="layer")


def key_to_architecture(key: str) -> tuple[int, ...]:
    """A benchmark key such as ``"22212220"`` as an architecture (candidate index per decision)."""
    if not key or any(ch not in "012" for ch in key):
        raise ValueError(f"a NAS-Bench-Macro key is a string over {{0, 1, 2}}, got {key!r}")
    return tuple(int(ch) for ch in key)


def architecture_to_key(architecture: Sequence[int]) -> str:
    """The benchmark key of an architecture."""
    if any(int(k) not in (0, 1, 2) for k in architecture):
        raise ValueError(f"NAS-Bench-Macro candidates are 0, 1, 2; got {list(architecture)}")
    return "".join(str(int(k)) for k in architecture)
