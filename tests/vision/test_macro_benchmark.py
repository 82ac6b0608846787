"""NAS-Bench-Macro: our networks reproduce the benchmark's params and MACs for every key."""

from __future__ import annotations

import pathlib

import pytest

from ddp_vision.macro.benchmark import NasBenchMacro
from ddp_vision.macro.space import architecture_to_key, key_to_architecture, macro_space
from ddp_vision.mobilenet.costs import network_cost

BENCHMARK_PATH = pathlib.Path(__file__).resolve().parents[2] / "data/nas-bench-macro/nas-bench-macro_cifar10.json"


@pytest.fixture(scope="module")
def benchmark() -> NasBenchMacro:
    return NasBenchMacro.load(BENCHMARK_PATH)


def test_default_location_is_found_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DDPNAS_NAS_BENCH_MACRO", raising=False)
    assert len(NasBenchMacro.load()) == 3**8
    monkeypatch.setenv("DDPNAS_NAS_BENCH_MACRO", str(tmp_path / "elsewhere.json"))
    (tmp_path / "elsewhere.json").write_text('{"00000000": {"test_acc": [1, 2, 3], "mean_acc": 2, "std": 1, '
                                             '"params": 387882, "flops": 7713280}}')
    assert len(NasBenchMacro.load()) == 1


def test_every_key_counts_the_benchmark_params_and_flops(benchmark):
    space = macro_space()
    fixed, rows = space.candidate_costs()
    assert len(benchmark) == 3**8
    mismatches = []
    for key, entry in benchmark.entries.items():
        arch = key_to_architecture(key)
        cost = network_cost(space.network_config(arch))
        additive = fixed
        for e, k in enumerate(arch):
            additive = additive + rows[e][k]
        if (cost.params, cost.macs) != (entry.params, entry.flops) or additive != cost:
            mismatches.append(key)
    assert mismatches == []


def test_known_figures(benchmark):
    assert benchmark.best().key == "22212220"
    assert round(benchmark.best().mean_acc, 3) == 93.127
    assert benchmark["00000000"].params == 387_882 and benchmark["00000000"].flops == 7_713_280
    assert benchmark.rank_percentile("22212220") > 0.999


def test_keys_round_trip_and_bad_keys_fail():
    assert architecture_to_key(key_to_architecture("01201201")) == "01201201"
    with pytest.raises(ValueError, match="string over"):
        key_to_architecture("0123")
    with pytest.raises(FileNotFoundError):
        NasBenchMacro.load("/nonexistent/nas-bench-macro.json")


def test_rank_correlation_against_the_benchmark(benchmark):
    keys = sorted(benchmark.entries)[::97]
    archs = [key_to_architecture(k) for k in keys]
    means = [benchmark[k].mean_acc for k in keys]
    assert benchmark.rank_correlation(archs, means)["kendall_tau"] == pytest.approx(1.0)
    assert benchmark.rank_correlation(archs, [-m for m in means])["kendall_tau"] == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="two distinct"):
        benchmark.rank_correlation(archs[:1] * 3, [1.0, 2.0, 3.0])


def test_search_report_adds_the_benchmark_row(tmp_path, benchmark, monkeypatch):
    import json

    from ddp_vision.macro import benchmark as benchmark_module
    from ddp_vision.mobilenet.search import report_result

    monkeypatch.setattr(benchmark_module.NasBenchMacro, "load", classmethod(lambda cls, path=None: benchmark))
    records = [(key_to_architecture(k), benchmark[k].test_acc[0] / 100) for k in sorted(benchmark.entries)[::300]]
    report_result(tmp_path, macro_space(), key_to_architecture("22212220"), records)
    row = json.loads((tmp_path / "result.json").read_text())["nas_bench_macro"]
    assert row["key"] == "22212220" and row["best_key"] == "22212220"
    assert row["supernet_rank_correlation"]["kendall_tau"] > 0.5  # one seed's accuracies rank like the mean
    # a 10-class 32-px search on another dataset (digits upsampled) is not compared with the CIFAR-10 table
    report_result(tmp_path, macro_space(), key_to_architecture("22212220"), records, dataset="digits")
    assert "nas_bench_macro" not in json.loads((tmp_path / "result.json").read_text())


def test_agrees_with_ddp_core_tabular_oracle_costs():
    """ddp-core's numpy-only NAS-Bench-Macro oracle derives its own cost tables; both must agree exactly."""
    import numpy as np

    from ddp_core.tabular import macro_costs
    from ddp_core.tabular import macro_space as tabular_space

    core_space, ours = tabular_space(), macro_space()
    assert [d.name for d in core_space.decisions] == ours.decision_names()
    assert [d.candidate_names for d in core_space.decisions] == [tuple(n for n, _ in row) for row in ours.choices]
    core = macro_costs()
    tables = ours.cost_tables()
    for core_name, our_name, scale in (("params", "params_m", 1e6), ("flops", "flops_m", 1e6)):
        assert core[core_name].fixed == pytest.approx(tables[our_name].fixed * scale)
        np.testing.assert_allclose(core[core_name].matrix(core_space), tables[our_name].matrix(core_space) * scale)
