"""Exact MACs/params of layer-wise networks: analytic costs equal networks counted layer by layer."""

from __future__ import annotations

import random

import pytest
import torch
import torchvision
from torch import nn

from ddp_vision.macro.space import key_to_architecture, macro_space
from ddp_vision.mobilenet.config import mobilenetv2_config
from ddp_vision.mobilenet.costs import network_cost
from ddp_vision.mobilenet.network import LayerwiseMobileNet
from ddp_vision.mobilenet.space import MobileNetSpaceConfig, mobilenet_space

torch.set_num_threads(1)


def count_by_hooks(model: nn.Module, resolution: int) -> tuple[int, int]:
    """MACs of every Conv2d and Linear actually run on one image, and all trainable parameters."""
    macs = 0

    def conv_hook(module: nn.Conv2d, inputs, output) -> None:
        nonlocal macs
        per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
        macs += output[0].numel() * per_output

    def linear_hook(module: nn.Linear, inputs, output) -> None:
        nonlocal macs
        macs += module.in_features * module.out_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, resolution, resolution))
    for h in handles:
        h.remove()
    return macs, sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_mobilenetv2_counts_300_8m_macs_and_torchvision_params():
    config = mobilenetv2_config(1.0)
    cost = network_cost(config)
    assert round(cost.flops_m, 1) == 300.8
    reference_params = sum(p.numel() for p in torchvision.models.mobilenet_v2().parameters())
    assert cost.params == reference_params
    assert count_by_hooks(LayerwiseMobileNet(config), 224) == (cost.macs, cost.params)


@pytest.mark.parametrize("width,resolution", [(1.0, 64), (0.5, 96), (1.4, 32)])
def test_space_costs_are_additive_and_match_counted_networks(width, resolution):
    space = mobilenet_space(MobileNetSpaceConfig(resolution=resolution, width_multiplier=width, num_classes=10))
    fixed, rows = space.candidate_costs()
    rng = random.Random(7)
    for _ in range(3):
        arch = [rng.randrange(len(row)) for row in space.choices]
        config = space.network_config(arch)
        additive = fixed
        for e, k in enumerate(arch):
            additive = additive + rows[e][k]
        assert network_cost(config) == additive
        assert count_by_hooks(LayerwiseMobileNet(config), resolution) == (additive.macs, additive.params)


def test_zero_candidate_costs_nothing_and_only_where_shapes_match():
    space = mobilenet_space()
    _, rows = space.candidate_costs()
    assert space.num_decisions == 21
    first_blocks = {0, 4, 8, 12, 16, 20}
    for e, row in enumerate(space.choices):
        names = [name for name, _ in row]
        assert ("zero" in names) == (e not in first_blocks)
        if "zero" in names:
            assert rows[e][names.index("zero")].macs == 0
    # a larger kernel or expansion always costs more at the same position
    names = [name for name, _ in space.choices[1]]
    assert rows[1][names.index("mb7_e6")].macs > rows[1][names.index("mb3_e6")].macs > rows[1][names.index("mb3_e3")].macs


@pytest.mark.parametrize("key", ["00000000", "22212220", "10201021", "01110200"])
def test_macro_networks_counted_layer_by_layer(key):
    space = macro_space()
    config = space.network_config(key_to_architecture(key))
    assert count_by_hooks(LayerwiseMobileNet(config), 32) == (network_cost(config).macs, network_cost(config).params)
