"""NAS-Bench-Macro: our networks reproduce the benchmark's params and MACs for every key."""

from __future__ import annotations

import pathlib

import pytest

from ddp_vision.macro.benchmark import NasBenchMacro
from ddp_vision.macro.space import architecture_to_key, key_to_architecture, macro_space
from ddp_vision.mobilenet.costs import network_cost

CANDIDATES = [
    pathlib.Path(__file__).resolve().parents[2] / "data/nas-bench-macro/nas-bench-macro_cifar10.json",
    pathlib.Path("/work/shared/data/nas-bench-macro/nas-bench-macro_cifar10.json"),
]
BENCHMARK_PATH = next((p for p in CANDIDATES if p.is_file()), CANDIDATES[0])


@pytest.fixture(scope="module")
def benchmark() -> NasBenchMacro:
    return NasBenchMacro.load(BENCHMARK_PATH)


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
