"""The ddp-core and ddp-bert wheels are complete: built with `uv build`, installed into a fresh venv, they import,
carry their package data and entry points, and run a search and ENG there, with only their declared dependencies.

Offline and fast: the wheels go into a `uv venv` with `uv pip install --offline --no-deps`; their dependencies are
not installed again but taken from the workspace's venv through a folder that holds only the distributions the
wheels' `Requires-Dist` pulls in (transitively, markers evaluated here), so an undeclared import fails. The
workspace's own ddp-* packages are not in that folder, so everything ddp_* comes from the wheels.
"""

from __future__ import annotations

import configparser
import json
import os
import pathlib
import subprocess
import sys
import textwrap
import zipfile
from importlib import metadata

import pytest
from offline_uv import uv
from packaging.markers import default_environment
from packaging.requirements import Requirement

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = {"ddp-core": "ddp_core", "ddp-bert": "ddp_bert"}  # installed and run in the fresh venv
ALL_PACKAGES = {**PACKAGES, "ddp-vision": "ddp_vision", "ddp-seg": "ddp_seg"}  # built and inspected
GENERATORS = {
    "ddp-core": {"nas-bench-macro": "ddp_core.tabular:generate_cli"},
    "ddp-vision": {"darts": "ddp_vision.darts.generate:cli", "mobilenet": "ddp_vision.mobilenet.generate:cli",
                   "nas-bench-macro": "ddp_vision.mobilenet.generate:cli"},
    "ddp-bert": {"bert": "ddp_bert.generate:cli"},
    "ddp-seg": {},
}
SITE = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"


def wheel_requirements(wheel: pathlib.Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    return [Requirement(line.split(":", 1)[1].strip()) for line in text.splitlines() if line.startswith("Requires-Dist:")]


def dependency_closure(requirements: list[Requirement]) -> dict[str, metadata.Distribution]:
    """Installed distributions these requirements pull in (no extras of ours), each checked against its specifier."""
    environment = default_environment()
    found: dict[str, metadata.Distribution] = {}
    todo = [(r, "") for r in requirements]
    while todo:
        requirement, extra = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({**environment, "extra": extra}):
            continue
        name = requirement.name.lower().replace("_", "-")
        if name in PACKAGES:
            continue  # ddp-bert -> ddp-core: the wheel under test, not the workspace's copy
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            pytest.fail(f"{requirement} is declared but not installed in the workspace: uv sync --all-packages")
        assert requirement.specifier.contains(dist.version, prereleases=True), f"{requirement}: found {dist.version}"
        first_time = name not in found
        found[name] = dist
        for wanted in ([""] if first_time else []) + sorted(requirement.extras):
            todo += [(Requirement(r), wanted) for r in dist.requires or []]
    return found


def top_level_entries(dist: metadata.Distribution) -> set[str]:
    """The first path parts a distribution installed into site-packages (its files, its .dist-info)."""
    entries = {pathlib.PurePath(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
    return {e for e in entries if not e.endswith(".pth") and e != "__pycache__"}


@pytest.fixture(scope="module")
def all_wheels(tmp_path_factory, startup_s) -> dict[str, pathlib.Path]:
    out = tmp_path_factory.mktemp("dist")
    for package in ALL_PACKAGES:
        uv("build", "--offline", "--package", package, "--wheel", "--out-dir", str(out), timeout=10 * startup_s)
    return {package: next(out.glob(f"{module}-*.whl")) for package, module in ALL_PACKAGES.items()}


@pytest.fixture(scope="module")
def wheels(all_wheels) -> dict[str, pathlib.Path]:
    return {package: all_wheels[package] for package in PACKAGES}


def entry_points_of(wheel: pathlib.Path) -> dict[str, dict[str, str]]:
    """Group -> name -> value, from the wheel's entry_points.txt."""
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        parser = configparser.ConfigParser(delimiters=("=",))
        parser.optionxform = str
        if names:
            parser.read_string(archive.read(names[0]).decode())
    return {section: {k.strip(): v.strip() for k, v in parser[section].items()} for section in parser.sections()}


@pytest.fixture(scope="module")
def venv(wheels, tmp_path_factory, startup_s) -> pathlib.Path:
    """A fresh venv with the two wheels installed and only their declared dependencies importable."""
    root = tmp_path_factory.mktemp("wheel-install")
    venv = root / "venv"
    uv("venv", "--offline", "--python", sys.executable, str(venv), timeout=5 * startup_s)
    uv("pip", "install", "--offline", "--no-deps", "--no-index", "--python", str(venv / "bin" / "python"),
       *map(str, wheels.values()), timeout=5 * startup_s)
    closure = dependency_closure([r for wheel in wheels.values() for r in wheel_requirements(wheel)])
    workspace_site = pathlib.Path(metadata.distribution("numpy").locate_file(""))
    deps = root / "declared-dependencies"
    deps.mkdir()
    for entry in sorted({e for dist in closure.values() for e in top_level_entries(dist)}):
        if (workspace_site / entry).exists() and not (deps / entry).exists():
            (deps / entry).symlink_to(workspace_site / entry)
    # A path line in a .pth file: appended after the venv's own site-packages, its own .pth files not processed.
    (venv / SITE / "_declared_dependencies.pth").write_text(f"{deps}\n")
    return venv


def test_all_four_wheels_hold_every_source_file_and_their_entry_points(all_wheels, wheels):
    for package, module in ALL_PACKAGES.items():
        source = REPO_ROOT / "packages" / package / "src" / module
        expected = {f"{module}/{p.relative_to(source).as_posix()}" for p in source.rglob("*")
                    if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
        names = set(zipfile.ZipFile(all_wheels[package]).namelist())
        assert expected <= names, f"{package} wheel lacks {sorted(expected - names)}"
        assert entry_points_of(all_wheels[package]).get("ddpnas.generators", {}) == GENERATORS[package]
    assert entry_points_of(all_wheels["ddp-core"])["console_scripts"] == {"ddpnas-generate": "ddp_core.generators:main"}
    bert = set(zipfile.ZipFile(wheels["ddp-bert"]).namelist())
    assert "ddp_bert/glue_metric/glue_metric.py" in bert  # package data without an __init__.py
    assert {"ddp_bert/hub_code/modeling_ddp_compressed_bert.py",
            "ddp_bert/hub_code/configuration_ddp_compressed_bert.py"} <= bert
    requirements = {r.name for r in wheel_requirements(wheels["ddp-bert"])}
    assert {"ddp-core", "torch", "transformers", "accelerate", "tensorboard", "huggingface-hub"} <= requirements
    core = {r.name for r in wheel_requirements(wheels["ddp-core"])}
    assert core == {"numpy", "matplotlib"}, "ddp-core stays numpy-only (matplotlib for plots)"


PROBE = textwrap.dedent('''
    import importlib, importlib.metadata as md, importlib.resources, json, pathlib, pkgutil, sys, zlib
    import ddp_core, ddp_bert
    from accelerate.utils import is_tensorboard_available
    venv = pathlib.Path(sys.prefix)
    modules = []
    for package in (ddp_core, ddp_bert):
        assert pathlib.Path(package.__file__).is_relative_to(venv), package.__file__
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(info.name)
            modules.append(info.name)
    data = importlib.resources.files("ddp_bert")
    assert (data / "glue_metric" / "glue_metric.py").is_file() and (data / "hub_code" / "__init__.py").is_file()
    kinds = {e.name: e.dist.name for e in md.entry_points(group="ddpnas.generators")}
    scripts = {e.name: e.value for e in md.entry_points(group="console_scripts") if e.name.startswith("ddpnas")}
    dists = {name: str(md.distribution(name).locate_file("")) for name in ("ddp-core", "ddp-bert")}

    from ddp_core import DDPSearch, SearchConfig
    from ddp_core.generators import main as generate
    from ddp_core.tabular import macro_space
    from ddp_bert.space import TeacherShape, build_search_space

    class HashScores:
        higher_is_better = True
        def train(self, architecture): pass
        def score(self, architecture): return zlib.crc32(repr(list(map(int, architecture))).encode()) % 1000 / 1000

    runs = pathlib.Path(sys.argv[1])
    teacher = TeacherShape(num_layers=2, hidden_size=32, num_heads=4, intermediate_size=64, vocab_size=100,
                           max_position_embeddings=32, type_vocab_size=2)
    results = {}
    for name, space, flags in (("macro", macro_space(), ["--params-m", "2"]),
                               ("bert", build_search_space(teacher), ["--params-m", "0.01"])):
        found = DDPSearch(space, HashScores(), SearchConfig(rounds_per_stage=1), run_dir=runs / name).run()
        results[name] = {"architecture": [int(k) for k in found.architecture], "eng": generate([str(runs / name), *flags])}
    print(json.dumps({"modules": modules, "tensorboard": is_tensorboard_available(), "kinds": kinds,
                      "scripts": scripts, "dists": dists, "results": results}))
''')


def test_fresh_venv_imports_the_wheels_and_searches_with_declared_dependencies_only(venv, tmp_path, startup_s):
    python = venv / "bin" / "python"
    result = subprocess.run([str(python), "-c", PROBE, str(tmp_path)], capture_output=True, text=True,
                            timeout=20 * startup_s, env={**os.environ, "PYTHONPATH": ""})
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"ddp_bert.hub_code.modeling_ddp_compressed_bert", "ddp_bert.generate", "ddp_core.tabular",
            "ddp_core.generators"} <= set(report["modules"])
    assert report["tensorboard"], "accelerate's TensorBoard tracker needs tensorboard among ddp-bert's dependencies"
    assert report["kinds"] == {"nas-bench-macro": "ddp-core", "bert": "ddp-bert"}  # no ddp-vision here
    assert report["scripts"] == {"ddpnas-generate": "ddp_core.generators:main"}
    assert all(pathlib.Path(path).is_relative_to(venv) for path in report["dists"].values()), report["dists"]
    assert report["results"]["macro"]["eng"] == 0 and (tmp_path / "macro" / "generated.json").is_file()
    assert report["results"]["bert"]["eng"] == 0 and "shape" in json.loads((tmp_path / "bert" / "eng.json").read_text())
    assert len(report["results"]["macro"]["architecture"]) == 8


def test_console_script_in_the_fresh_venv_names_the_missing_package(venv, tmp_path, startup_s):
    run_dir = tmp_path / "darts-run"
    run_dir.mkdir()
    (run_dir / "space.json").write_text(json.dumps({"metadata": {"kind": "darts"}}))
    result = subprocess.run([str(venv / "bin" / "ddpnas-generate"), str(run_dir)], capture_output=True, text=True,
                            timeout=10 * startup_s, env={**os.environ, "PYTHONPATH": ""})
    assert result.returncode == 2
    assert "installed kinds: bert, nas-bench-macro; install the package that made the run" in result.stderr
    assert result.stderr.strip().endswith("it is not on PyPI"), result.stderr
