"""The real stack: configs -> mmengine Runner -> train + IoUMetric validation on a Cityscapes-layout dataset."""

import os
import pathlib
import re
import subprocess
import sys

import mmseg
import numpy as np
import pytest
import torch
from PIL import Image
from seg_test_configs import (
    DARTS_CONFIG,
    DARTS_NAME,
    LAYERWISE_CONFIG,
    REPO_ROOT,
    SMALL_DARTS,
    overrides_as_cli,
    tiny_overrides,
)

from ddp_seg import mmseg_tools, training
from ddp_seg.training import build_runner, load_config


def _runner(config, data_root, work_dir, name, iterations=2, resume=False, extra=None):
    options = {**tiny_overrides(data_root, iterations), "experiment_name": name, **(extra or {})}
    cfg = load_config(config, options)
    return build_runner(cfg, work_dir=work_dir, resume=resume)


def test_darts_config_trains_validates_and_resumes(tiny_cityscapes, tmp_path):
    runner = _runner(DARTS_CONFIG, tiny_cityscapes, tmp_path, "darts_train", extra=SMALL_DARTS)
    model = runner.model
    initial = [p.detach().clone() for p in model.backbone.parameters()]
    runner.train()
    assert runner.iter == 2
    changed = sum(not torch.equal(a, b.detach()) for a, b in zip(initial, model.backbone.parameters(), strict=True))
    assert changed > 0.5 * len(initial), "training must update the backbone"
    metrics = runner.val()
    assert set(metrics) >= {"aAcc", "mIoU", "mAcc"}
    assert 0.0 <= metrics["mIoU"] <= 100.0
    checkpoint = tmp_path / "iter_2.pth"
    assert checkpoint.is_file()
    # every out_index of the trained backbone on a dataset-sized input
    with torch.no_grad():
        features = model.eval().backbone(torch.zeros(1, 3, 64, 128))
    assert [f.shape[1:] for f in features] == [(32, 8, 16), (64, 4, 8), (128, 2, 4)]

    # mmseg's inference API through ddp_seg.apis: the shipped config by name, the trained checkpoint (loaded
    # with torch's weights_only loader), the same weights, and one label per pixel of a dataset image
    from ddp_seg import apis

    loaded = apis.init_model(DARTS_NAME, checkpoint, cfg_options=SMALL_DARTS)
    trained = model.state_dict()
    assert all(torch.equal(value, trained[key]) for key, value in loaded.state_dict().items())
    image = next((tiny_cityscapes / "leftImg8bit" / "val").rglob("*.png"))
    result = apis.inference_model(loaded, image)
    assert tuple(result.pred_sem_seg.data.shape) == (1, 64, 128)
    assert int(result.pred_sem_seg.data.max()) < 19
    out = tmp_path / "labels.png"
    assert apis.main([DARTS_NAME, str(image), "--checkpoint", str(checkpoint), "--out-file", str(out),
                      "--cfg-options", *overrides_as_cli(SMALL_DARTS)]) == 0
    assert np.array_equal(np.asarray(Image.open(out)), result.pred_sem_seg.data[0].numpy())
    assert apis.main([DARTS_NAME, str(image), "--checkpoint", str(tmp_path / "missing.pth")]) == 2

    # resume (torch >= 2.6 loads with weights_only=True: needs ddp_seg's allow-list) and train one more step
    resumed = _runner(DARTS_CONFIG, tiny_cityscapes, tmp_path, "darts_resume", iterations=3, resume=True,
                      extra={**SMALL_DARTS, "param_scheduler.0.end": 3})
    resumed.train()
    assert resumed.iter == 3
    assert (tmp_path / "iter_3.pth").is_file()


def test_layerwise_config_trains_and_validates(tiny_cityscapes, tmp_path):
    extra = {
        "model.backbone.network_config": "mobilenetv2_050_layerwise",
        "model.decode_head.in_channels": [48, 160],
        "model.auxiliary_head.in_channels": 16,
    }
    runner = _runner(LAYERWISE_CONFIG, tiny_cityscapes, tmp_path, "layerwise_train", extra=extra)
    runner.train()
    metrics = runner.val()
    assert 0.0 <= metrics["mIoU"] <= 100.0
    assert runner.model.backbone.out_strides == [8, 16, 32]


@pytest.mark.slow
def test_mmseg_wheel_train_script_runs_the_config(tiny_cityscapes, tmp_path, startup_s):
    """The documented commands: mmseg's own tools/train.py and tools/test.py (from its wheel) with --cfg-options."""
    tools = pathlib.Path(mmseg.__file__).parent / ".mim" / "tools"
    assert (tools / "train.py").is_file(), "mmseg's wheel ships tools/train.py under mmseg/.mim/"
    options = overrides_as_cli({**tiny_overrides(tiny_cityscapes, 2), **SMALL_DARTS})
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}

    def run(*args):
        result = subprocess.run([sys.executable, *map(str, args), "--cfg-options", *options], cwd=REPO_ROOT, env=env,
                                capture_output=True, text=True, timeout=20 * startup_s)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout + result.stderr

    trained = run(tools / "train.py", DARTS_CONFIG, "--work-dir", tmp_path)
    assert (tmp_path / "iter_2.pth").is_file()
    val = re.search(r"Iter\(val\).*mIoU: ([\d.]+)", trained)
    assert val, "validation must report mIoU"
    # test.py loads the checkpoint with torch's weights_only loader (ddp_seg's allow-list) and scores the
    # same images with the same weights: the same mIoU
    tested = run(tools / "test.py", DARTS_CONFIG, tmp_path / "iter_2.pth", "--work-dir", tmp_path / "test")
    test = re.search(r"Iter\(test\).*mIoU: ([\d.]+)", tested)
    assert test and test.group(1) == val.group(1)


@pytest.mark.parametrize("entry", ["train_seg", "mmseg_tools"])
def test_missing_dataset_is_one_line_naming_the_generator(entry, tmp_path, monkeypatch, capsys):
    """The configs' Cityscapes data_root (data/cityscapes/) does not exist here: exit 2 before the Runner starts."""
    monkeypatch.chdir(tmp_path)
    if entry == "train_seg":
        status = training.main([DARTS_NAME, "--work-dir", str(tmp_path / "work")])
    else:
        status = mmseg_tools.main(["train", DARTS_NAME, "--work-dir", str(tmp_path / "work")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1
    assert "data/cityscapes/ (train_dataloader.dataset.data_root) does not exist" in err
    assert "python -m ddp_seg.synthetic_cityscapes DIR" in err and "train_dataloader.dataset.data_root=DIR" in err
    assert not (tmp_path / "work").exists()


def test_check_datasets_follows_wrappers_and_prefixes(tiny_cityscapes):
    cfg = load_config(DARTS_CONFIG, tiny_overrides(tiny_cityscapes))
    training.check_datasets(cfg, ["train_dataloader", "val_dataloader", "test_dataloader"])  # all present
    cfg.train_dataloader.dataset = dict(type="RepeatDataset", times=2, dataset=cfg.train_dataloader.dataset)
    cfg.train_dataloader.dataset.dataset.data_prefix.img_path = "leftImg8bit/nope"
    with pytest.raises(training.MissingDatasetError, match=r"train_dataloader\.dataset\.dataset\.data_prefix\.img_path"):
        training.check_datasets(cfg)
