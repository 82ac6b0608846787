"""Standalone layer-wise networks, configs and the single-path supernet."""

from __future__ import annotations

import pytest
import torch

from ddp_vision.macro.space import macro_space
from ddp_vision.mobilenet.config import BlockConfig, NetworkConfig, mobilenetv2_config
from ddp_vision.mobilenet.network import LayerwiseMobileNet, ddpnas_mobilenet
from ddp_vision.mobilenet.space import MobileNetSpaceConfig, mobilenet_space
from ddp_vision.mobilenet.supernet import LayerwiseSupernet

torch.set_num_threads(1)
TINY = MobileNetSpaceConfig(num_classes=5, resolution=32, width_multiplier=0.25, stage_depths=(2, 2, 2, 2, 2, 1))


def test_config_json_round_trip(tmp_path):
    space = mobilenet_space(TINY)
    config = space.network_config([0] * space.num_decisions)
    path = tmp_path / "net.json"
    config.save(path)
    assert NetworkConfig.load(path) == config
    assert NetworkConfig.from_dict({"network": config.to_dict()}) == config


def test_bad_configs_name_the_problem():
    with pytest.raises(ValueError, match="stride"):
        BlockConfig(16, stride=3)
    with pytest.raises(ValueError, match="kernel"):
        BlockConfig(16, kernel=4)
    with pytest.raises(ValueError, match="unknown network config keys"):
        NetworkConfig.from_dict({"blocks": [], "widht": 3})
    with pytest.raises(ValueError, match="blocks"):
        NetworkConfig.from_dict({"num_classes": 3})
    with pytest.raises(ValueError, match="indices"):
        mobilenet_space(TINY).network_config([0, 1])


def test_features_have_increasing_strides_and_declared_channels():
    model = LayerwiseMobileNet(mobilenetv2_config(0.5, num_classes=7, resolution=64))
    features = model.forward_features(torch.randn(2, 3, 64, 64))
    assert [f.shape[1] for f in features] == model.feature_channels
    assert [64 // f.shape[-1] for f in features] == model.feature_strides == [2, 4, 8, 16, 32]
    assert model.forward_head(features).shape == (2, 7)


@pytest.mark.parametrize("space", [mobilenet_space(TINY), macro_space()], ids=["mobilenet", "macro"])
def test_supernet_path_equals_extracted_network(space):
    supernet = LayerwiseSupernet(space).eval()
    torch.manual_seed(0)
    arch = tuple(int(torch.randint(len(row), ())) for row in space.choices)
    network = supernet.extract_network(arch).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(supernet(x, arch), network(x), atol=1e-5)
    with pytest.raises(ValueError, match="decisions"):
        supernet(x, arch[:-1])


def test_named_factory_accepts_a_config_path(tmp_path):
    config = mobilenet_space(TINY).network_config([1] * 11)
    config.save(tmp_path / "net.json")
    model = ddpnas_mobilenet(tmp_path / "net.json", num_classes=3).eval()
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 3)
