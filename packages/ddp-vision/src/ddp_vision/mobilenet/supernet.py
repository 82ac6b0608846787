"""Single-path supernet of a :class:`LayerwiseSpace` with separate weights per candidate.

Design choice: every candidate block owns its weights (as in ProxylessNAS and the DDPNAS authors' code), rather
than slicing the largest kernel/expansion. DDPNAS ranks candidates of a decision by the validation score of
paths through them; with separate weights a candidate's score reflects its own operator (and its own BatchNorm
statistics, which sliced weights would share across expansions), and training one candidate never moves
another's weights. The costs: about 4x the parameters (16.0M for the full space at width 1.0 with 1000 classes, versus 3-5M
for one network) and, under DistributedDataParallel, unused parameters in every step
(``find_unused_parameters=True``). Only the sampled path runs, so a step costs the same as one network.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

from ddp_vision.mobilenet.blocks import ClassifierHead, ConvBNAct, build_block, initialize_weights
from ddp_vision.mobilenet.space import LayerwiseSpace

if TYPE_CHECKING:
    from ddp_vision.mobilenet.network import LayerwiseMobileNet


class ChoiceBlock(nn.Module):
    """One decision: a module per candidate (``nn.Identity`` for an absent block); runs only the chosen one."""

    def __init__(self, candidates: Sequence[nn.Module], names: Sequence[str]) -> None:
        super().__init__()
        self.candidates = nn.ModuleList(candidates)
        self.names = tuple(names)

    def forward(self, x: torch.Tensor, index: int) -> torch.Tensor:
        return self.candidates[index](x)


class LayerwiseSupernet(nn.Module):
    """Shared-weight supernet; ``forward(x, architecture)`` runs the single path ``architecture``.

    Parameters
    ----------
    space : LayerwiseSpace
        The space (``mobilenet_space(...)`` or ``macro_space(...)``).
    """

    def __init__(self, space: LayerwiseSpace) -> None:
        super().__init__()
        self.space = space
        base = space.base
        act = base.activation
        self.stem = ConvBNAct(base.in_channels, base.stem_channels, 3, base.stem_stride, activation=act)
        channels = base.stem_channels
        prefix = []
        for block in base.blocks:
            prefix.append(build_block(block, channels, act))
            channels = block.out_channels
        self.prefix = nn.Sequential(*prefix)
        choice_blocks = []
        for row in space.choices:
            modules = [nn.Identity() if block is None else build_block(block, channels, act) for _, block in row]
            choice_blocks.append(ChoiceBlock(modules, [name for name, _ in row]))
            channels = next((b.out_channels for _, b in row if b is not None), channels)
        self.choices = nn.ModuleList(choice_blocks)
        self.head = ClassifierHead(channels, base.head_channels, base.num_classes, act, base.dropout)
        initialize_weights(self)

    def forward(self, x: torch.Tensor, architecture: Sequence[int]) -> torch.Tensor:
        if len(architecture) != len(self.choices):
            raise ValueError(f"the supernet has {len(self.choices)} decisions; got an architecture of {len(architecture)}")
        x = self.prefix(self.stem(x))
        for block, index in zip(self.choices, architecture, strict=True):
            x = block(x, int(index))
        return self.head(x)

    def extract_network(self, architecture: Sequence[int]) -> LayerwiseMobileNet:
        """A standalone :class:`LayerwiseMobileNet` of ``architecture`` carrying the supernet's trained weights."""
        from ddp_vision.mobilenet.network import LayerwiseMobileNet

        network = LayerwiseMobileNet(self.space.network_config(architecture))
        modules: list[nn.Module] = [self.stem, *self.prefix]
        for block, index in zip(self.choices, architecture, strict=True):
            chosen = block.candidates[int(index)]
            if not isinstance(chosen, nn.Identity):
                modules.append(chosen)
        targets = [m for stage in network.stages for m in stage]
        if len(targets) != len(modules):
            raise RuntimeError("supernet path and standalone network disagree on the number of blocks")
        for source, target in zip(modules, targets, strict=True):
            target.load_state_dict(source.state_dict())
        network.head.load_state_dict(self.head.state_dict())
        return network
