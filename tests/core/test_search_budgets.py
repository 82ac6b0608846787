"""Budgets known before the search (issue 15): the joint preset's target slots spend evaluations inside them."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ddp_core import (
    CostTable,
    DDPSearch,
    Decision,
    Requires,
    RunDirectoryError,
    SearchConfig,
    SearchSpace,
    search_budgets,
)
from ddp_core.infeasibility import InfeasibleBudgetError

REPO = Path(__file__).resolve().parents[2]


def space():
    return SearchSpace([Decision(f"d{i}", [f"c{j}" for j in range(6)]) for i in range(6)])


def conditional_space():
    widths = ["s", "m", "l"]
    return SearchSpace([Decision("depth", ["2", "4", "6"])] + [
        Decision(f"layer{i}.width", widths, requires=Requires("depth", [d for d in ("2", "4", "6") if int(d) > i]))
        for i in range(6)
    ] + [Decision("head", ["a", "b", "c", "d"])])


def costs(s):
    """flops grow with the candidate index, params shrink: the best networks (high indices) are expensive."""
    return {"flops_m": CostTable("flops_m", 1.0, [[float(k) for k in range(len(d.candidates))] for d in s.decisions]),
            "params_m": CostTable("params_m", 0.5, [[0.1 * (len(d.candidates) - k) for k in range(len(d.candidates))]
                                                     for d in s.decisions])}


def score(architecture):
    rng = np.random.default_rng([7, *architecture])
    return 0.5 + 0.03 * sum(architecture) - 0.05 * (architecture[0] == architecture[1]) + 0.01 * rng.standard_normal()


def spent(s, tables, architecture):
    active = s.active_mask(architecture)
    return {n: t.fixed + sum(float(t.per_candidate[e][k]) for e, k in enumerate(architecture) if active[e])
            for n, t in tables.items()}


def meets(s, tables, architecture, budget):
    used = spent(s, tables, architecture)
    return all(used[n] <= v + 1e-9 for n, v in budget.items())


def run(s, budgets=None, seed=0, utility="joint", run_dir=None, stop_after=None, pass_costs=True):
    search = DDPSearch(s, config=SearchConfig(utility=utility, seed=seed, budgets=budgets), higher_is_better=True,
                       costs=costs(s) if pass_costs else None, run_dir=run_dir)
    asked = []
    while not search.finished:
        for architecture in search.ask():
            if stop_after is not None and len(asked) == stop_after:
                search.close()
                return search, asked
            asked.append(architecture)
            search.tell(architecture, score(architecture))
    search.close()
    return search, asked


def test_a_clearly_larger_share_of_evaluations_meets_the_budget():
    s, tables, budget = space(), costs(space()), {"flops_m": 10.0}
    for seed in (0, 1):
        _, plain = run(s, seed=seed, pass_costs=False)
        _, told = run(s, [budget], seed=seed)
        assert len(plain) == len(told)  # same schedule: only the targets moved
        share_plain = np.mean([meets(s, tables, a, budget) for a in plain])
        share_told = np.mean([meets(s, tables, a, budget) for a in told])
        assert share_told >= share_plain + 0.2, (seed, share_plain, share_told)


@pytest.mark.parametrize("make_space", [space, conditional_space])
def test_every_target_slot_is_its_target_and_meets_its_budget(monkeypatch, make_space):
    s = make_space()
    tables = costs(s)
    budgets = [{"flops_m": 7.0}, {"params_m": 1.6}, {"flops_m": 20.0, "params_m": 3.0}]
    seen = []
    original = search_budgets.targets

    def spy(*args, **kwargs):
        out = original(*args, **kwargs)
        seen.append(out)
        return out

    monkeypatch.setattr(search_budgets, "targets", spy)
    search = DDPSearch(s, config=SearchConfig(seed=3, budgets=budgets), higher_is_better=True, costs=tables)
    served, checked = set(), 0
    while not search.finished:
        before = len(seen)
        waiting = search.ask()
        round_ = list(search.pending)
        if len(seen) > before:
            chosen, _, _, slot_budgets = seen[-1]
            for r, (target, b) in enumerate(zip(chosen, slot_budgets, strict=False)):
                if target is None:
                    continue
                active = s.active_mask(tuple(target))
                assert np.array_equal(np.array(round_[r])[active], np.array(target)[active])  # inactive: free
                assert meets(s, tables, round_[r], budgets[b]), (round_[r], budgets[b])
                served.add(b)
                checked += 1
        for architecture in waiting:
            search.tell(architecture, score(architecture))
    assert checked >= 10 and served == {0, 1, 2}  # round robin reaches every budget


def test_the_round_still_covers_every_live_candidate_while_targets_are_live(monkeypatch):
    """A target that needs a pruned candidate (no live network meets its budget) displaces one live candidate of
    a column without a spare copy; with live targets every live candidate is in every round."""
    s = space()
    seen = []
    original = search_budgets.targets

    def spy(*args, **kwargs):
        out = original(*args, **kwargs)
        seen.append(out[0])
        return out

    monkeypatch.setattr(search_budgets, "targets", spy)
    search = DDPSearch(s, config=SearchConfig(seed=2, budgets=[{"flops_m": 20.0}, {"flops_m": 14.0}]),
                       higher_is_better=True, costs=costs(s))
    live_rounds = 0
    while not search.finished:
        live = search.distribution.live.copy()
        before = len(seen)
        waiting = search.ask()
        targets = [t for t in (seen[-1] if len(seen) > before else []) if t is not None]
        if all(live[np.arange(s.num_decisions), list(t)].all() for t in targets):
            live_rounds += 1
            rows = np.array(search.pending)
            for e in range(s.num_decisions):
                assert set(np.flatnonzero(live[e]).tolist()) <= set(rows[:, e].tolist())
        for architecture in waiting:
            search.tell(architecture, score(architecture))
    assert live_rounds >= 8


def test_costs_without_budgets_spread_targets_over_the_cost_range(monkeypatch):
    """Given costs but no budgets (as the tools run), about SPREAD_SHARE of the target slots serve a random budget
    across the cost range (2-90% quantiles of random architectures' costs), each exactly its target and inside its
    budget; the other slots are the unbudgeted targets."""
    s = space()
    tables = costs(s)
    spread = search_budgets.SearchBudgets.prepare(s, None, tables)
    assert spread is not None and spread.spread is not None and not spread.budgets
    drawn_seen = []
    original = search_budgets.SearchBudgets.draw

    def spy(self, rng, slots):
        out = original(self, rng, slots)
        drawn_seen.append(out.budgets)
        return out

    monkeypatch.setattr(search_budgets.SearchBudgets, "draw", spy)
    served, slots, quantiles = 0, 0, []
    search = DDPSearch(s, config=SearchConfig(seed=1, rounds_per_stage=6), higher_is_better=True, costs=tables)
    original_targets = search_budgets.round_targets
    seen = []
    monkeypatch.setattr(search_budgets, "round_targets",
                        lambda *a, **k: seen.append(original_targets(*a, **k)) or seen[-1])
    while not search.finished:
        before = len(seen)
        waiting = search.ask()
        if len(seen) > before and drawn_seen:
            chosen, _, _, slot_budgets = seen[-1]
            drawn = drawn_seen[-1]
            for slot, (target, b) in enumerate(zip(chosen, slot_budgets, strict=False)):
                slots += 1
                if b is None:
                    continue
                served += 1
                budget = drawn[b]
                assert search.pending[slot] == target and meets(s, tables, target, budget)
                (name, value), = budget.items()
                quantiles.append(float(np.mean(spread.spread[name] <= value)))
        for architecture in waiting:
            search.tell(architecture, score(architecture))
    assert slots >= 20 and 0.25 <= served / slots <= 0.75, (served, slots)
    assert min(quantiles) < 0.25 and max(quantiles) > 0.6, quantiles


def test_paper_and_authors_ignore_costs_without_budgets():
    s = space()
    for utility in ("paper", "authors"):
        plain = DDPSearch(s, config=SearchConfig(seed=4, utility=utility), higher_is_better=True)
        with_costs = DDPSearch(s, config=SearchConfig(seed=4, utility=utility), higher_is_better=True, costs=costs(s))
        assert with_costs.budgets is None
        for _ in range(4):
            a, b = plain.ask(), with_costs.ask()
            assert a == b
            for x in a:
                plain.tell(x, score(x))
                with_costs.tell(x, score(x))


def test_a_spreading_search_resumes_exactly_and_refuses_other_costs(tmp_path):
    s = space()
    _, whole = run(s, seed=6)
    _, first = run(s, seed=6, run_dir=tmp_path, stop_after=25)
    with pytest.raises(RunDirectoryError, match=r"cost tables given to the search.*saved \['flops_m', 'params_m'\], now none"):
        DDPSearch(s, config=SearchConfig(seed=6), higher_is_better=True, run_dir=tmp_path)
    _, rest = run(s, seed=6, run_dir=tmp_path)
    assert first + rest == whole


def test_budgets_round_trip_through_a_run_directory_and_are_checked_on_resume(tmp_path):
    s = space()
    budgets = [{"flops_m": 10.0}, {"params_m": 1.2}]
    _, whole = run(s, budgets, seed=5)
    _, first = run(s, budgets, seed=5, run_dir=tmp_path, stop_after=20)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["budgets"] == budgets
    assert set(json.loads((tmp_path / "state.json").read_text())["budget_costs"]) == {"flops_m", "params_m"}
    with pytest.raises(RunDirectoryError, match=r"--budget \(budgets known before the search\): saved \[\{'flops_m': 10.0\}"):
        DDPSearch(s, config=SearchConfig(seed=5, budgets=[{"flops_m": 12.0}]), higher_is_better=True,
                  costs=costs(s), run_dir=tmp_path)
    with pytest.raises(RunDirectoryError, match="budgets known before the search"):
        DDPSearch(s, config=SearchConfig(seed=5), higher_is_better=True, run_dir=tmp_path)
    other = costs(s)
    other["flops_m"] = CostTable("flops_m", 1.5, other["flops_m"].per_candidate)
    with pytest.raises(RunDirectoryError, match="flops_m cost table"):
        DDPSearch(s, config=SearchConfig(seed=5, budgets=budgets), higher_is_better=True, costs=other,
                  run_dir=tmp_path)
    _, rest = run(s, budgets, seed=5, run_dir=tmp_path)
    assert first + rest == whole  # the resumed search asks exactly what the uninterrupted one asked


def test_an_infeasible_budget_is_refused_naming_the_smallest_value():
    s = space()
    with pytest.raises(InfeasibleBudgetError, match=r"flops_m <= 0\.5.*smallest achievable flops_m is 1\b"):
        DDPSearch(s, config=SearchConfig(budgets=[{"flops_m": 20.0}, {"flops_m": 0.5}]), higher_is_better=True,
                  costs=costs(s))
    with pytest.raises(ValueError, match="latency_ms but no cost table"):
        DDPSearch(s, config=SearchConfig(budgets=[{"latency_ms": 3.0}]), higher_is_better=True, costs=costs(s))
    with pytest.raises(ValueError, match="positive finite"):
        SearchConfig(budgets=[{"flops_m": -1.0}])
    with pytest.raises(ValueError, match="list of mappings"):
        SearchConfig(budgets={"flops_m": 3.0})


def test_paper_and_authors_presets_refuse_budgets():
    for utility, source in (("paper", "the paper"), ("authors", "the released code")):
        with pytest.raises(ValueError, match=f"utility='{utility}' follows {source} exactly and takes none"):
            SearchConfig(utility=utility, budgets=[{"flops_m": 10.0}])


def test_search_tabular_budget_search_end_to_end(tmp_path):
    tool = [sys.executable, str(REPO / "tools" / "search_tabular.py"), "--compare-seeds", "0", "--quiet",
            "--budget", "flops_m=40", "--budget", "params_m=1.5", "--budget-search"]
    done = subprocess.run(tool + ["--run-dir", str(tmp_path / "run")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "next: python tools/generate.py" in done.stdout
    assert done.stdout.strip().splitlines()[-1].endswith("--budget flops_m=40 --budget params_m=1.5")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["budgets"] == [{"flops_m": 40.0},
                                                                                     {"params_m": 1.5}]
    again = subprocess.run(tool[:-5] + ["--budget", "flops_m=50", "--budget-search", "--resume", str(tmp_path / "run")],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode != 0 and "--budget (budgets known before the search)" in again.stderr and "flops_m': 40.0" in again.stderr
    infeasible = subprocess.run(tool[:-5] + ["--budget", "flops_m=5", "--budget-search", "--run-dir",
                                             str(tmp_path / "bad")], capture_output=True, text=True, timeout=300)
    assert infeasible.returncode != 0 and "smallest achievable flops_m is" in infeasible.stderr

