"""Training a generated network from its JSON (resumable) and exporting it to TorchScript / ONNX."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time

import pytest
import torch

from ddp_core import RunDirectoryError
from ddp_vision.artifacts import read_artifact
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
    assert not (tmp_path / "resumed" / "model.safetensors").exists()
    assert len(read_metrics(tmp_path / "resumed")["history"]) == 1
    train_network(tiny_config(), splits, recipe, tmp_path / "resumed", progress=False)
    a, b = load_trained(tmp_path / "full"), load_trained(tmp_path / "resumed")
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name
    assert read_metrics(tmp_path / "resumed")["history"] == read_metrics(tmp_path / "full")["history"]
    artifact = read_artifact(tmp_path / "full")
    assert artifact.model == "ddpnas_mobilenet" and artifact.input_size == (3, 16, 16) and artifact.num_classes == 4
    assert artifact.architecture["candidates"] == tiny_config().extra["candidates"]
    assert artifact.mean == splits.mean and artifact.std == splits.std
    # another recipe on the same directory is one error naming the flag
    with pytest.raises(RunDirectoryError, match="--learning-rate: saved 0.05, now 0.1"):
        train_network(tiny_config(), splits, dataclasses.replace(recipe, learning_rate=0.1), tmp_path / "resumed",
                      progress=False)


def test_exports_match_pytorch_and_carry_the_config(tmp_path):
    model = create_model("ddpnas_mobilenet", config=tiny_config()).eval()
    example = torch.randn(2, 3, 16, 16)
    metadata = {"input_size": "[3, 16, 16]", "mean": "[0.5, 0.5, 0.5]", "model": "ddpnas_mobilenet"}
    assert export_network(model, tmp_path / "m.pt", example, "torchscript", metadata=metadata) < 1e-5
    assert export_network(model, tmp_path / "m.onnx", example, "onnx", metadata=metadata) < 1e-4
    extra = {"config.json": ""}
    loaded = torch.jit.load(str(tmp_path / "m.pt"), _extra_files=extra)
    assert loaded(torch.randn(5, 3, 16, 16)).shape == (5, 4)  # the traced batch size is not baked in
    assert json.loads(extra["config.json"]) == metadata
    import onnx

    assert {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props} == metadata
    assert {"ddpnas_mobilenet", "mobilenetv2_100_layerwise"} <= set(list_models("*mobilenet*"))


@pytest.mark.slow
def test_train_and_export_command_lines(tmp_path):
    config_path = tmp_path / "net.json"
    tiny_config().save(config_path)
    command = [sys.executable, str(REPO / "tools/train_mobilenet.py"), "--config", str(config_path), "--dataset",
               "digits", "--resolution", "16", "--epochs", "2", "--batch-size", "64", "--lr", "0.05",
               "--steps-per-epoch", "3", "--cpu", "--quiet", "--report-to", "tensorboard"]
    started = time.monotonic()
    first = subprocess.run([*command, "--output-dir", str(tmp_path / "train"), "--stop-after-epoch", "1"],
                           capture_output=True, text=True, timeout=900)
    seconds = time.monotonic() - started  # one epoch's run sizes the later timeouts
    assert first.returncode == 0, first.stderr
    assert f"continue with --resume {tmp_path / 'train'}" in first.stdout
    train = subprocess.run([*command, "--resume", str(tmp_path / "train")], capture_output=True, text=True,
                           timeout=6 * seconds)
    assert train.returncode == 0, train.stderr
    assert read_artifact(tmp_path / "train").num_classes == 10  # digits
    assert list((tmp_path / "train" / "logs" / "train").rglob("events.out.tfevents.*"))
    export = subprocess.run(
        [sys.executable, str(REPO / "tools/export_mobilenet.py"), "--train-dir", str(tmp_path / "train"),
         "--format", "onnx", "--output", str(tmp_path / "net.onnx")],
        capture_output=True, text=True, timeout=6 * seconds,
    )
    assert export.returncode == 0, export.stderr
    assert "max |output difference|" in export.stdout and (tmp_path / "net.onnx").stat().st_size > 1000
    import onnx

    props = {p.key: p.value for p in onnx.load(str(tmp_path / "net.onnx")).metadata_props}
    assert json.loads(props["input_size"]) == [1, 16, 16] and props["model"] == "ddpnas_mobilenet"
    assert len(json.loads(props["mean"])) == 1 and json.loads(props["architecture"])["candidates"]
