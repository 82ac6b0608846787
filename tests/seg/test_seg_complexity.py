"""Segmentor MACs/params from mmengine's analyzer: exact on known layers, equal to ddp_vision's own backbone
counts and to get_model_complexity_info's total."""

import json

import pytest
import torch
from mmengine.config import ConfigDict
from mmseg.registry import MODELS
from seg_test_configs import DARTS_CONFIG, DARTS_NAME, SMALL_DARTS
from torch import nn

import ddp_seg  # noqa: F401
from ddp_seg.complexity import main, module_macs_and_params, segmentor_complexity


def test_macs_of_known_layers():
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, bias=False),  # 8*8 outputs x 4 channels x 3*3*3 = 6912
        nn.BatchNorm2d(4),  # not a MAC (mmengine counts it in its total only)
        nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4),  # 4*4 x 4 x 9 = 576
        nn.ConvTranspose2d(4, 2, 2, stride=2),  # 4*4 inputs x 4 x 2*2*2 = 512
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2, 5),  # 10
    )
    macs, params = module_macs_and_params(model, (3, 3, 8, 8))  # per image, batch 3
    assert macs == 6912 + 576 + 512 + 10
    assert params == sum(p.numel() for p in model.parameters())


def test_layerwise_backbone_matches_ddp_vision_symbolic_costs():
    from ddp_vision.mobilenet.costs import network_cost_breakdown, sum_costs

    backbone = MODELS.build(ConfigDict(type="DDPNASLayerwiseBackbone", network_config="mobilenetv2_050_layerwise"))
    breakdown = network_cost_breakdown(backbone.network.config)  # at the config's 224 x 224
    expected = breakdown.stem + sum_costs(breakdown.blocks)  # the backbone has no classification head
    assert module_macs_and_params(backbone, (1, 3, 224, 224)) == (expected.macs, expected.params)


def test_darts_backbone_matches_ddp_vision_network_costs():
    from ddp_vision.darts.costs import network_costs
    from ddp_vision.registry import create_model

    kwargs = dict(genotype="PC_DARTS", channels=8, layers=5)
    classifier = create_model("ddpnas_darts_imagenet", num_classes=10, auxiliary=False, **kwargs)
    vision = network_costs(classifier, image_size=64)
    head = classifier.classifier
    head_params = sum(p.numel() for p in head.parameters())
    head_macs = head.in_features * head.out_features
    backbone = MODELS.build(ConfigDict(type="DDPNASDartsBackbone", **kwargs))
    macs, params = module_macs_and_params(backbone, (1, 3, 64, 64))
    assert macs == round(vision["flops_m"] * 1e6) - head_macs
    assert params == round(vision["params_m"] * 1e6) - head_params


def test_segmentor_report_splits_parts(tmp_path):
    from ddp_seg.training import build_segmentor, load_config

    model = build_segmentor(load_config(DARTS_CONFIG, SMALL_DARTS))
    report = segmentor_complexity(model, 64, 128)
    assert set(report.parts) == {"backbone", "decode_head", "auxiliary_head"}
    assert (report.parts["backbone"].macs, report.parts["backbone"].params) == module_macs_and_params(
        model.backbone, (1, 3, 64, 128)
    )
    assert report.parts["decode_head"].macs > 0 and report.parts["decode_head"].used_at_inference
    aux = report.parts["auxiliary_head"]
    assert aux.macs == 0 and not aux.used_at_inference
    assert report.params == report.params_with_training_heads - aux.params
    assert report.params_with_training_heads == sum(p.numel() for p in model.parameters())
    assert report.backbone_out_channels == (32, 64, 128)
    # MACs scale with the image area (no fixed-size layer at these sizes other than image pooling's 1x1 conv)
    bigger = segmentor_complexity(model, 128, 256)
    assert 3.8 < bigger.parts["backbone"].macs / report.parts["backbone"].macs <= 4.0


def test_all_operator_total_is_get_model_complexity_info(tmp_path):
    """The mmengine column is what mmengine.analysis.get_model_complexity_info reports (and get_flops.py would)."""
    from mmengine.analysis import get_model_complexity_info

    from ddp_seg.training import build_segmentor, load_config

    model = build_segmentor(load_config(DARTS_NAME, SMALL_DARTS)).eval()
    report = segmentor_complexity(model, 64, 128)
    reference = get_model_complexity_info(model, inputs=(torch.zeros(1, 3, 64, 128),), show_table=False,
                                          show_arch=False)
    assert report.flops_all == reference["flops"]
    assert report.params_with_training_heads == reference["params"]
    assert report.macs < report.flops_all  # BatchNorm, resizes and pooling are in mmengine's total only
    assert report.macs == sum(part.macs for part in report.parts.values()) + report.outside_parts[0]


def test_command_line_writes_json(tmp_path, capsys):
    out = tmp_path / "complexity.json"
    status = main([DARTS_NAME, "--shape", "64", "128", "--json", str(out),
                   "--cfg-options", "model.backbone.channels=8", "model.backbone.layers=5",
                   "model.decode_head.in_channels=[64,128]", "model.auxiliary_head.in_channels=32"])
    assert status == 0
    data = json.loads(out.read_text())
    assert data["input_hw"] == [64, 128]
    assert abs(data["flops_g"] - sum(p["flops_g"] for p in data["parts"].values())
               - data["outside_parts"]["flops_g"]) < 1e-12
    assert data["mmengine_flops_g"] > data["flops_g"]
    assert "total (inference)" in capsys.readouterr().out


def test_head_channel_mismatch_names_the_fix():
    from ddp_seg.training import build_segmentor, check_head_channels, load_config

    cfg = load_config(DARTS_CONFIG, {"model.backbone.channels": 8, "model.backbone.layers": 5})
    with pytest.raises(ValueError, match=r"model\.decode_head\.in_channels=\[256, 512\] .*\[64, 128\].*"
                                         r"--cfg-options model\.decode_head\.in_channels=\[64,128\]"):
        build_segmentor(cfg)
    check_head_channels(cfg.model | {"decode_head": dict(in_index=2, in_channels=128), "auxiliary_head": None},
                        [32, 64, 128])
    with pytest.raises(ValueError, match=r"auxiliary_head\.1\.in_channels=16"):
        check_head_channels({"auxiliary_head": [dict(in_index=0, in_channels=32), dict(in_index=1, in_channels=16)]},
                            [32, 64, 128])
    with pytest.raises(ValueError, match="returns 3 maps"):
        check_head_channels({"decode_head": dict(in_index=[1, 3], in_channels=[64, 128])}, [32, 64, 128])


def test_command_line_reports_config_errors(capsys):
    status = main([str(DARTS_CONFIG), "--shape", "64", "128", "--cfg-options", "model.backbone.channels=8",
                   "model.backbone.layers=5"])
    assert status == 2
    assert "fix: --cfg-options model.decode_head.in_channels=[64,128]" in capsys.readouterr().err
    assert main(["/no/such/config.py"]) == 2
