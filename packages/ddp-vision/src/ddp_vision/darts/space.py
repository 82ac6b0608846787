"""The DARTS cell search space as a ddp-core ``SearchSpace``: 2 cells x 14 edges x 8 tagged ops.

Decision ``normal.edge{n}`` / ``reduce.edge{n}`` is the op on edge ``n`` of that cell type; edges are
ordered node by node, inputs ascending (node 0: inputs 0, 1; node 1: inputs 0, 1, 2; ...), as in DARTS.
Candidates follow :data:`~ddp_vision.darts.operations.PRIMITIVES` and carry the tag ``param`` or
``nonparam``; pruning keeps at least one of each per edge (``tag_floors``), as the paper does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ddp_core import Candidate, Decision, SearchSpace
from ddp_vision.darts.genotypes import cell_edges
from ddp_vision.darts.operations import PRIMITIVES, op_tag

__all__ = [
    "CELL_TYPES",
    "DartsSupernetConfig",
    "build_search_space",
    "decision_name",
    "split_architecture",
    "supernet_config_from_space",
]

CELL_TYPES = ("normal", "reduce")
GENERATOR = "ddp_vision.darts.generate:cli"


@dataclass(frozen=True)
class DartsSupernetConfig:
    """Shape of the search supernet (defaults: the paper's CIFAR-10 search, 8 cells of 16 channels).

    Parameters
    ----------
    channels : int
        Channels of the first cells (doubled at each reduction cell).
    layers : int
        Number of cells; reduction cells sit at ``layers // 3`` and ``2 * layers // 3``.
    steps : int
        Intermediate nodes per cell (DARTS: 4, so 14 edges per cell).
    stem_multiplier : int
        The stem convolution outputs ``stem_multiplier * channels`` channels.
    in_channels, num_classes, image_size : int
        Input images and classifier size (set from the dataset).
    """

    channels: int = 16
    layers: int = 8
    steps: int = 4
    stem_multiplier: int = 3
    in_channels: int = 3
    num_classes: int = 10
    image_size: int = 32

    def __post_init__(self) -> None:
        if self.layers < 3:
            raise ValueError(f"a DARTS supernet needs >= 3 cells (two are reduction cells), got {self.layers}")
        if self.channels < 2 or self.channels % 2:
            raise ValueError(f"channels must be even and >= 2 (factorised reductions halve them), got {self.channels}")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")

    @property
    def edges_per_cell(self) -> int:
        """Edges of one cell: 2 + 3 + ... + (steps + 1)."""
        return len(cell_edges(self.steps))

    def to_dict(self) -> dict:
        """Plain-JSON form (stored in ``space.json`` metadata)."""
        return asdict(self)


def decision_name(cell: str, edge: int) -> str:
    """``normal.edge3`` style decision names."""
    return f"{cell}.edge{edge}"


def build_search_space(config: DartsSupernetConfig = DartsSupernetConfig(), **metadata) -> SearchSpace:
    """The ddp-core space of ``config``'s cells; ``metadata`` (dataset, training settings) is stored with it."""
    candidates = tuple(Candidate(name, (op_tag(name),)) for name in PRIMITIVES)
    decisions = [
        Decision(decision_name(cell, edge), candidates)
        for cell in CELL_TYPES
        for edge in range(config.edges_per_cell)
    ]
    return SearchSpace(
        decisions,
        tag_floors={"param": 1, "nonparam": 1},
        metadata={"kind": "darts", "generator": GENERATOR, "supernet": config.to_dict(), **metadata},
    )


def supernet_config_from_space(space: SearchSpace) -> DartsSupernetConfig:
    """The supernet configuration stored in a DARTS space's metadata (``space.json``)."""
    if space.metadata.get("kind") != "darts" or "supernet" not in space.metadata:
        raise ValueError(
            f"not a DARTS search space (metadata kind {space.metadata.get('kind')!r}); "
            "was the run directory written by tools/search_darts.py?"
        )
    return DartsSupernetConfig(**space.metadata["supernet"])


def split_architecture(architecture: tuple[int, ...], edges_per_cell: int) -> dict[str, tuple[int, ...]]:
    """``{"normal": ops of the normal cell's edges, "reduce": ...}`` from a flat architecture."""
    if len(architecture) != 2 * edges_per_cell:
        raise ValueError(
            f"a DARTS architecture has {2 * edges_per_cell} op indices (two cells of {edges_per_cell} edges), "
            f"got {len(architecture)}"
        )
    return {"normal": tuple(architecture[:edges_per_cell]), "reduce": tuple(architecture[edges_per_cell:])}
