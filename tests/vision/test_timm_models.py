"""The ddpnas networks in timm's registry: real timm when installed, otherwise the same entry points through a
stand-in ``register_model`` (timm is not a dependency)."""

import importlib.util

import pytest
import torch

from ddp_vision.timm_models import ENTRYPOINTS, register_if_timm_installed, register_with_timm

TIMM = importlib.util.find_spec("timm") is not None


def test_entry_points_take_timm_calling_conventions():
    registered = {}
    names = register_with_timm(lambda fn: registered.setdefault(fn.__name__, fn))
    assert names == ["ddpnas_darts_cifar", "ddpnas_darts_imagenet", "ddpnas_mobilenet"] == sorted(registered)
    # timm's create_model passes pretrained and pretrained_cfg*; in_chans is timm's name for input channels
    network = registered["ddpnas_darts_cifar"](pretrained=False, pretrained_cfg=None, pretrained_cfg_overlay=None,
                                               genotype="DARTS_V2", channels=4, layers=3, num_classes=5, in_chans=1,
                                               auxiliary=False)
    assert network.eval()(torch.randn(2, 1, 8, 8)).shape == (2, 5)
    from ddp_vision.mobilenet.space import MobileNetSpaceConfig, mobilenet_space

    config = mobilenet_space(MobileNetSpaceConfig(num_classes=3, resolution=16, width_multiplier=0.25,
                                                  stage_depths=(1, 1, 1, 1, 1, 1))).network_config([0] * 6)
    mobile = registered["ddpnas_mobilenet"](config=config.to_dict(), pretrained_cfg=None)
    assert mobile.eval()(torch.randn(1, 3, 16, 16)).shape == (1, 3)
    with pytest.raises(ValueError, match="no pretrained weights"):
        registered["ddpnas_mobilenet"](pretrained=True, config=config)


@pytest.mark.skipif(TIMM, reason="timm is installed: test_timm_create_model checks the real registry")
def test_without_timm_nothing_is_registered_or_imported():
    import sys

    assert register_if_timm_installed() == [] and "timm" not in sys.modules


@pytest.mark.skipif(not TIMM, reason="timm is not installed here (not a dependency); the stand-in test covers us")
def test_timm_create_model():
    import timm

    import ddp_vision  # noqa: F401  registers on import

    assert {fn.__name__ for fn in ENTRYPOINTS} <= set(timm.list_models("ddpnas_*"))
    network = timm.create_model("ddpnas_darts_cifar", genotype="DARTS_V2", channels=4, layers=3, num_classes=5,
                                auxiliary=False)
    assert network.eval()(torch.randn(2, 3, 8, 8)).shape == (2, 5)
