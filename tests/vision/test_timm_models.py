"""The ddpnas networks in real timm's registry (timm 1.0.x, a dev dependency): create_model with timm's own calling
convention (pretrained, pretrained_cfg*, cache_dir), list_models, pretrained_cfg carrying the evaluation
transform the artefact records, and a trained network's safetensors weights loaded through timm."""

import pathlib

import pytest
import timm
import timm.data
import torch
from image_data import write_image_folder

import ddp_vision  # noqa: F401  (registers with timm on import)
from ddp_vision import timm_models
from ddp_vision.artifacts import NetworkArtifact, load_network, save_network
from ddp_vision.data import BatchStream, load_splits
from ddp_vision.mobilenet.space import MobileNetSpaceConfig, mobilenet_space
from ddp_vision.timm_models import ENTRYPOINTS, register_if_timm_installed


def tiny_mobilenet_config(num_classes: int = 3, resolution: int = 16):
    space = mobilenet_space(MobileNetSpaceConfig(num_classes=num_classes, resolution=resolution,
                                                 width_multiplier=0.25, stage_depths=(1, 1, 1, 1, 1, 1)))
    return space.network_config([0, 1, 2, 3, 4, 5])


def test_create_model_and_list_models_in_real_timm():
    assert timm.__version__.startswith("1.")
    assert set(timm.list_models("ddpnas*")) == {fn.__name__ for fn in ENTRYPOINTS}
    # timm 1.0.x passes cache_dir (and pretrained_cfg*) to every entry point
    darts = timm.create_model("ddpnas_darts_cifar", genotype="DARTS_V2", channels=4, layers=3, num_classes=5,
                              auxiliary=False, in_chans=1).eval()
    assert darts(torch.randn(2, 1, 8, 8)).shape == (2, 5)
    full = timm.create_model("ddpnas_darts_cifar", genotype="DARTS_V2", auxiliary=False)
    assert sum(p.numel() for p in full.parameters()) / 1e6 == pytest.approx(3.3, abs=0.1)  # DARTS' 3.3M
    cfg = timm.data.resolve_data_config({}, model=full)
    assert cfg["input_size"] == (3, 32, 32) and cfg["mean"] == pytest.approx((0.4914, 0.4822, 0.4465))
    mobile = timm.create_model("ddpnas_mobilenet", config=tiny_mobilenet_config().to_dict()).eval()
    assert mobile(torch.randn(1, 3, 16, 16)).shape == (1, 3)
    assert mobile.pretrained_cfg["input_size"] == (3, 16, 16) and mobile.pretrained_cfg["num_classes"] == 3
    with pytest.raises(ValueError, match="no published weights"):
        timm.create_model("ddpnas_mobilenet", pretrained=True, config=tiny_mobilenet_config().to_dict())


def test_without_timm_nothing_is_registered(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "timm" else real(name, *a))
    assert register_if_timm_installed() == []


def test_trained_weights_and_transform_load_through_timm(tmp_path):
    """A network saved in the project's format (safetensors + config.json recording an image-folder transform)
    comes back through timm.create_model(pretrained=True, file=...), and timm's own eval transform built from its
    pretrained_cfg gives the project's logits on raw image files."""
    write_image_folder(tmp_path / "folder")
    splits = load_splits("image_folder", tmp_path / "folder", image_size=16, val_fraction=0.0)
    config = tiny_mobilenet_config()
    torch.manual_seed(0)
    network = ddp_vision.create_model("ddpnas_mobilenet", config=config).eval()
    for module in network.modules():  # non-trivial BatchNorm statistics, as after training
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    artifact = NetworkArtifact(model="ddpnas_mobilenet", arguments={"config": config.to_dict()}, architecture=None,
                               input_size=(3, 16, 16), mean=splits.mean, std=splits.std, num_classes=3,
                               preprocessing=splits.preprocessing.to_dict())
    out = save_network(tmp_path / "train", network, artifact)
    model = timm.create_model("ddpnas_mobilenet", pretrained=True,
                              pretrained_cfg_overlay={"file": str(out / "model.safetensors")}).eval()
    reference, _ = load_network(out)
    for (name, a), (_, b) in zip(model.state_dict().items(), reference.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    data_config = timm.data.resolve_data_config({}, model=model)
    assert data_config["input_size"] == (3, 16, 16) and data_config["crop_pct"] == 0.875
    assert data_config["mean"] == pytest.approx((0.485, 0.456, 0.406))
    assert data_config["std"] == pytest.approx((0.229, 0.224, 0.225))
    assert data_config["interpolation"] == "bilinear"
    assert model.pretrained_cfg["label_names"] == ("ant", "bee", "cat")
    transform = timm.data.create_transform(**data_config)
    from PIL import Image

    paths = [pathlib.Path(path) for path, _ in splits.test.samples]
    batch = torch.stack([transform(Image.open(path).convert("RGB")) for path in paths])
    stream = BatchStream(splits.test, 64, shuffle=False, mean=splits.mean, std=splits.std)
    with torch.no_grad():
        expected = torch.cat([reference(images) for images, _ in stream.take()])
        got = model(batch)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    # timm's own checkpoint loader reads the safetensors file too
    again = timm.create_model("ddpnas_mobilenet", config=config.to_dict(), checkpoint_path=str(out / "model.safetensors"))
    with torch.no_grad():
        torch.testing.assert_close(again.eval()(batch), expected, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="holds a ddpnas_mobilenet network, not ddpnas_darts_cifar"):
        timm.create_model("ddpnas_darts_cifar", pretrained=True, pretrained_cfg_overlay={"file": str(out)})


def test_registration_is_idempotent():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second registration must not warn about overwriting
        assert timm_models.register_with_timm() == [fn.__name__ for fn in ENTRYPOINTS]
