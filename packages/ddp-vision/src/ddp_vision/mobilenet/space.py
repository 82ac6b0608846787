"""Layer-wise search spaces: one decision per block, each candidate a block config (or no block at all).

:class:`LayerwiseSpace` is generic; :func:`mobilenet_space` builds the ProxylessNAS/DDPNAS space of the paper
(21 searchable blocks, kernel {3, 5, 7} x expansion {3, 6}, plus ``zero`` where the block can be skipped) and
:mod:`ddp_vision.macro.space` builds NAS-Bench-Macro. Because every candidate of a decision sees the same input
shape, costs are exactly additive over decisions and ENG can use ddp-core's cost tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ddp_vision.mobilenet.config import BlockConfig, NetworkConfig, make_divisible
from ddp_vision.mobilenet.costs import Cost, block_cost, head_cost, stem_cost

if TYPE_CHECKING:
    from ddp_core import CostTable, SearchSpace

MOBILENET_GENERATOR = "ddp_vision.mobilenet.generate:cli"
ZERO = "zero"


def candidate_name(kernel: int, expansion: int) -> str:
    """The name of an MBConv candidate, e.g. ``mb5_e6`` for kernel 5, expansion 6."""
    return f"mb{kernel}_e{expansion}"


@dataclass(frozen=True)
class LayerwiseSpace:
    """A fixed stem and prefix, one decision per searchable block, a fixed head.

    Parameters
    ----------
    base : NetworkConfig
        Stem, head, classes, resolution, activation; its ``blocks`` are the fixed blocks before the first
        decision.
    choices : sequence of sequence of (name, BlockConfig or None)
        Per decision, the candidates in order; ``None`` means the block is absent (``zero``/identity).
    kind : str
        ``"mobilenet"`` or ``"nas-bench-macro"``; with ``options`` it rebuilds the space from metadata.
    options : dict
        The constructor arguments of the space (JSON-serialisable).
    decision_prefix : str
        Decisions are named ``<prefix><index>`` (``block00``...; NAS-Bench-Macro uses ``layer0``... as ddp-core's
        tabular oracle does).
    """

    base: NetworkConfig
    choices: Sequence[Sequence[tuple[str, BlockConfig | None]]]
    kind: str
    options: Mapping[str, Any] = field(default_factory=dict)
    decision_prefix: str = "block"

    def __post_init__(self) -> None:
        object.__setattr__(self, "choices", tuple(tuple(c) for c in self.choices))
        channels = self.base.blocks[-1].out_channels if self.base.blocks else self.base.stem_channels
        for e, row in enumerate(self.choices):
            outs = {b.out_channels if b is not None else channels for _, b in row}
            if len(outs) != 1:
                raise ValueError(f"decision {e}: all candidates must produce the same width, got {sorted(outs)}")
            channels = outs.pop()

    @property
    def num_decisions(self) -> int:
        return len(self.choices)

    def decision_names(self) -> list[str]:
        width = 2 if self.num_decisions > 10 else 1
        return [f"{self.decision_prefix}{e:0{width}d}" for e in range(self.num_decisions)]

    def network_config(self, architecture: Sequence[int], name: str | None = None) -> NetworkConfig:
        """The standalone network of one architecture (one candidate index per decision)."""
        if len(architecture) != self.num_decisions:
            raise ValueError(f"an architecture needs {self.num_decisions} indices, got {len(architecture)}")
        blocks = list(self.base.blocks)
        for e, (row, k) in enumerate(zip(self.choices, architecture, strict=True)):
            if not 0 <= int(k) < len(row):
                raise ValueError(f"decision {e} has {len(row)} candidates; index {k} is out of range")
            block = row[int(k)][1]
            if block is not None:
                blocks.append(block)
        names = [self.choices[e][int(k)][0] for e, k in enumerate(architecture)]
        extra = {"space_kind": self.kind, "architecture": [int(k) for k in architecture], "candidates": names}
        return replace(self.base, blocks=tuple(blocks), name=name or self.base.name, extra=extra)

    def candidate_costs(self) -> tuple[Cost, list[list[Cost]]]:
        """Exact cost of the fixed parts and of every candidate at its position.

        Returns
        -------
        (Cost, list of list of Cost)
            The fixed cost (stem + prefix + head) and one row of candidate costs per decision.
        """
        fixed, size = stem_cost(self.base)
        channels = self.base.stem_channels
        for block in self.base.blocks:
            cost, size = block_cost(block, channels, size)
            fixed += cost
            channels = block.out_channels
        rows: list[list[Cost]] = []
        for row in self.choices:
            costs, sizes = [], set()
            for _, block in row:
                if block is None:
                    costs.append(Cost())
                    sizes.add(size)
                else:
                    cost, out_size = block_cost(block, channels, size)
                    costs.append(cost)
                    sizes.add(out_size)
            if len(sizes) != 1:
                raise ValueError("all candidates of a decision must produce the same resolution")
            size = sizes.pop()
            channels = next((b.out_channels for _, b in row if b is not None), channels)
            rows.append(costs)
        head = head_cost(channels, size, self.base.head_channels, self.base.num_classes)
        return fixed + head, rows

    def cost_tables(self) -> dict[str, CostTable]:
        """ddp-core cost tables ``flops_m`` (MACs, millions) and ``params_m`` (millions)."""
        from ddp_core import CostTable

        fixed, rows = self.candidate_costs()
        return {
            "flops_m": CostTable("flops_m", fixed.flops_m, [[c.flops_m for c in row] for row in rows]),
            "params_m": CostTable("params_m", fixed.params_m, [[c.params_m for c in row] for row in rows]),
        }

    def metadata(self) -> dict[str, Any]:
        return {"kind": self.kind, "generator": MOBILENET_GENERATOR, "config": dict(self.options)}

    def search_space(self, min_live: int = 1) -> SearchSpace:
        """The ddp-core view: one decision per searchable block, candidates by name.

        ``min_live``: pruning stops at this many live candidates per decision, so ENG still chooses among
        searched candidates under a budget (``generate(..., live_only=True)``).
        """
        from ddp_core import Decision, SearchSpace

        decisions = [
            Decision(name, [candidate for candidate, _ in row])
            for name, row in zip(self.decision_names(), self.choices, strict=True)
        ]
        return SearchSpace(decisions, metadata=self.metadata(), min_live=min_live)


@dataclass(frozen=True)
class MobileNetSpaceConfig:
    """The ProxylessNAS layer-wise space (ALGORITHM.md) with width multiplier and input resolution as options."""

    num_classes: int = 1000
    resolution: int = 224
    width_multiplier: float = 1.0
    stage_widths: tuple[int, ...] = (24, 40, 80, 96, 192, 320)
    stage_depths: tuple[int, ...] = (4, 4, 4, 4, 4, 1)
    stage_strides: tuple[int, ...] = (2, 2, 2, 1, 2, 1)
    kernels: tuple[int, ...] = (3, 5, 7)
    expansions: tuple[int, ...] = (3, 6)
    allow_zero: bool = True
    stem_channels: int = 32
    first_block_channels: int = 16
    head_channels: int = 1280
    in_channels: int = 3
    dropout: float = 0.0

    def __post_init__(self) -> None:
        for name in ("stage_widths", "stage_depths", "stage_strides", "kernels", "expansions"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        if not len(self.stage_widths) == len(self.stage_depths) == len(self.stage_strides):
            raise ValueError("stage_widths, stage_depths and stage_strides must have the same length")
        if self.width_multiplier <= 0:
            raise ValueError(f"width_multiplier must be > 0, got {self.width_multiplier}")
        if any(d < 1 for d in self.stage_depths):
            raise ValueError(f"every stage needs at least one block, got depths {self.stage_depths}")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MobileNetSpaceConfig:
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown MobileNet space options {unknown}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**dict(data))


def mobilenet_space(config: MobileNetSpaceConfig | None = None) -> LayerwiseSpace:
    """The DDPNAS MobileNet layer-wise space (21 decisions with the default config)."""
    config = config or MobileNetSpaceConfig()
    wm = config.width_multiplier
    base = NetworkConfig(
        blocks=(BlockConfig(make_divisible(config.first_block_channels * wm), 1, 3, 1),),
        num_classes=config.num_classes,
        resolution=config.resolution,
        stem_channels=make_divisible(config.stem_channels * wm),
        stem_stride=2,
        head_channels=make_divisible(config.head_channels * max(1.0, wm)),
        in_channels=config.in_channels,
        activation="relu6",
        dropout=config.dropout,
        name="ddpnas_mobilenet",
    )
    channels = base.blocks[0].out_channels
    choices = []
    for width, depth, first_stride in zip(config.stage_widths, config.stage_depths, config.stage_strides, strict=True):
        out = make_divisible(width * wm)
        for i in range(depth):
            stride = first_stride if i == 0 else 1
            row: list[tuple[str, BlockConfig | None]] = [
                (candidate_name(k, e), BlockConfig(out, stride, k, e)) for k in config.kernels for e in config.expansions
            ]
            if config.allow_zero and stride == 1 and channels == out:
                row.append((ZERO, None))
            choices.append(row)
            channels = out
    return LayerwiseSpace(base, choices, kind="mobilenet", options=config.to_dict())


def space_from_metadata(metadata: Mapping[str, Any]) -> LayerwiseSpace:
    """Rebuild the layer-wise space a ddp-core ``SearchSpace`` (e.g. ``run_dir/space.json``) describes."""
    kind = metadata.get("kind")
    options = dict(metadata.get("config", {}))
    if kind == "mobilenet":
        return mobilenet_space(MobileNetSpaceConfig.from_dict(options))
    if kind == "nas-bench-macro":
        from ddp_vision.macro.space import MacroSpaceConfig, macro_space

        return macro_space(MacroSpaceConfig.from_dict(options))
    raise ValueError(f"space metadata kind {kind!r} is not a layer-wise space; expected 'mobilenet' or 'nas-bench-macro'")
