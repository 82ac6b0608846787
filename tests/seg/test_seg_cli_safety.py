"""Issue 18 (items 4, 8): ddp-seg loads checkpoints weights-only whatever TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD says,
and its tools turn pickles, unreadable --cfg-options, broken configs and bad flags into one error line (exit 2)."""

import os

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint
from seg_test_configs import DARTS_NAME, SMALL_DARTS, overrides_as_cli, tiny_overrides

import ddp_seg  # noqa: F401  (registers the weights-only loaders)
from ddp_seg import apis, complexity, mmseg_tools, training
from ddp_seg.checkpoint_loading import CheckpointLoadError, force_weights_only_loading


class System:
    """Unpickles as os.system(command)."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@pytest.fixture
def payload(tmp_path):
    """A checkpoint whose unpickling would create ``marker``: (path, marker)."""
    marker = tmp_path / "payload-ran"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "meta": System(f"touch {marker}")}, path)
    return path, marker


@pytest.fixture
def unsafe_environment(monkeypatch):
    """torch's own default turned off, as TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 does for every bare torch.load."""
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    monkeypatch.delenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", raising=False)


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err[-2000:]
    return lines[0]


def test_mmengine_local_loader_refuses_a_pickle_under_the_unsafe_environment(payload, unsafe_environment):
    path, marker = payload
    with pytest.raises(CheckpointLoadError, match=r"evil\.pth was not loaded: .*posix\.system"):
        _load_checkpoint(str(path), map_location="cpu")
    assert not marker.exists()
    # an mmengine checkpoint (weights, message-hub buffers, numpy values) still loads
    buffer = HistoryBuffer()
    buffer.update(0.25)
    good = path.with_name("good.pth")
    torch.save({"state_dict": {"w": torch.ones(2)}, "message_hub": {"loss": buffer, "seed": np.int64(3)}}, good)
    loaded = _load_checkpoint(str(good), map_location="cpu")
    assert torch.equal(loaded["state_dict"]["w"], torch.ones(2)) and loaded["message_hub"]["loss"].mean() == 0.25
    with pytest.raises(FileNotFoundError, match="does not exist"):
        _load_checkpoint(str(path.with_name("missing.pth")))


def test_every_other_scheme_loads_weights_only_and_restores_the_environment(payload, unsafe_environment):
    path, marker = payload

    def load_from_ddptest(filename, map_location=None):  # a scheme that calls torch.load like mmengine's do
        return torch.load(filename.removeprefix("ddptest://"), map_location=map_location)

    CheckpointLoader.register_scheme("ddptest://", load_from_ddptest)
    try:
        force_weights_only_loading()
        with pytest.raises(CheckpointLoadError, match="weights_only=True"):
            _load_checkpoint(f"ddptest://{path}")
    finally:
        CheckpointLoader._schemes.pop("ddptest://")
    assert not marker.exists()
    assert os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] == "1" and "TORCH_FORCE_WEIGHTS_ONLY_LOAD" not in os.environ


def test_train_seg_load_from_pickle_is_one_line(payload, unsafe_environment, tiny_cityscapes, tmp_path, capsys):
    path, marker = payload
    options = overrides_as_cli({**tiny_overrides(tiny_cityscapes, iterations=1), **SMALL_DARTS,
                                "load_from": str(path)})
    assert training.main([DARTS_NAME, "--work-dir", str(tmp_path / "work"), "--cfg-options", *options]) == 2
    line = one_error_line(capsys)
    assert "evil.pth was not loaded" in line and "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" in line
    assert not marker.exists()


def test_pickle_checkpoints_of_apis_and_mmseg_test_are_one_line(payload, unsafe_environment, tiny_cityscapes,
                                                                 capsys):
    path, marker = payload
    image = next((tiny_cityscapes / "leftImg8bit" / "val").rglob("*.png"))
    small = overrides_as_cli(SMALL_DARTS)
    assert apis.main([DARTS_NAME, str(image), "--checkpoint", str(path), "--cfg-options", *small]) == 2
    assert "evil.pth was not loaded" in one_error_line(capsys)
    options = overrides_as_cli({**tiny_overrides(tiny_cityscapes, iterations=1), **SMALL_DARTS})
    assert mmseg_tools.main(["test", DARTS_NAME, str(path), "--cfg-options", *options]) == 2
    assert "evil.pth was not loaded" in one_error_line(capsys)
    assert not marker.exists()


@pytest.mark.parametrize("entry", ["train", "complexity", "apis", "mmseg_tools"])
def test_unreadable_cfg_options_are_one_line(entry, tmp_path, capsys):
    argv = [DARTS_NAME, "--cfg-options", "a=f(1,2)"]
    calls = {"train": lambda: training.main(argv), "complexity": lambda: complexity.main(argv),
             "apis": lambda: apis.main([DARTS_NAME, "image.png", *argv[1:]]),
             "mmseg_tools": lambda: mmseg_tools.main(["train", *argv])}
    with pytest.raises(SystemExit) as exit_info:
        calls[entry]()
    assert exit_info.value.code == 2
    line = one_error_line(capsys)
    assert "--cfg-options 'a=f(1,2)' cannot be read" in line and "KEY=VALUE" in line


def test_config_syntax_error_and_bad_complexity_flags_are_one_line(tmp_path, capsys):
    config = tmp_path / "broken.py"
    config.write_text("model = dict(\n    type='EncoderDecoder',\n")
    for call in (training.main, complexity.main):
        assert call([str(config)]) == 2
        line = one_error_line(capsys)
        assert f"config {config} line" in line and "not valid Python" in line
    for flags, expected in ((["--json", str(tmp_path)], f"--json {tmp_path} is a directory"),
                            (["--shape", "0"], "--shape sides must be between 1 and 16384"),
                            (["--shape", "1000000000"], "--shape sides must be between 1 and 16384"),
                            (["--shape", "nan"], "--shape takes integers")):
        with pytest.raises(SystemExit) as exit_info:
            complexity.main([DARTS_NAME, *flags])
        assert exit_info.value.code == 2
        assert expected in one_error_line(capsys)
