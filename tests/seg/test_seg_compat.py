"""The mmcv.ops stand-in, version checks and checkpoint allow-list that importing ddp_seg installs."""

import importlib.metadata

import pytest
import torch
import torch.nn.functional as F

import ddp_seg
from ddp_seg import environment, mmcv_ops_compat


def test_mmseg_models_import_and_ops_resolve():
    import mmcv.ops
    import mmseg.models  # noqa: F401  (fails on mmcv._ext without the stand-in)

    if not ddp_seg.MMCV_OPS_STAND_IN:
        pytest.skip("full mmcv with compiled ops is installed; the stand-in is not used")
    assert mmcv_ops_compat.is_stand_in_installed()
    assert mmcv.ops.point_sample is mmcv_ops_compat.point_sample


def test_stand_in_only_without_a_compiled_extension():
    # This workspace has mmcv-lite: no mmcv._ext at all, so the stand-in is on. (A compiled mmcv keeps it off:
    # tests/seg/test_seg_install.py installs one into a venv.)
    assert not mmcv_ops_compat.compiled_ops_present()
    assert ddp_seg.MMCV_OPS_STAND_IN and mmcv_ops_compat.install()  # idempotent


def test_missing_compiled_op_names_itself():
    if not ddp_seg.MMCV_OPS_STAND_IN:
        pytest.skip("full mmcv with compiled ops is installed")
    with pytest.raises(mmcv_ops_compat.CompiledOpUnavailableError, match=r"mmcv\.ops\.nms .*mmcv==2\.1\.0"):
        from mmcv.ops import nms  # noqa: F401
    with pytest.raises(ImportError, match=r"mmcv\.ops\.roi_align is not available"):
        import mmcv.ops.roi_align  # noqa: F401


def test_point_sample_matches_pixel_centres():
    feature = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    # pixel (row 2, column 3) centre in [0, 1] coordinates, align_corners=False
    points = torch.tensor([[[(3 + 0.5) / 5, (2 + 0.5) / 4]]]).repeat(2, 1, 1)
    sampled = mmcv_ops_compat.point_sample(feature, points)
    assert sampled.shape == (2, 3, 1)
    torch.testing.assert_close(sampled[..., 0], feature[:, :, 2, 3])
    grid = torch.rand(2, 6, 7, 2) * 2 - 1
    torch.testing.assert_close(
        mmcv_ops_compat.bilinear_grid_sample(feature, grid), F.grid_sample(feature, grid, align_corners=False)
    )


def test_sigmoid_focal_loss_matches_mmseg_python_version():
    from mmseg.models.losses.focal_loss import py_sigmoid_focal_loss

    torch.manual_seed(0)
    logits = torch.randn(6, 4)
    target = torch.tensor([0, 3, 1, 4, 2, 0])  # 4 = background
    one_hot = F.one_hot(target, 5)[:, :4].float()
    expected = py_sigmoid_focal_loss(logits, one_hot, gamma=2.0, alpha=0.25, reduction="none")
    ours = mmcv_ops_compat.sigmoid_focal_loss(logits, target, 2.0, 0.25, None, "none")
    torch.testing.assert_close(ours, expected)
    total = mmcv_ops_compat.sigmoid_focal_loss(logits, target, 2.0, 0.25, None, "mean")
    torch.testing.assert_close(total, expected.sum() / 6)
    with pytest.raises(ValueError, match="reduction"):
        mmcv_ops_compat.sigmoid_focal_loss(logits, target, reduction="avg")


def test_installed_versions_pass_and_are_reported():
    found = environment.check_versions()
    assert found["mmsegmentation"].startswith("1.2.")
    assert "mmcv" in found or "mmcv-lite" in found


def test_clashing_version_names_the_fix(monkeypatch):
    real_version = importlib.metadata.version

    def fake_version(name):
        return "2.2.0" if name in ("mmcv", "mmcv-lite") else real_version(name)

    monkeypatch.setattr(importlib.metadata, "version", fake_version)
    with pytest.raises(environment.IncompatibleVersionError) as error:
        environment.check_versions()
    message = str(error.value)
    assert "mmcv==2.2.0 is installed" in message or "mmcv-lite==2.2.0 is installed" in message
    assert "mmcv-lite==2.1.0" in message


def test_missing_distribution_is_reported(monkeypatch):
    requirement = environment.VersionRequirement(("no-such-dist-ddpnas",), "1.0", "2.0", "for a test")
    with pytest.raises(environment.IncompatibleVersionError, match="no-such-dist-ddpnas>=1.0,<2.0 is not installed"):
        environment.check_versions((requirement,))


def test_missing_mmcv_names_the_lite_extra(monkeypatch):
    real_version = importlib.metadata.version

    def fake_version(name):
        if name in ("mmcv", "mmcv-lite"):
            raise importlib.metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(importlib.metadata, "version", fake_version)
    with pytest.raises(environment.IncompatibleVersionError) as error:
        environment.check_versions()
    message = str(error.value)
    assert "mmcv or mmcv-lite>=2.0.0rc4,<2.2.0 is not installed" in message
    assert "pip install 'ddp-seg[lite]'" in message and "never mmcv-lite over a compiled mmcv" in message
