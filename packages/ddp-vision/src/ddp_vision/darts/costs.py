"""Parameters and FLOPs (multiply-accumulates) of DARTS evaluation networks, additive per op.

A network's cost is a fixed part (stem, cell preprocessing, classifier) plus one term per edge op, each
counted at its position (channels, stride, input resolution) in the evaluation network. Summed over the
cells of one type, these give a ddp-core ``CostTable`` per decision, so ENG adds numbers instead of
building networks. Conventions (DARTS): parameters exclude the auxiliary head; FLOPs are the MACs of
convolutions and linear layers for one image (pooling, BatchNorm, ReLU and additions are not counted).
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from ddp_core import CostTable, SearchSpace
from ddp_vision.darts.genotypes import Genotype, cell_edges
from ddp_vision.darts.operations import PRIMITIVES, build_op

__all__ = ["EvalNetworkSpec", "count_macs", "count_parameters", "network_costs", "op_costs", "eval_cost_tables"]


def count_parameters(module: nn.Module, exclude: str = "auxiliary") -> int:
    """Number of parameters whose name does not contain ``exclude`` (DARTS drops the auxiliary head)."""
    return sum(p.numel() for name, p in module.named_parameters() if exclude not in name)


@torch.no_grad()
def count_macs(module: nn.Module, input_shape: tuple[int, ...], forward=None) -> int:
    """Multiply-accumulates of convolutions and linear layers in one forward pass of ``input_shape`` (batch 1)."""
    total = 0

    def conv_hook(layer: nn.Conv2d, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        kernel = layer.kernel_size[0] * layer.kernel_size[1] * layer.in_channels // layer.groups
        total += output.numel() // output.shape[0] * kernel

    def linear_hook(layer: nn.Linear, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        total += output.numel() // output.shape[0] * layer.in_features

    handles = []
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            handles.append(layer.register_forward_hook(conv_hook))
        elif isinstance(layer, nn.Linear):
            handles.append(layer.register_forward_hook(linear_hook))
    was_training, threads = module.training, torch.get_num_threads()
    module.eval()
    # batch-1 passes of tiny layers: threading only adds overhead (and stalls badly on busy machines)
    torch.set_num_threads(1)
    try:
        x = torch.zeros(1, *input_shape[1:]) if len(input_shape) == 4 else torch.zeros(1, *input_shape)
        (forward or module)(x)
    finally:
        for handle in handles:
            handle.remove()
        module.train(was_training)
        torch.set_num_threads(threads)
    return total


@functools.lru_cache(maxsize=4096)
def op_costs(name: str, channels: int, stride: int, resolution: int) -> tuple[int, int]:
    """``(parameters, MACs)`` of one evaluation-network op on a ``channels`` x ``resolution``^2 input."""
    if name == "none":
        return 0, 0
    op = build_op(name, channels, stride, affine=True)
    return count_parameters(op, exclude="\0"), count_macs(op, (1, channels, resolution, resolution))


@dataclass(frozen=True)
class EvalNetworkSpec:
    """Which evaluation network costs refer to (defaults: DARTS' CIFAR network).

    Parameters
    ----------
    kind : {"cifar", "imagenet"}
    channels, layers : int
        CIFAR: 36 and 20; ImageNet mobile setting: 48 and 14.
    num_classes, in_channels, image_size : int
        Classifier size and input images (FLOPs scale with the image area).
    """

    kind: str = "cifar"
    channels: int = 36
    layers: int = 20
    num_classes: int = 10
    in_channels: int = 3
    image_size: int = 32

    def __post_init__(self) -> None:
        if self.kind not in ("cifar", "imagenet"):
            raise ValueError(f"evaluation network kind must be 'cifar' or 'imagenet', got {self.kind!r}")

    @classmethod
    def imagenet(cls, **overrides) -> EvalNetworkSpec:
        """The mobile setting: 14 cells, 48 channels, 224x224 images, 1000 classes."""
        return cls(**{"kind": "imagenet", "channels": 48, "layers": 14, "num_classes": 1000, "image_size": 224,
                      **overrides})

    def to_dict(self) -> dict:
        return asdict(self)

    def build(self, genotype: Genotype, auxiliary: bool = False) -> nn.Module:
        """The network of ``genotype`` under this spec."""
        from ddp_vision.darts.network import DartsNetworkCIFAR, DartsNetworkImageNet

        network = DartsNetworkCIFAR if self.kind == "cifar" else DartsNetworkImageNet
        return network(genotype, channels=self.channels, layers=self.layers, num_classes=self.num_classes,
                       auxiliary=auxiliary, in_channels=self.in_channels)

    def cell_positions(self) -> list[tuple[bool, int, int]]:
        """``(reduction, channels, input resolution)`` of every cell."""
        resolution = self.image_size
        if self.kind == "imagenet":
            for _ in range(3):  # three stride-2, padding-1 convolutions in the stem
                resolution = -(-resolution // 2)
        channels, positions = self.channels, []
        for i in range(self.layers):
            reduction = i in (self.layers // 3, 2 * self.layers // 3)
            if reduction:
                channels *= 2
            positions.append((reduction, channels, resolution))
            if reduction:
                resolution = -(-resolution // 2)
        return positions


def network_costs(network: nn.Module, image_size: int, in_channels: int = 3) -> dict[str, float]:
    """``{"params_m", "flops_m"}`` of a built evaluation network (auxiliary head excluded)."""
    macs = count_macs(network, (1, in_channels, image_size, image_size),
                      forward=getattr(network, "forward", None))
    return {"params_m": count_parameters(network) / 1e6, "flops_m": macs / 1e6}


def _per_decision_costs(spec: EvalNetworkSpec, steps: int) -> dict[str, list[list[tuple[int, int]]]]:
    """Per cell type, per edge, per op: (params, MACs) summed over the cells of that type."""
    edges = cell_edges(steps)
    out = {cell: [[(0, 0) for _ in PRIMITIVES] for _ in edges] for cell in ("normal", "reduce")}
    for reduction, channels, resolution in spec.cell_positions():
        cell = "reduce" if reduction else "normal"
        for e, (_, j) in enumerate(edges):
            stride = 2 if reduction and j < 2 else 1
            in_resolution = resolution if j < 2 or not reduction else -(-resolution // 2)
            for k, name in enumerate(PRIMITIVES):
                params, macs = op_costs(name, channels, stride, in_resolution)
                old = out[cell][e][k]
                out[cell][e][k] = (old[0] + params, old[1] + macs)
    return out


def _reference_genotype(steps: int) -> Genotype:
    pairs = [("sep_conv_3x3", 0), ("sep_conv_3x3", 1)] * steps
    concat = list(range(2, steps + 2))
    return Genotype(normal=pairs, normal_concat=concat, reduce=pairs, reduce_concat=concat)


@functools.lru_cache(maxsize=64)
def _tables(spec: EvalNetworkSpec, steps: int) -> tuple[tuple, float, float]:
    per_decision = _per_decision_costs(spec, steps)
    reference = _reference_genotype(steps)
    network = spec.build(reference)
    totals = network_costs(network, spec.image_size, spec.in_channels)
    # the fixed part is what the network costs beyond its edge ops (independent of the genotype)
    edge_params = edge_macs = 0
    for cell_type in ("normal", "reduce"):
        pairs = reference.reduce if cell_type == "reduce" else reference.normal
        for position, (op, j) in enumerate(pairs):
            e = cell_edges(steps).index((position // 2, j))
            params, macs = per_decision[cell_type][e][PRIMITIVES.index(op)]
            edge_params += params
            edge_macs += macs
    fixed_params = totals["params_m"] - edge_params / 1e6
    fixed_flops = totals["flops_m"] - edge_macs / 1e6
    frozen = tuple(
        tuple(tuple(tuple(costs) for costs in edge) for edge in per_decision[cell]) for cell in ("normal", "reduce")
    )
    return frozen, fixed_params, fixed_flops


def eval_cost_tables(space: SearchSpace, spec: EvalNetworkSpec, steps: int) -> dict[str, CostTable]:
    """``params_m`` and ``flops_m`` cost tables of ``space``'s decisions for the evaluation network ``spec``.

    A decision's cost for op ``k`` is that op's cost summed over every cell of the decision's type; an
    architecture's cost (over the 8 kept edges per cell) is the table's fixed part plus those entries.
    """
    per_decision, fixed_params, fixed_flops = _tables(spec, steps)
    params_rows, flops_rows = [], []
    for decision in space.decisions:
        cell, edge = decision.name.split(".edge")
        row = per_decision[("normal", "reduce").index(cell)][int(edge)]
        by_name = dict(zip(PRIMITIVES, row, strict=True))
        params_rows.append([by_name[c.name][0] / 1e6 for c in decision.candidates])
        flops_rows.append([by_name[c.name][1] / 1e6 for c in decision.candidates])
    return {"params_m": CostTable("params_m", fixed_params, params_rows),
            "flops_m": CostTable("flops_m", fixed_flops, flops_rows)}
