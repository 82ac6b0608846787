"""DDPNAS backbones built through mmseg's registry: feature shapes, options, errors, pretrained loading."""

import json

import pytest
import torch
from mmengine.config import ConfigDict
from mmseg.registry import MODELS

import ddp_seg  # noqa: F401  (registers the backbones)

TINY_DARTS = dict(type="DDPNASDartsBackbone", genotype="DARTS_V2", channels=8, layers=5)
TINY_LAYERWISE_CONFIG = {
    "blocks": [
        {"out_channels": 8, "stride": 1, "kernel": 3, "expansion": 1},
        {"out_channels": 12, "stride": 2, "kernel": 5, "expansion": 3},
        {"out_channels": 12, "stride": 1, "kernel": 3, "expansion": 6},
        {"out_channels": 16, "stride": 2, "kernel": 7, "expansion": 3},
        {"out_channels": 24, "stride": 2, "kernel": 3, "expansion": 6},
    ],
    "stem_channels": 8,
    "head_channels": 32,
    "num_classes": 10,
}


def build(**cfg):
    return MODELS.build(ConfigDict(cfg))


@pytest.mark.parametrize("out_indices", [(0, 1, 2), (1, 2), (2,)])
def test_darts_backbone_returns_maps_at_out_indices(out_indices):
    backbone = build(**TINY_DARTS, out_indices=out_indices).eval()
    outputs = backbone(torch.randn(2, 3, 64, 96))
    all_strides, all_channels = [8, 16, 32], [32, 64, 128]  # channels: 4 nodes x 8, doubled per reduction
    assert len(outputs) == len(out_indices)
    for output, index in zip(outputs, out_indices, strict=True):
        stride = all_strides[index]
        assert output.shape == (2, all_channels[index], 64 // stride, 96 // stride)
    assert backbone.out_channels == [all_channels[i] for i in out_indices]
    assert backbone.out_strides == [all_strides[i] for i in out_indices]


def test_layerwise_backbone_from_dict_and_json_file_agree(tmp_path):
    path = tmp_path / "network.json"
    path.write_text(json.dumps(TINY_LAYERWISE_CONFIG))
    torch.manual_seed(0)
    from_dict = build(type="DDPNASLayerwiseBackbone", network_config=TINY_LAYERWISE_CONFIG).eval()
    torch.manual_seed(0)
    from_file = build(type="DDPNASLayerwiseBackbone", network_config=str(path)).eval()
    x = torch.randn(1, 3, 32, 64)
    outputs = from_dict(x)
    assert [o.shape[1] for o in outputs] == [8, 12, 16, 24] == from_dict.out_channels
    assert [32 // o.shape[2] for o in outputs] == [2, 4, 8, 16] == from_dict.out_strides
    for a, b in zip(outputs, from_file(x), strict=True):
        torch.testing.assert_close(a, b)


def test_layerwise_backbone_by_registered_name():
    backbone = build(type="DDPNASLayerwiseBackbone", network_config="mobilenetv2_050_layerwise", out_indices=(3, 4))
    assert backbone.out_strides == [16, 32]
    assert not hasattr(backbone.network, "head"), "the classification head must be dropped"


def test_classification_head_is_dropped():
    backbone = build(**TINY_DARTS)
    assert not hasattr(backbone.network, "classifier")
    assert all("classifier" not in name for name, _ in backbone.named_parameters())


@pytest.mark.parametrize("out_indices", [(0, 3), (2, 1), (-1,), ()])
def test_bad_out_indices_say_what_exists(out_indices):
    with pytest.raises(ValueError, match=r"stride 8, 32 channels"):
        build(**TINY_DARTS, out_indices=out_indices)


def test_unknown_network_config_is_explained():
    with pytest.raises(ValueError, match="neither an existing JSON file nor a registered ddp_vision model"):
        build(type="DDPNASLayerwiseBackbone", network_config="no_such_network")


def test_genotype_forms_build_the_same_cells(tmp_path):
    from ddp_seg.backbones import resolve_genotype
    from ddp_vision.darts.genotypes import PUBLISHED_GENOTYPES, format_genotype, genotype_to_dict

    reference = PUBLISHED_GENOTYPES["PC_DARTS"]
    path = tmp_path / "answer.json"
    path.write_text(json.dumps({"genotype": genotype_to_dict(reference), "expectation": 0.9}))
    for form in ("PC_DARTS", format_genotype(reference), genotype_to_dict(reference), str(path)):
        assert resolve_genotype(form) == resolve_genotype(reference)
    with pytest.raises(FileNotFoundError):
        resolve_genotype(str(tmp_path / "missing.json"))


def test_norm_eval_keeps_batchnorm_statistics_frozen():
    backbone = build(**TINY_DARTS, norm_eval=True)
    backbone.train()
    norms = [m for m in backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and not any(m.training for m in norms)
    assert backbone.training
    before = norms[0].running_mean.clone()
    backbone(torch.randn(2, 3, 32, 32) * 5 + 3)
    torch.testing.assert_close(norms[0].running_mean, before)


def test_pretrained_classification_checkpoint_loads(tmp_path):
    from ddp_vision.registry import create_model

    classifier = create_model("ddpnas_darts_imagenet", genotype="DARTS_V2", channels=8, layers=5, auxiliary=False)
    path = tmp_path / "classifier.pth"
    torch.save({"state_dict": classifier.state_dict()}, path)
    backbone = build(**TINY_DARTS, init_cfg=dict(type="Pretrained", checkpoint=str(path)))
    backbone.init_weights()
    loaded = backbone.network.state_dict()
    for key, value in classifier.state_dict().items():
        if not key.startswith("classifier"):
            torch.testing.assert_close(loaded[key], value)


def test_segmentor_checkpoint_loads_with_backbone_prefix(tmp_path):
    source = build(**TINY_DARTS)
    for parameter in source.parameters():
        parameter.data.uniform_()
    path = tmp_path / "segmentor.pth"
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in source.state_dict().items()}, "meta": {}}, path)
    target = build(**TINY_DARTS, init_cfg=dict(type="Pretrained", checkpoint=str(path), prefix="backbone."))
    target.init_weights()
    for (key, expected), actual in zip(source.state_dict().items(), target.state_dict().values(), strict=True):
        torch.testing.assert_close(actual, expected, msg=key)


def test_checkpoint_of_another_model_is_rejected(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"state_dict": {"encoder.weight": torch.zeros(2)}}, path)
    backbone = build(**TINY_DARTS, init_cfg=dict(type="Pretrained", checkpoint=str(path)))
    with pytest.raises(ValueError, match="has no weights for this backbone"):
        backbone.init_weights()
