"""The search-quality harness (benchmarks/): interacting problems, budgets, ranks under a budget, budgeted runs."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from budgeted_quality import budgeted_job, summarise_budgeted  # noqa: E402
from interacting_problems import CELL_OPS, additive_r2, cell_accuracy, cell_live_edges  # noqa: E402
from quality_problems import BUDGET_QUANTILES, make_problem  # noqa: E402

NONE, SKIP, CONV1, CONV3, POOL = range(len(CELL_OPS))


@pytest.fixture(scope="module")
def cell():
    return make_problem("cell-1")


@pytest.fixture(scope="module")
def mixed():
    return make_problem("mixed-1")


def test_cell_paths_cut_by_none(cell):
    # edges: 0->1, 0->2, 1->2, 0->3, 1->3, 2->3; with 0->1 none, edges 1->2 and 1->3 carry nothing
    base = (NONE, CONV3, CONV3, SKIP, CONV3, CONV3)
    dead_variant = (NONE, CONV3, SKIP, SKIP, NONE, CONV3)
    assert cell.true[cell.index(base)] == pytest.approx(cell.true[cell.index(dead_variant)])
    assert cell.labels[cell.index(base)] == cell.labels[cell.index(dead_variant)]
    costs = cell.cost_arrays()["conv_macs_m"]
    assert costs[cell.index(base)] > costs[cell.index(dead_variant)]
    live, connected = cell_live_edges(np.array([base, (NONE, NONE, NONE, NONE, CONV3, CONV3)]))
    assert live[0].tolist() == [False, True, False, True, False, True] and connected.tolist() == [True, False]
    assert cell.true[cell.index((NONE, NONE, NONE, NONE, CONV3, CONV3))] == pytest.approx(0.10)
    # depth helps: a chain of convolutions beats a single skip connection
    chain, shortcut = (CONV3, NONE, CONV3, SKIP, NONE, CONV3), (NONE, NONE, NONE, SKIP, NONE, NONE)
    assert cell.true[cell.index(chain)] > cell.true[cell.index(shortcut)] + 0.2
    every_cell = np.array(np.unravel_index(np.arange(len(cell.true)), cell.sizes)).T
    np.testing.assert_array_equal(cell_accuracy(every_cell, 1), cell.true)  # deterministic from the seed
    assert not np.array_equal(cell_accuracy(every_cell, 2), cell.true)


def test_interacting_problems_are_far_from_additive(cell, mixed):
    for problem in (cell, mixed):
        r2 = additive_r2(problem.sizes, problem.true)
        assert 0.2 < r2 < 0.65, (problem.name, r2)
    assert len(mixed.true) == 62208 and sorted(set(mixed.sizes)) == [2, 3, 4, 6]
    assert np.mean(mixed.true <= 0.1 + 1e-12) > 0.05  # diverged settings score at chance


def test_budgets_and_rank_under_a_budget(cell):
    budgets = cell.budgets()
    values = [b["conv_macs_m"] for b in budgets]
    assert len(budgets) == len(BUDGET_QUANTILES) and values == sorted(values)
    costs = cell.cost_arrays()["conv_macs_m"]
    tight = budgets[0]
    ok = costs <= tight["conv_macs_m"]
    best = int(np.flatnonzero(ok)[np.argmax(cell.true[ok])])
    architecture = tuple(int(k) for k in np.unravel_index(best, cell.sizes))
    assert cell.index(architecture) == best and cell.rank_under(architecture, tight) == 1
    assert cell.rank_under(architecture, {"conv_macs_m": 1e9}) == cell.rank(architecture)
    assert cell.rank_under((CONV3,) * 6, tight) is None
    # ranks count distinct networks: equal networks share a rank, the worst feasible rank is the distinct count
    ranking = cell.feasible_sorted_true(tight)
    assert len(ranking) == len(np.unique(cell.labels[ok])) < ok.sum()


def test_budgeted_job_picks_meet_their_budgets_and_are_summarised(mixed):
    rows = budgeted_job(("mixed-1", "ddpnas", 1, 0)) + budgeted_job(("mixed-1", "random", 1, 0))
    methods = ["default", "theta-eng", "own-best", "random"]
    assert {r["method"] for r in rows} == set(methods)
    for r in rows:
        assert r["evaluations"] == 20
        if r["rank"] is not None:
            assert mixed.feasible(r["budget"])[mixed.index(r["architecture"])]
            assert r["accuracy"] <= r["best_feasible"]
    table = summarise_budgeted(rows, methods, BUDGET_QUANTILES)
    assert len(table) == len(mixed.budgets()) * len(methods)
    for entry in table:
        if entry["method"] != "default":
            assert 0 <= entry["default_wins_or_ties"] <= 1
    own = [r for r in rows if r["method"] == "own-best"]
    assert sum(r["rank"] is None for r in own) < len(own)


def test_default_with_budgets_told_answers_every_budget_within_it(mixed):
    rows = budgeted_job(("mixed-1", "default+budgets", 1, 0))
    assert {r["method"] for r in rows} == {"default+budgets"} and len(rows) == len(mixed.budgets())
    for r in rows:
        assert r["evaluations"] == 20 and r["rank"] is not None
        assert mixed.feasible(r["budget"])[mixed.index(r["architecture"])]


def test_reuse_peers_takes_only_peer_runs_it_holds(tmp_path):
    import json

    from search_quality import reuse_peers

    runs = [{"problem": "cell-1", "method": m, "rounds": 10, "seed": s, "rank": 1} for m in ("joint", "rea") for s in (0, 1)]
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"runs": runs}))
    jobs = [("cell-1", m, 10, s) for m in ("joint", "rea", "tpe") for s in (0, 1)]
    reused, left = reuse_peers([path], jobs, seeds=2)
    assert [(r["method"], r["seed"]) for r in reused] == [("rea", 0), ("rea", 1)]
    assert left == [j for j in jobs if j[1] != "rea"]  # joint uses ddp-core: never reused


def test_a_search_given_costs_does_not_re_score_a_noise_free_benchmark():
    """mixed-1 is noise-free: after the one noise check per run, no round of a search that spreads its targets
    over the cost range re-scores a network (late stages, where every one-decision change of a budget's best
    network was evaluated, used to re-score it: 11-15 of 200 evaluations)."""
    from peers import rescored, run_ddpnas

    problem = make_problem("mixed-1")
    for seed in (0, 1):
        search = run_ddpnas(problem, "joint", 10, seed, costs=problem.cost_tables)
        assert rescored([(r.architecture, r.score) for r in search.record.records]) <= 1, seed
