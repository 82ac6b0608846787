"""tools/generate.py and ddpnas-generate dispatch only to generators that installed packages register.

A space.json naming any module (``shutil:rmtree``) or an unknown kind is refused with one line and exit 2, and
the run directory survives; each real kind (tiny run directories, fake scores) reaches its package's generator.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import zlib
from importlib.metadata import EntryPoint

import numpy as np
import pytest

from ddp_core import CategoricalDistribution, DDPSearch, SearchConfig, write_json_atomic
from ddp_core import generators as registry

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
TOOL = [sys.executable, str(REPO_ROOT / "tools" / "generate.py")]
CONSOLE_SCRIPT = pathlib.Path(sys.executable).parent / "ddpnas-generate"

CRAFTED = {
    "module path, no kind": {"metadata": {"generator": "shutil:rmtree"}},
    "module path as kind": {"metadata": {"kind": "shutil:rmtree", "generator": "shutil:rmtree"}},
    "made-up kind": {"metadata": {"kind": "made-up-kind", "generator": "shutil:rmtree"}},
    "shared kind, unregistered generator": {"metadata": {"kind": "nas-bench-macro", "generator": "shutil:rmtree"}},
    "kind not a string": {"metadata": {"kind": ["darts"], "generator": "os:system"}},
    "no metadata object": {"metadata": "shutil:rmtree"},
}


class HashScores:
    """Fast stand-in for a supernet: a fixed pseudo-random score per architecture."""

    higher_is_better = True

    def train(self, architecture) -> None:
        pass

    def score(self, architecture) -> float:
        return zlib.crc32(repr([int(k) for k in architecture]).encode()) % 1000 / 1000


def searched_run(space, run_dir: pathlib.Path) -> pathlib.Path:
    DDPSearch(space, HashScores(), SearchConfig(rounds_per_stage=1), run_dir=run_dir).run()
    return run_dir


def darts_run(run_dir: pathlib.Path) -> pathlib.Path:
    """A DARTS run directory as the DARTS generator reads it: θ with one param and one nonparam op live per edge."""
    from ddp_vision.darts.operations import NONPARAMETRIC_OPS, PARAMETRIC_OPS, PRIMITIVES
    from ddp_vision.darts.space import DartsSupernetConfig, build_search_space

    space = build_search_space(DartsSupernetConfig(channels=4, layers=5, in_channels=1, num_classes=3, image_size=8))
    distribution = CategoricalDistribution.uniform(space)
    rng = np.random.default_rng(0)
    distribution.theta = rng.random((space.num_decisions, len(PRIMITIVES)))
    live = np.zeros_like(distribution.theta, dtype=bool)
    for edge in range(space.num_decisions):
        live[edge, PRIMITIVES.index(PARAMETRIC_OPS[edge % len(PARAMETRIC_OPS)])] = True
        live[edge, PRIMITIVES.index(NONPARAMETRIC_OPS[edge % 3])] = True  # never `none`
    distribution.live = live
    run_dir.mkdir(parents=True)
    write_json_atomic(run_dir / "space.json", space.to_dict())
    write_json_atomic(run_dir / "state.json", {"distribution": distribution.state_dict()})
    return run_dir


def mobilenet_run(run_dir: pathlib.Path) -> pathlib.Path:
    from ddp_vision.mobilenet.space import MobileNetSpaceConfig, mobilenet_space

    config = MobileNetSpaceConfig(num_classes=10, resolution=32, width_multiplier=0.5, kernels=(3, 5),
                                  stage_depths=(1, 1, 1, 1, 2, 1))
    return searched_run(mobilenet_space(config).search_space(), run_dir)


def macro_supernet_run(run_dir: pathlib.Path) -> pathlib.Path:
    from ddp_vision.macro.space import macro_space

    return searched_run(macro_space().search_space(), run_dir)


def macro_tabular_run(run_dir: pathlib.Path) -> pathlib.Path:
    from ddp_core.tabular import macro_space

    return searched_run(macro_space(), run_dir)


def bert_run(run_dir: pathlib.Path) -> pathlib.Path:
    """A BERT space from a 2-layer teacher's shape; ENG on parameters needs no model."""
    from ddp_bert.space import TeacherShape, build_search_space

    teacher = TeacherShape(num_layers=2, hidden_size=32, num_heads=4, intermediate_size=64, vocab_size=100,
                           max_position_embeddings=32, type_vocab_size=2)
    return searched_run(build_search_space(teacher), run_dir)


# kind -> (how to make a run, flags, the file only that kind's generator writes, the generator that must run)
REAL_KINDS = {
    "darts": (darts_run, ["--budget", "params_m=5", "--no-draw"], "genotype.json", "ddp_vision.darts.generate:cli"),
    "mobilenet": (mobilenet_run, ["--flops", "100", "--points", "5"], "generated/eng.json",
                  "ddp_vision.mobilenet.generate:cli"),
    "nas-bench-macro (supernet)": (macro_supernet_run, ["--params", "2"], "generated/eng.json",
                                   "ddp_vision.mobilenet.generate:cli"),
    "nas-bench-macro (tabular)": (macro_tabular_run, ["--params-m", "2"], "generated.json",
                                  "ddp_core.tabular:generate_cli"),
    "bert": (bert_run, ["--params-m", "0.01"], "eng.json", "ddp_bert.generate:cli"),
}


def run_tool(command: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT)


def test_each_package_registers_its_kinds():
    found = {kind: sorted((entry.dist.name, entry.value) for entry in entries)
             for kind, entries in registry.registered_generators().items()}
    assert found["darts"] == [("ddp-vision", "ddp_vision.darts.generate:cli")]
    assert found["mobilenet"] == [("ddp-vision", "ddp_vision.mobilenet.generate:cli")]
    assert found["bert"] == [("ddp-bert", "ddp_bert.generate:cli")]
    assert found["nas-bench-macro"] == [("ddp-core", "ddp_core.tabular:generate_cli"),
                                        ("ddp-vision", "ddp_vision.mobilenet.generate:cli")]


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_space_is_refused_and_the_run_dir_survives(case, tmp_path, startup_s):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "space.json").write_text(json.dumps(CRAFTED[case]))
    (run_dir / "state.json").write_text("{}")
    result = run_tool([*TOOL, str(run_dir)], timeout=10 * startup_s)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert sorted(p.name for p in run_dir.iterdir()) == ["space.json", "state.json"]
    if case == "made-up kind":
        assert "installed kinds: bert, darts, mobilenet, nas-bench-macro" in lines[0]
        assert "pip install" not in lines[0] and "ddp-vision: darts, mobilenet" in lines[0]


def test_console_script_refuses_too_and_names_the_package_for_a_known_kind(tmp_path, monkeypatch, capsys,
                                                                          startup_s):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "space.json").write_text(json.dumps({"metadata": {"kind": "made-up", "generator": "shutil:rmtree"}}))
    result = run_tool([str(CONSOLE_SCRIPT), str(run_dir)], timeout=10 * startup_s)
    assert result.returncode == 2 and "no installed package generates networks for kind 'made-up'" in result.stderr
    assert run_dir.is_dir()
    # A kind whose package is not installed: only ddp-core registered (what `pip install ddp-core` gives).
    core_only = [EntryPoint("nas-bench-macro", "ddp_core.tabular:generate_cli", registry.GROUP)]
    monkeypatch.setattr(registry, "entry_points", lambda group: core_only if group == registry.GROUP else [])
    (run_dir / "space.json").write_text(json.dumps({"metadata": {"kind": "bert", "generator": "ddp_bert.generate:cli"}}))
    assert registry.main([str(run_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: no installed package generates networks for kind 'bert' ({run_dir / 'space.json'}); "
                   "installed kinds: nas-bench-macro; install the package that made the run: pip install "
                   "packages/ddp-bert from a clone of the ddpnas repository (or a wheel: uv build --package ddp-bert, "
                   "then pip install dist/ddp_bert-*.whl); it is not on PyPI")


def test_a_registered_generator_that_does_not_import_names_its_package(tmp_path, monkeypatch, capsys):
    broken = [EntryPoint("darts", "ddp_vision_not_installed.generate:cli", registry.GROUP)]
    monkeypatch.setattr(registry, "entry_points", lambda group: broken)
    run_dir = darts_run(tmp_path / "run")
    assert registry.main([str(run_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not import" in err[0] and "ddp_vision_not_installed" in err[0]
    assert registry.main([str(run_dir), "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory) -> dict[str, pathlib.Path]:
    root = tmp_path_factory.mktemp("runs")
    return {kind: make(root / f"run{i}") for i, (kind, (make, *_)) in enumerate(REAL_KINDS.items())}


@pytest.mark.parametrize("kind", sorted(REAL_KINDS))
def test_each_real_kind_dispatches_to_its_generator(kind, run_dirs, monkeypatch):
    _, flags, output, value = REAL_KINDS[kind]
    run_dir = run_dirs[kind]
    chosen = registry.find_generator(json.loads((run_dir / "space.json").read_text())["metadata"])
    assert chosen.value == value
    assert not (run_dir / output).exists()
    assert registry.main([str(run_dir), *flags]) == 0
    assert (run_dir / output).is_file()


def test_help_after_run_dir_is_the_generators_and_without_it_the_dispatchers(run_dirs, startup_s):
    result = run_tool([*TOOL, str(run_dirs["darts"]), "--help"], timeout=10 * startup_s)
    assert result.returncode == 0 and "--budget" in result.stdout and "--nonparam-count" in result.stdout
    result = run_tool([*TOOL, "--help"], timeout=10 * startup_s)
    assert result.returncode == 0 and "ddpnas.generators" in result.stdout
    result = run_tool(TOOL, timeout=10 * startup_s)
    assert result.returncode == 2 and result.stderr.startswith("usage: ddpnas-generate RUN_DIR")
