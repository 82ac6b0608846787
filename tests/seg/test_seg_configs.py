"""Shipped configs as `ddp_seg::` names (mmengine's scope::path), and the mmseg tools launcher's argument handling."""

import pytest
from mmengine.config import Config
from seg_test_configs import DARTS_CONFIG, DARTS_NAME, SMALL_DARTS

from ddp_seg import configs, mmseg_tools
from ddp_seg.training import build_segmentor, load_config


def test_names_resolve_to_the_shipped_files(capsys):
    names = configs.list_configs()
    assert DARTS_NAME in names and "ddp_seg::_base_/models/deeplabv3_ddpnas-darts.py" in names
    assert configs.config_path(DARTS_NAME) == DARTS_CONFIG.resolve()
    assert configs.resolve(DARTS_NAME) == str(DARTS_CONFIG.resolve()) and configs.resolve("my.py") == "my.py"
    with pytest.raises(FileNotFoundError, match="no config 'ddp_seg::ddpnas/nope.py'.*available: ddp_seg::ddpnas/"):
        configs.config_path("ddp_seg::ddpnas/nope.py")
    with pytest.raises(FileNotFoundError):  # no escaping the configs folder
        configs.config_path("ddp_seg::../__init__.py")
    assert configs.main([]) == 0 and capsys.readouterr().out.strip() == str(configs.CONFIG_ROOT)
    assert configs.main(["--list"]) == 0 and DARTS_NAME in capsys.readouterr().out
    assert configs.main(["ddp_seg::nope.py"]) == 2 and capsys.readouterr().err.startswith("error: no config")


def test_user_config_inherits_by_scope(tmp_path):
    user = tmp_path / "mine.py"
    user.write_text(f"_base_ = ['{DARTS_NAME}']\nmodel = dict(backbone=dict(genotype='PC_DARTS'))\n")
    cfg = Config.fromfile(str(user))
    assert cfg.model._scope_ == "ddp_seg"  # mmengine marks what came from the scope; ddp_seg.registry builds it
    assert cfg.model.backbone.genotype == "PC_DARTS" and cfg.train_dataloader.dataset.type == "CityscapesDataset"
    assert cfg.custom_imports.imports == ["ddp_seg"]
    model = build_segmentor(load_config(user, SMALL_DARTS))
    assert type(model).__name__ == "EncoderDecoder" and type(model.backbone).__name__ == "DDPNASDartsBackbone"
    assert model.backbone.out_channels == [32, 64, 128]


def test_mmseg_tools_arguments(capsys):
    assert "train" in mmseg_tools.list_tools() and "analysis_tools/benchmark" in mmseg_tools.list_tools()
    assert mmseg_tools.tool_script("train").name == "train.py"
    assert mmseg_tools.main(["no_such_tool"]) == 2 and "mmseg has no tool 'no_such_tool'" in capsys.readouterr().err
    assert mmseg_tools.main(["../../__init__"]) == 2
    assert mmseg_tools.main([]) == 2 and "usage:" in capsys.readouterr().out
    assert mmseg_tools.main(["train", "ddp_seg::nope.py"]) == 2 and "no config" in capsys.readouterr().err
