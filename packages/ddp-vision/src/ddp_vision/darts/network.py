"""DARTS evaluation networks built from a genotype, registered as ``ddpnas_darts_cifar`` / ``ddpnas_darts_imagenet``.

Both split ``forward_features(x) -> list of maps`` (one per resolution stage, increasing stride; attributes
``feature_channels`` and ``feature_strides``) from ``forward_head(features) -> logits``, so segmentation
heads can use the same backbone. During training with ``auxiliary=True``, :meth:`forward_train` also returns
the auxiliary head's logits (taken after the cell at two thirds of the depth, as in DARTS).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ddp_vision.darts.genotypes import Genotype, parse_genotype, validate_genotype
from ddp_vision.darts.operations import FactorizedReduce, ReLUConvBN, build_op, drop_path
from ddp_vision.registry import register_model

__all__ = ["EvalCell", "DartsNetworkCIFAR", "DartsNetworkImageNet", "ddpnas_darts_cifar", "ddpnas_darts_imagenet"]


class EvalCell(nn.Module):
    """A discrete cell: two ops per intermediate node, outputs of ``concat`` nodes concatenated."""

    def __init__(self, genotype: Genotype, c_prev_prev: int, c_prev: int, channels: int, reduction: bool,
                 reduction_prev: bool):
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = (FactorizedReduce(c_prev_prev, channels) if reduction_prev
                            else ReLUConvBN(c_prev_prev, channels, 1, 1, 0))
        self.preprocess1 = ReLUConvBN(c_prev, channels, 1, 1, 0)
        pairs = genotype.reduce if reduction else genotype.normal
        self.concat = list(genotype.reduce_concat if reduction else genotype.normal_concat)
        self.steps = len(pairs) // 2
        self.inputs = [j for _, j in pairs]
        self.op_names = [op for op, _ in pairs]
        self.ops = nn.ModuleList(
            build_op(op, channels, 2 if reduction and j < 2 else 1) for op, j in pairs
        )
        self.multiplier = len(self.concat)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_probability: float = 0.0) -> torch.Tensor:
        """Cell output from the two previous cells' outputs; drop path applies in training only."""
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(self.steps):
            outputs = []
            for position in (2 * node, 2 * node + 1):
                out = self.ops[position](states[self.inputs[position]])
                if self.training and drop_probability > 0 and not isinstance(self.ops[position], nn.Identity):
                    out = drop_path(out, drop_probability)
                outputs.append(out)
            states.append(outputs[0] + outputs[1])
        return torch.cat([states[i] for i in self.concat], dim=1)


class _AuxiliaryHead(nn.Module):
    """DARTS' auxiliary classifier (CIFAR: 8x8 input, pool stride 3; ImageNet: 14x14, stride 2).

    Maps smaller than the 5x5 pooling window (small images such as digits) are pooled to 2x2 instead.
    """

    def __init__(self, channels: int, num_classes: int, pool_stride: int):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.pool = nn.AvgPool2d(5, stride=pool_stride, padding=0, count_include_pad=False)
        self.features = nn.Sequential(
            nn.Conv2d(channels, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(inplace=False),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        x = self.pool(x) if min(x.shape[-2:]) >= 5 else nn.functional.adaptive_avg_pool2d(x, 2)
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(x.flatten(1))


class _DartsNetwork(nn.Module):
    """Cells after a stem; subclasses build the stem and set the input stride."""

    stem_stride: int = 1

    def _build_cells(self, genotype: Genotype, c_stem: int, channels: int, layers: int, reduction_prev: bool,
                     num_classes: int, auxiliary: bool, aux_pool_stride: int) -> None:
        self.layers, self.drop_path_probability = layers, 0.0
        self.reduction_indices = (layers // 3, 2 * layers // 3)
        self.auxiliary_index = 2 * layers // 3
        c_prev_prev, c_prev, c_curr = c_stem, c_stem, channels
        self.cells = nn.ModuleList()
        self.feature_channels: list[int] = []
        self.feature_strides: list[int] = []
        self._stage_ends: list[int] = []
        stride = self.stem_stride
        c_aux = c_prev
        for i in range(layers):
            reduction = i in self.reduction_indices
            if reduction:
                # the last cell before a reduction closes a resolution stage
                self._stage_ends.append(i - 1)
                self.feature_channels.append(c_prev)
                self.feature_strides.append(stride)
                c_curr *= 2
                stride *= 2
            cell = EvalCell(genotype, c_prev_prev, c_prev, c_curr, reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, cell.multiplier * c_curr
            if i == self.auxiliary_index:
                c_aux = c_prev
        self._stage_ends.append(layers - 1)
        self.feature_channels.append(c_prev)
        self.feature_strides.append(stride)
        self.auxiliary_head = _AuxiliaryHead(c_aux, num_classes, aux_pool_stride) if auxiliary else None
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)
        self._auxiliary_input: torch.Tensor | None = None

    def stem_forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two inputs of the first cell."""
        raise NotImplementedError

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """One feature map per resolution stage (the output of its last cell), strides ``feature_strides``."""
        s0, s1 = self.stem_forward(x)
        features = []
        self._auxiliary_input = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_probability)
            if i == self.auxiliary_index and self.auxiliary_head is not None and self.training:
                self._auxiliary_input = s1
            if i in self._stage_ends:
                features.append(s1)
        return features

    def forward_head(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Classifier logits from the last feature map."""
        return self.classifier(self.global_pooling(features[-1]).flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits: ``forward_head(forward_features(x))``."""
        return self.forward_head(self.forward_features(x))

    def forward_train(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(logits, auxiliary logits or None)``; the auxiliary head runs only in training mode."""
        logits = self.forward(x)
        aux = None
        if self._auxiliary_input is not None:
            aux = self.auxiliary_head(self._auxiliary_input)
            self._auxiliary_input = None
        return logits, aux

    def edge_ops(self) -> list[tuple[int, int, nn.Module]]:
        """``(cell index, genotype position, op module)`` of every edge op (for per-op cost accounting)."""
        return [(i, p, op) for i, cell in enumerate(self.cells) for p, op in enumerate(cell.ops)]


class DartsNetworkCIFAR(_DartsNetwork):
    """The CIFAR evaluation network (DARTS: 20 cells, 36 channels, stem of 3x channels at full resolution)."""

    def __init__(self, genotype: Genotype, channels: int = 36, layers: int = 20, num_classes: int = 10,
                 auxiliary: bool = True, in_channels: int = 3, stem_multiplier: int = 3):
        super().__init__()
        genotype = validate_genotype(genotype)
        self.genotype = genotype
        c_stem = stem_multiplier * channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem))
        self._build_cells(genotype, c_stem, channels, layers, False, num_classes, auxiliary, aux_pool_stride=3)

    def stem_forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.stem(x)
        return s, s


class DartsNetworkImageNet(_DartsNetwork):
    """The ImageNet mobile-setting network (DARTS: 14 cells, 48 channels, three stride-2 stem convolutions)."""

    stem_stride = 8

    def __init__(self, genotype: Genotype, channels: int = 48, layers: int = 14, num_classes: int = 1000,
                 auxiliary: bool = True, in_channels: int = 3):
        super().__init__()
        genotype = validate_genotype(genotype)
        self.genotype = genotype
        self.stem0 = nn.Sequential(
            nn.Conv2d(in_channels, channels // 2, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(channels // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels // 2, channels, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(channels),
        )
        self.stem1 = nn.Sequential(
            nn.ReLU(inplace=True), nn.Conv2d(channels, channels, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )
        self._build_cells(genotype, channels, channels, layers, True, num_classes, auxiliary, aux_pool_stride=2)

    def stem_forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s0 = self.stem0(x)
        return s0, self.stem1(s0)


def _genotype(genotype: Genotype | str) -> Genotype:
    return parse_genotype(genotype) if isinstance(genotype, str) else genotype


@register_model
def ddpnas_darts_cifar(genotype: Genotype | str = "DARTS_V2", **kwargs) -> DartsNetworkCIFAR:
    """CIFAR evaluation network; ``genotype`` is a Genotype, its text/JSON, or a published name."""
    return DartsNetworkCIFAR(_genotype(genotype), **kwargs)


@register_model
def ddpnas_darts_imagenet(genotype: Genotype | str = "DARTS_V2", **kwargs) -> DartsNetworkImageNet:
    """ImageNet mobile-setting network (14 cells, 48 channels by default)."""
    return DartsNetworkImageNet(_genotype(genotype), **kwargs)
