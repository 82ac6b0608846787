"""What a user takes home records exactly the transform the network was trained and evaluated with (issue 16,
item 1): for every dataset kind (digits, CIFAR-10 batches, an image folder), a network trained with
tools/train_mobilenet.py and exported with tools/export_network.py is run on raw image files preprocessed ONLY
from what the artefact says (config.json, the ONNX metadata, the TorchScript extra file), by the small PIL +
numpy function in image_data.py, and must give the project's own logits on the same images (its data pipeline, its
network). The function is written from the fields' documentation, not from the project's code."""

from __future__ import annotations

import json
import os
import pathlib
import pickle
import runpy

import numpy as np
import pytest
import torch
from image_data import preprocess, write_cifar_batches, write_image_folder
from PIL import Image

from ddp_vision.artifacts import load_network, read_artifact
from ddp_vision.data import BatchStream, digits_images, load_splits, split_indices
from ddp_vision.mobilenet.space import MobileNetSpaceConfig, mobilenet_space

REPO = pathlib.Path(__file__).resolve().parents[2]


def _tool(name: str):
    return runpy.run_path(str(REPO / "tools" / name))["main"]


def _train(tmp_path: pathlib.Path, dataset: str, data_dir: pathlib.Path | None, image_size: int | None,
           num_classes: int) -> pathlib.Path:
    space = mobilenet_space(MobileNetSpaceConfig(num_classes=num_classes, resolution=16, width_multiplier=0.25,
                                                 stage_depths=(1, 1, 1, 1, 1, 1)))
    config = tmp_path / "net.json"
    space.network_config([0, 1, 2, 3, 4, 5]).save(config)
    out = tmp_path / "train"
    argv = ["--config", str(config), "--dataset", dataset, "--epochs", "1", "--steps-per-epoch", "2",
            "--batch-size", "16", "--lr", "0.05", "--cpu", "--quiet", "--report-to", "none", "--workers", "1",
            "--output-dir", str(out)]
    argv += ["--data-dir", str(data_dir)] if data_dir is not None else []
    argv += ["--image-size", str(image_size)] if image_size is not None else []
    assert _tool("train_mobilenet.py")(argv) == 0
    return out


def _project_logits(out: pathlib.Path, dataset: str, data_dir, image_size) -> torch.Tensor:
    """The project's own predictions: its data pipeline (test split, evaluation transform) and its network."""
    model, _ = load_network(out)
    splits = load_splits(dataset, data_dir, image_size=image_size, val_fraction=0.0, seed=0)
    stream = BatchStream(splits.test, 256, shuffle=False, mean=splits.mean, std=splits.std)
    with torch.no_grad():
        return torch.cat([model(images) for images, _ in stream.take()])


def _check_exports(out: pathlib.Path, images: list[pathlib.Path], expected: torch.Tensor, label_names) -> None:
    import onnx
    from onnx.reference import ReferenceEvaluator

    artifact = read_artifact(out)
    assert artifact.preprocessing["label_names"] == list(label_names)
    assert len(images) == expected.shape[0] > 0
    export = _tool("export_network.py")
    assert export(["--train-dir", str(out), "--format", "onnx"]) == 0  # default output: in the train directory
    assert export(["--train-dir", str(out), "--format", "torchscript"]) == 0
    graph = onnx.load(str(out / "model.onnx"))
    fields = json.loads({p.key: p.value for p in graph.metadata_props}["preprocessing"])
    extra = {"config.json": ""}
    scripted = torch.jit.load(str(out / "model.pt"), _extra_files=extra)
    assert json.loads(json.loads(extra["config.json"])["preprocessing"]) == fields
    assert fields == json.loads((out / "config.json").read_text())["preprocessing"]
    batch = np.stack([preprocess(path, fields) for path in images])
    (onnx_logits,) = ReferenceEvaluator(graph).run(None, {"images": batch})
    with torch.no_grad():
        script_logits = scripted(torch.from_numpy(batch)).numpy()
    for logits in (onnx_logits, script_logits):
        np.testing.assert_allclose(logits, expected.numpy(), atol=1e-4, rtol=1e-4)
        assert (logits.argmax(1) == expected.argmax(1).numpy()).all()


def test_digits_network_preprocessed_from_its_artefact(tmp_path):
    out = _train(tmp_path, "digits", None, 16, 10)
    raw, _ = digits_images()
    _, test_idx = split_indices(len(raw), 0.2, 0 + 7919)  # load_digits_splits' test split at seed 0
    images = []
    for n, i in enumerate(test_idx[:40]):
        images.append(tmp_path / f"digit-{n}.png")
        Image.fromarray(raw[i], mode="L").save(images[-1])
    fields = read_artifact(out).preprocessing
    assert fields["channel_order"] == "L" and fields["input_size"] == [1, 16, 16] and fields["resize_size"] is None
    expected = _project_logits(out, "digits", None, 16)[:40]
    _check_exports(out, images, expected, [str(i) for i in range(10)])


def test_cifar10_network_preprocessed_from_its_artefact(tmp_path, monkeypatch):
    import torchvision

    names = write_cifar_batches(tmp_path / "cifar")
    # generated batches cannot match the real files' checksums (the check stays on for users' data)
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda path, md5=None: os.path.exists(path))
    out = _train(tmp_path, "cifar10", tmp_path / "cifar", None, 10)
    test = pickle.loads((tmp_path / "cifar" / "cifar-10-batches-py" / "test_batch").read_bytes())
    images = []
    for n, row in enumerate(test["data"]):
        images.append(tmp_path / f"cifar-{n}.png")
        Image.fromarray(row.reshape(3, 32, 32).transpose(1, 2, 0), mode="RGB").save(images[-1])
    fields = read_artifact(out).preprocessing
    assert fields["mean"] == pytest.approx([0.4914, 0.4822, 0.4465]) and fields["input_size"] == [3, 32, 32]
    _check_exports(out, images, _project_logits(out, "cifar10", tmp_path / "cifar", None), names)


def test_image_folder_network_preprocessed_from_its_artefact(tmp_path):
    write_image_folder(tmp_path / "folder")
    out = _train(tmp_path, "image_folder", tmp_path / "folder", 16, 3)
    fields = read_artifact(out).preprocessing
    # the issue: ImageNet statistics normalised the data while the artefact said mean 0, std 1
    assert fields["mean"] == pytest.approx([0.485, 0.456, 0.406]) and fields["std"] == pytest.approx([0.229, 0.224, 0.225])
    assert (fields["resize_size"], fields["crop_pct"], fields["interpolation"]) == (18, 0.875, "bilinear")
    splits = load_splits("image_folder", tmp_path / "folder", image_size=16, val_fraction=0.0)
    images = [pathlib.Path(path) for path, _ in splits.test.samples]
    expected = _project_logits(out, "image_folder", tmp_path / "folder", 16)
    _check_exports(out, images, expected, ["ant", "bee", "cat"])
