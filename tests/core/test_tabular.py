"""NAS-Bench-Macro: derived cost tables, exact ENG over all 6561 keys, the real search, kill-and-resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ddp_core import CostTable, SearchConfig, expectation, generate
from ddp_core.tabular import (
    MacroOracle,
    NasBenchMacro,
    canonical_key,
    key_of,
    macro_costs,
    macro_search,
    macro_space,
    random_search,
)

REPO = Path(__file__).resolve().parents[2]
TABLE = REPO / "data" / "nas-bench-macro" / "nas-bench-macro_cifar10.json"


@pytest.fixture(scope="module")
def benchmark():
    return NasBenchMacro(TABLE)


def test_cost_tables_equal_benchmark_for_every_key(benchmark):
    space, costs = macro_space(), macro_costs()
    for key, entry in benchmark.entries.items():
        architecture = tuple(int(c) for c in key)
        assert costs["params"](space, architecture) == entry.params, key
        assert costs["flops"](space, architecture) == entry.flops, key


def test_distinct_networks_and_ranks(benchmark):
    assert benchmark.num_distinct == 3969
    assert benchmark.best_key() == "22212220" and benchmark.rank("22212220") == 1
    assert canonical_key("20102012") == canonical_key("20120012") != canonical_key("21020012")
    assert benchmark.rank("00000000") == 3969


def test_oracle_draws_one_of_the_three_seeds(benchmark):
    oracle = MacroOracle(benchmark, seed=0)
    scores = {oracle.score((2, 2, 2, 1, 2, 2, 2, 0)) for _ in range(60)}
    assert scores == {a / 100 for a in benchmark.entries["22212220"].test_acc}
    assert oracle.queries == 60


def test_eng_equals_brute_force_over_all_keys(benchmark):
    space = macro_space()
    result = macro_search(benchmark, SearchConfig(seed=3))["result"]
    dist = result.distribution
    theta = dist.generation_theta(live_only=False)
    tables = macro_costs()
    costs = {name: CostTable(name, t.fixed / 1e6, [r / 1e6 for r in t.per_candidate]) for name, t in tables.items()}
    keys = [tuple(int(c) for c in k) for k in benchmark.entries]
    values = np.array([expectation(space, theta, a) for a in keys])
    params = np.array([benchmark.entries[key_of(a)].params for a in keys]) / 1e6
    flops = np.array([benchmark.entries[key_of(a)].flops for a in keys]) / 1e6
    rng = np.random.default_rng(0)
    for _ in range(40):
        budget = {"params": float(rng.uniform(0.39, 2.95)), "flops": float(rng.uniform(7.8, 106))}
        if rng.random() < 0.5:
            budget.pop("params" if rng.random() < 0.5 else "flops")
        ok = np.ones(len(keys), bool)
        if "params" in budget:
            ok &= params <= budget["params"] + 1e-12
        if "flops" in budget:
            ok &= flops <= budget["flops"] + 1e-12
        answer = generate(space, dist, costs, budget, live_only=False)
        assert answer.expectation == pytest.approx(values[ok].max(), abs=1e-12)


def test_search_beats_chance_and_random_search_is_seeded(benchmark):
    ranks = [macro_search(benchmark, SearchConfig(seed=s))["rank"] for s in range(10)]
    assert np.mean(ranks) < 3969 / 4  # uniform picks would average ~1985
    assert random_search(benchmark, 15, seed=1) == random_search(benchmark, 15, seed=1)


def _state(run_dir: Path) -> dict:
    return json.loads((run_dir / "state.json").read_text())


def test_killed_search_resumes_to_the_same_result(tmp_path):
    tool = [sys.executable, str(REPO / "tools" / "search_tabular.py"), "--compare-seeds", "0", "--quiet",
            "--rounds-per-stage", "4", "--seed", "5"]
    straight = tmp_path / "straight"
    subprocess.run(tool + ["--run-dir", str(straight)], check=True, capture_output=True, timeout=120)

    killed = tmp_path / "killed"
    process = subprocess.Popen(tool + ["--run-dir", str(killed), "--sleep-per-sample", "0.3"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        if (killed / "state.json").exists() and _state(killed)["counters"]["steps"] >= 5:
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    interrupted = _state(killed)
    assert 5 <= interrupted["counters"]["steps"] < 20 and not interrupted["counters"]["finished"]

    subprocess.run(tool + ["--resume", str(killed)], check=True, capture_output=True, timeout=120)
    resumed, reference = _state(killed), _state(straight)
    assert resumed["counters"]["finished"]
    assert resumed["distribution"] == reference["distribution"]  # θ, V, masks: exactly equal
    assert resumed["records"] == reference["records"]
    assert (killed / "records.jsonl").read_text() == (straight / "records.jsonl").read_text()
    report = json.loads((killed / "report.json").read_text())
    assert report["found"]["key"] == json.loads((straight / "report.json").read_text())["found"]["key"]


def test_kendall_tau_matches_scipy():
    from scipy.stats import kendalltau

    from ddp_core.tabular import kendall_tau

    rng = np.random.default_rng(0)
    for _ in range(5):
        x = rng.integers(0, 6, size=40).astype(float)  # ties on purpose
        y = x + rng.normal(0, 2, size=40)
        assert kendall_tau(x, y) == pytest.approx(kendalltau(x, y)[0], abs=1e-12)


def test_weight_sharing_noise_is_calibrated_to_the_target_kendall_tau(benchmark):
    from ddp_core.tabular import MacroOracle, kendall_tau, noise_for_kendall_tau

    sd = noise_for_kendall_tau(benchmark, 0.57)
    oracle = MacroOracle(benchmark, seed=5, noise_sd=sd)
    keys = list(benchmark.entries)[::3]
    scores = [oracle.score(tuple(int(c) for c in key)) for key in keys]
    truth = [benchmark.entries[key].mean_acc for key in keys]
    assert abs(kendall_tau(scores, truth) - 0.57) < 0.04
    clean = MacroOracle(benchmark, seed=5)
    assert abs(kendall_tau([clean.score(tuple(int(c) for c in k)) for k in keys], truth) - 0.57) > 0.2
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        noise_for_kendall_tau(benchmark, 1.2)
