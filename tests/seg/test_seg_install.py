"""Installing the ddp-seg wheel: a compiled mmcv stays untouched, and the installed configs work the OpenMMLab way.

Offline and fast: the wheel comes from `uv build --package ddp-seg`, and goes with `uv pip install --offline
--no-deps` into a `uv venv` (or a `--target` folder), whose packages the workspace's Python then imports first
(PYTHONPATH), with torch, mmengine and mmseg from the workspace.
"""

import base64
import hashlib
import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys
import zipfile

import pytest
from offline_uv import uv
from packaging.requirements import Requirement
from packaging.version import Version
from seg_test_configs import DARTS_NAME, SMALL_DARTS, overrides_as_cli, tiny_overrides

SITE = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
# A stand-in for mmcv's compiled extension: every operator name resolves, so `mmcv.ops` imports as with a real
# build; calling one raises. (DeepLabV3 calls none.)
FAKE_EXT = b'''"""Test stand-in for mmcv's compiled extension module."""


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)

    def op(*args, **kwargs):
        raise RuntimeError(f"fake compiled op {name} called")

    return op
'''


def write_wheel(directory: pathlib.Path, name: str, version: str, files: dict[str, bytes]) -> pathlib.Path:
    """A minimal pure-Python wheel (METADATA, WHEEL, RECORD with hashes) holding ``files``."""
    dist = f"{name.replace('-', '_')}-{version}"
    info = f"{dist}.dist-info"
    files = {
        **files,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: ddpnas-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
        for path, data in files.items()
    ]
    wheel = directory / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
        archive.writestr(f"{info}/RECORD", "\n".join([*record, f"{info}/RECORD,,"]) + "\n")
    return wheel


def tree_digest(root: pathlib.Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory, startup_s) -> pathlib.Path:
    out = tmp_path_factory.mktemp("dist")
    uv("build", "--offline", "--package", "ddp-seg", "--wheel", "--out-dir", str(out), timeout=10 * startup_s)
    (path,) = out.glob("ddp_seg-*.whl")
    return path


@pytest.fixture(scope="module")
def requirements(wheel) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    return [Requirement(line.split(":", 1)[1].strip()) for line in metadata.splitlines() if line.startswith("Requires-Dist:")]


@pytest.fixture(scope="module")
def compiled_mmcv_venv(tmp_path_factory, startup_s) -> pathlib.Path:
    """A venv holding a fake *compiled* mmcv 2.1.0: mmcv's Python files, an `mmcv/_ext` module, dist `mmcv`."""
    root = tmp_path_factory.mktemp("compiled-mmcv")
    source = pathlib.Path(importlib.util.find_spec("mmcv").origin).parent
    files = {f"mmcv/{p.relative_to(source).as_posix()}": p.read_bytes()
             for p in source.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    files["mmcv/_ext.py"] = FAKE_EXT
    fake = write_wheel(root, "mmcv", "2.1.0", files)
    venv = root / "venv"
    uv("venv", "--offline", "--python", sys.executable, str(venv), timeout=5 * startup_s)
    uv("pip", "install", "--offline", "--no-deps", "--python", str(venv / "bin" / "python"), str(fake),
       timeout=5 * startup_s)
    return venv


def test_wheel_ships_configs_and_needs_no_mmcv_but_lite_extra_adds_mmcv_lite(wheel, requirements):
    unconditional = {r.name for r in requirements if r.marker is None}
    assert "mmsegmentation" in unconditional and not unconditional & {"mmcv", "mmcv-lite"}
    lite = [r for r in requirements if r.marker is not None and r.marker.evaluate({"extra": "lite"})]
    assert [(r.name, str(r.specifier)) for r in lite] == [("mmcv-lite", "==2.1.0")]
    names = zipfile.ZipFile(wheel).namelist()
    assert "ddp_seg/.mim/model-index.yml" in names
    assert "ddp_seg/.mim/configs/ddpnas/deeplabv3_ddpnas-darts_4xb2-80k_cityscapes-512x1024.py" in names
    assert not any(name.startswith("mmcv/") for name in names)


def test_resolver_keeps_a_compiled_mmcv(wheel, requirements, compiled_mmcv_venv, tmp_path, startup_s):
    """A real resolution (`--dry-run`, every requirement a stub wheel): plain ddp-seg adds no mmcv-lite."""
    for requirement in requirements:
        versions = [Version(spec.version) for spec in requirement.specifier] + [Version("0.1.0")]
        version = next(str(v) for v in versions if requirement.specifier.contains(v))
        write_wheel(tmp_path, requirement.name, version, {})
    python = str(compiled_mmcv_venv / "bin" / "python")

    def plan(extra: str) -> list[str]:
        """The `+ name==version` / `- name==version` lines of uv's plan."""
        out = uv("pip", "install", "--offline", "--dry-run", "--no-index", "--find-links", str(tmp_path),
                 "--python", python, f"ddp-seg{extra} @ {wheel.as_uri()}", timeout=5 * startup_s)
        return [line.strip() for line in out.splitlines() if line.startswith((" + ", " - "))]

    plain = plan("")
    assert "+ mmsegmentation==1.2.2" in plain and any(line.startswith("+ ddp-seg @ file:") for line in plain)
    assert not [line for line in plain if line[2:].startswith("mmcv")], plain  # no mmcv-lite, no mmcv removed
    assert "+ mmcv-lite==2.1.0" in plan("[lite]")  # the extra would install it: it is opt-in


def test_install_leaves_compiled_mmcv_untouched_and_stand_in_off(wheel, compiled_mmcv_venv, startup_s):
    site = compiled_mmcv_venv / SITE
    before = tree_digest(site / "mmcv")
    uv("pip", "install", "--offline", "--no-deps", "--python", str(compiled_mmcv_venv / "bin" / "python"), str(wheel),
       timeout=5 * startup_s)
    assert tree_digest(site / "mmcv") == before
    assert [p.name for p in site.glob("mmcv*.dist-info")] == ["mmcv-2.1.0.dist-info"]
    assert (site / "ddp_seg" / ".mim" / "configs" / "ddpnas").is_dir()
    probe = r'''
import json, sys
import mmcv, ddp_seg
from mmcv.ops import point_sample
from mmengine.config.utils import MODULE2PACKAGE
from mmengine.utils import get_installed_path
from ddp_seg import mmcv_ops_compat
from ddp_seg.apis import inference_model, init_model
model = init_model(sys.argv[1], cfg_options=json.loads(sys.argv[2]))
import numpy as np
result = inference_model(model, np.zeros((64, 128, 3), dtype=np.uint8))
print(json.dumps({"mmcv": mmcv.__file__, "mmcv_version": mmcv.__version__, "ddp_seg": ddp_seg.__file__,
                  "stand_in": ddp_seg.MMCV_OPS_STAND_IN, "compiled": mmcv_ops_compat.compiled_ops_present(),
                  "point_sample": point_sample.__module__, "versions": ddp_seg.INSTALLED_VERSIONS,
                  "configs": get_installed_path(MODULE2PACKAGE["ddp_seg"]),
                  "prediction": list(result.pred_sem_seg.data.shape)}))
'''
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    completed = subprocess.run([sys.executable, "-c", probe, DARTS_NAME, json.dumps(SMALL_DARTS)], env=env,
                               capture_output=True, text=True, timeout=10 * startup_s)
    assert completed.returncode == 0, completed.stderr[-3000:]
    found = json.loads(completed.stdout.strip().splitlines()[-1])
    assert found["mmcv"].startswith(str(site)) and found["ddp_seg"].startswith(str(site))
    assert found["mmcv_version"] == "2.1.0" and found["versions"]["mmcv"] == "2.1.0"
    assert found["compiled"] and not found["stand_in"]  # the shim stays off: mmcv's own ops module loaded
    assert found["point_sample"] == "mmcv.ops.point_sample"
    assert found["configs"] == str(site / "ddp_seg")  # ddp_seg:: resolves to the installed copy
    assert found["prediction"] == [1, 64, 128]


@pytest.mark.slow
def test_user_config_inheriting_the_installed_config_trains_with_mmseg_train_py(wheel, tiny_cityscapes, tmp_path,
                                                                               startup_s):
    """`_base_ = ['ddp_seg::...']` from the installed wheel, trained by mmseg's own tools/train.py (2 iterations)."""
    target = tmp_path / "site"
    uv("pip", "install", "--offline", "--no-deps", "--target", str(target), str(wheel), timeout=5 * startup_s)
    user = tmp_path / "my_deeplabv3.py"
    user.write_text(
        f"_base_ = ['{DARTS_NAME}']\n"
        "model = dict(backbone=dict(channels=8, layers=5), decode_head=dict(in_channels=[64, 128]),\n"
        "             auxiliary_head=dict(in_channels=32))\n"
    )
    options = overrides_as_cli(tiny_overrides(tiny_cityscapes, 2))
    env = {**os.environ, "PYTHONPATH": str(target), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-m", "ddp_seg.mmseg_tools", "train", str(user), "--work-dir", str(tmp_path / "work"),
               "--cfg-options", *options]
    completed = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                               timeout=30 * startup_s)
    log = completed.stdout + completed.stderr
    assert completed.returncode == 0, log[-3000:]
    assert (tmp_path / "work" / "iter_2.pth").is_file()
    assert re.search(r"Iter\(val\).*mIoU: [\d.]+", log)
    dumped = (tmp_path / "work" / user.name).read_text()  # mmseg's train.py dumps the merged config
    assert "DDPNASDartsBackbone" in dumped and "_scope_='ddp_seg'" in dumped
