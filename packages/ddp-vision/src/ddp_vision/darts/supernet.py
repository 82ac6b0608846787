"""The weight-sharing DARTS supernet: every op of every edge, run one sampled path at a time.

``forward(x, architecture)`` executes only the sampled op of each edge (an edge whose op is ``none`` is
skipped; a node whose inputs are all ``none`` is a zero map), so a training step costs what one discrete
network costs. ``forward_mixed(x, weights)`` runs DARTS' continuous relaxation (every op of every edge,
weighted): with one-hot weights it equals the single path, and it is the baseline of the throughput benchmark.
Search cells use non-affine BatchNorm and BatchNorm after pooling, as DARTS' search network does.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ddp_vision.darts.genotypes import cell_edges
from ddp_vision.darts.operations import PRIMITIVES, FactorizedReduce, ReLUConvBN, build_op
from ddp_vision.darts.space import DartsSupernetConfig, split_architecture

__all__ = ["DartsSupernet", "SearchCell"]

_NONE = PRIMITIVES.index("none")


class SearchCell(nn.Module):
    """One supernet cell: preprocessing of the two inputs and all ops of all edges."""

    def __init__(self, steps: int, c_prev_prev: int, c_prev: int, channels: int, reduction: bool,
                 reduction_prev: bool):
        super().__init__()
        self.steps, self.reduction = steps, reduction
        self.preprocess0 = (FactorizedReduce(c_prev_prev, channels, affine=False) if reduction_prev
                            else ReLUConvBN(c_prev_prev, channels, 1, 1, 0, affine=False))
        self.preprocess1 = ReLUConvBN(c_prev, channels, 1, 1, 0, affine=False)
        self.edges = nn.ModuleList()
        self.edge_inputs = [j for _, j in cell_edges(steps)]
        for j in self.edge_inputs:
            stride = 2 if reduction and j < 2 else 1
            self.edges.append(nn.ModuleList(
                build_op(name, channels, stride, affine=False, pool_batchnorm=True) for name in PRIMITIVES
            ))

    def _node_shape(self, state: torch.Tensor) -> tuple[int, ...]:
        n, c, h, w = state.shape
        return (n, c, -(-h // 2), -(-w // 2)) if self.reduction else (n, c, h, w)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, ops: tuple[int, ...]) -> torch.Tensor:
        """Run only op ``ops[edge]`` on every edge; the cell output concatenates the intermediate nodes."""
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        edge = 0
        for node in range(self.steps):
            total = None
            for j in range(node + 2):
                k = ops[edge]
                if k != _NONE:  # `none` contributes nothing and costs nothing
                    out = self.edges[edge][k](states[j])
                    total = out if total is None else total + out
                edge += 1
            if total is None:  # every input edge is `none`: the node is a zero map
                total = states[0].new_zeros(self._node_shape(states[0]))
            states.append(total)
        return torch.cat(states[-self.steps:], dim=1)

    def forward_mixed(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Run every op of every edge, weighted by ``weights`` (edges x ops), as DARTS' relaxation does."""
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        edge = 0
        for node in range(self.steps):
            total = None
            for j in range(node + 2):
                out = sum(w * op(states[j]) for w, op in zip(weights[edge], self.edges[edge], strict=True))
                total = out if total is None else total + out
                edge += 1
            states.append(total)
        return torch.cat(states[-self.steps:], dim=1)


class DartsSupernet(nn.Module):
    """DARTS search network over :class:`DartsSupernetConfig`; weights shared by every sampled architecture."""

    def __init__(self, config: DartsSupernetConfig | None = None):
        super().__init__()
        config = config or DartsSupernetConfig()
        self.config = config
        c_curr = config.stem_multiplier * config.channels
        self.stem = nn.Sequential(
            nn.Conv2d(config.in_channels, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr),
        )
        c_prev_prev, c_prev, c_curr = c_curr, c_curr, config.channels
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(config.layers):
            reduction = i in self.reduction_indices
            if reduction:
                c_curr *= 2
            self.cells.append(SearchCell(config.steps, c_prev_prev, c_prev, c_curr, reduction, reduction_prev))
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, config.steps * c_curr
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, config.num_classes)

    @property
    def reduction_indices(self) -> tuple[int, int]:
        """Positions of the two reduction cells."""
        return (self.config.layers // 3, 2 * self.config.layers // 3)

    def forward(self, x: torch.Tensor, architecture: tuple[int, ...]) -> torch.Tensor:
        """Logits of the single path ``architecture`` (one op index per decision, normal cell first)."""
        cells = split_architecture(tuple(architecture), self.config.edges_per_cell)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, cells["reduce" if cell.reduction else "normal"])
        return self.classifier(self.global_pooling(s1).flatten(1))

    def forward_mixed(self, x: torch.Tensor, normal_weights: torch.Tensor, reduce_weights: torch.Tensor) -> torch.Tensor:
        """Logits of DARTS' relaxation: each edge outputs ``sum_k weights[edge, k] * op_k(x)``."""
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell.forward_mixed(s0, s1, reduce_weights if cell.reduction else normal_weights)
        return self.classifier(self.global_pooling(s1).flatten(1))
