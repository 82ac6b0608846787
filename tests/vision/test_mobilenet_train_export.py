"""Training a generated network from its JSON (resumable) and exporting it to TorchScript / ONNX."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from ddp_vision.data import synthetic_splits
from ddp_vision.mobilenet.export import export_network
from ddp_vision.mobilenet.space import MobileNetSpaceConfig, mobilenet_space
from ddp_vision.mobilenet.train import TrainingRecipe, load_trained, read_metrics, train_network
from ddp_vision.registry import create_model, list_models

TINY = MobileNetSpaceConfig(num_classes=4, resolution=16, width_multiplier=0.25, stage_depths=(1, 1, 1, 1, 1, 1))
REPO = __import__("pathlib").Path(__file__).resolve().parents[2]


def tiny_config():
    space = mobilenet_space(TINY)
    return space.network_config([0, 1, 2, 3, 4, 5])


def test_training_resumes_to_the_same_weights(tmp_path):
    splits = synthetic_splits(num_classes=4, image_size=16, train_size=64, test_size=16, val_fraction=0.0)
    recipe = TrainingRecipe(epochs=2, batch_size=16, eval_batch_size=32, learning_rate=0.05, steps_per_epoch=2)
    full = train_network(tiny_config(), splits, recipe, tmp_path / "full", progress=False)
    assert len(full["history"]) == 2 and 0.0 <= full["top1"] <= 1.0
    # stop after one epoch (as a time-limited job would), then run the same call again in the same directory
    train_network(tiny_config(), splits, recipe, tmp_path / "resumed", progress=False, stop_after_epoch=1)
    assert not (tmp_path / "resumed" / "model.pt").exists()
    assert len(read_metrics(tmp_path / "resumed")["history"]) == 1
    train_network(tiny_config(), splits, recipe, tmp_path / "resumed", progress=False)
    a, b = load_trained(tmp_path / "full"), load_trained(tmp_path / "resumed")
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name
    assert read_metrics(tmp_path / "resumed")["history"] == read_metrics(tmp_path / "full")["history"]


def test_exports_match_pytorch(tmp_path):
    model = create_model("ddpnas_mobilenet", config=tiny_config()).eval()
    example = torch.randn(2, 3, 16, 16)
    assert export_network(model, tmp_path / "m.pt", example, "torchscript") < 1e-5
    assert export_network(model, tmp_path / "m.onnx", example, "onnx") < 1e-4
    loaded = torch.jit.load(str(tmp_path / "m.pt"))
    assert loaded(torch.randn(5, 3, 16, 16)).shape == (5, 4)  # the traced batch size is not baked in
    assert {"ddpnas_mobilenet", "mobilenetv2_100_layerwise"} <= set(list_models("*mobilenet*"))


@pytest.mark.slow
def test_train_and_export_command_lines(tmp_path):
    config_path = tmp_path / "net.json"
    tiny_config().save(config_path)
    train = subprocess.run(
        [sys.executable, str(REPO / "tools/train_mobilenet.py"), "--config", str(config_path), "--dataset", "digits",
         "--resolution", "16", "--epochs", "1", "--batch-size", "64", "--lr", "0.05", "--steps-per-epoch", "3",
         "--output-dir", str(tmp_path / "train"), "--cpu"],
        capture_output=True, text=True, timeout=240,
    )
    assert train.returncode == 0, train.stderr
    assert json.loads((tmp_path / "train" / "network.json").read_text())["num_classes"] == 10  # digits
    export = subprocess.run(
        [sys.executable, str(REPO / "tools/export_mobilenet.py"), "--train-dir", str(tmp_path / "train"),
         "--format", "onnx", "--output", str(tmp_path / "net.onnx")],
        capture_output=True, text=True, timeout=240,
    )
    assert export.returncode == 0, export.stderr
    assert "max |output difference|" in export.stdout and (tmp_path / "net.onnx").stat().st_size > 1000
