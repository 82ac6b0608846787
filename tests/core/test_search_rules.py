"""Counting rules for a search's budgeted targets (``DDPSearch(count_constraints=...)``, issue 15): with the DARTS
cell rule the networks the search evaluates for its budgets are genotypes, the networks ENG answers with."""

import numpy as np
import pytest

from ddp_core import (
    CostTable,
    DDPSearch,
    Decision,
    RunDirectoryError,
    SearchConfig,
    SearchSpace,
    search_budgets,
)
from ddp_core.infeasibility import InfeasibleBudgetError
from ddp_core.recommend import CountConstraint
from ddp_core.search_rules import check_rules, sample_obeying

STEPS = 3
OPS = ["none", "skip", "conv3", "conv5", "pool"]
EDGES = [(node, j) for node in range(STEPS) for j in range(node + 2)]  # 2 + 3 + 4 incoming edges


def cell_space():
    """Two DARTS-like cells (9 edges each, 5 ops with ``none``) and the rule: two non-none inputs per node."""
    space = SearchSpace([Decision(f"{cell}{i}", OPS) for cell in "nr" for i in range(len(EDGES))])
    rules = []
    for cell in range(2):
        for node in range(STEPS):
            incoming = tuple(cell * len(EDGES) + i for i, (n, _) in enumerate(EDGES) if n == node)
            rules.append(CountConstraint(incoming, tuple((1, 2, 3, 4) for _ in incoming), 2, 2))
    params = np.zeros((space.num_decisions, len(OPS)))
    params[:, 2], params[:, 3] = 1.0, 2.5
    return space, rules, {"params_m": CostTable("params_m", 0.5, params.tolist())}


def score(architecture):
    rng = np.random.default_rng([3, *architecture])
    return 0.3 + 0.02 * sum(min(k, 3) for k in architecture) + 0.01 * rng.standard_normal()


def obeys(rules, architecture):
    return all(rule.minimum <= sum(architecture[e] in cands for e, cands in zip(rule.decisions, rule.candidates,
                                                                                strict=True)) <= rule.maximum
               for rule in rules)


def drive(search, stop_after=None):
    asked = []
    while not search.finished:
        for architecture in search.ask():
            if stop_after is not None and len(asked) == stop_after:
                search.close()
                return asked
            asked.append(architecture)
            search.tell(architecture, score(architecture))
    search.close()
    return asked


def test_sampled_architectures_obey_every_rule_and_cover_its_counts():
    space, rules, _ = cell_space()
    ranged = rules[:-1] + [CountConstraint(rules[-1].decisions, rules[-1].candidates, 1, 3)]
    archs = sample_obeying(space, tuple(ranged), np.random.default_rng(0), 2000)
    assert all(obeys(ranged, tuple(a)) for a in archs)
    last = ranged[-1]
    counts = {int(sum(np.isin(a[e], c) for e, c in zip(last.decisions, last.candidates, strict=True))) for a in archs}
    assert counts == {1, 2, 3}
    assert len({tuple(a) for a in archs}) > 1900  # random, not one repeated network


def test_spread_targets_are_genotypes_inside_their_budgets(monkeypatch):
    """Without rules hardly any sampled path obeys the DARTS rule; with them every budgeted target does, meets
    its budget, and the spread's range is that of genotypes (cheaper than random paths)."""
    space, rules, costs = cell_space()
    plain = DDPSearch(space, config=SearchConfig(seed=2, rounds_per_stage=4), higher_is_better=True, costs=costs)
    ruled = DDPSearch(space, config=SearchConfig(seed=2, rounds_per_stage=4), higher_is_better=True, costs=costs,
                      count_constraints=rules)
    assert np.median(ruled.budgets.spread["params_m"]) < np.median(plain.budgets.spread["params_m"])
    seen = []
    original = search_budgets.targets
    monkeypatch.setattr(search_budgets, "targets", lambda *a, **k: seen.append((a[7], original(*a, **k))) or seen[-1][1])
    served = 0
    while not ruled.finished:
        before = len(seen)
        waiting = ruled.ask()
        if len(seen) > before:
            drawn, (chosen, _, _, slot_budgets) = seen[-1]
            for slot, (target, b) in enumerate(zip(chosen, slot_budgets, strict=False)):
                if target is None or b is None:
                    continue
                served += 1
                assert ruled.pending[slot] == target and obeys(rules, target)
                (name, value), = drawn.budgets[b].items()
                assert costs[name].fixed + sum(costs[name].per_candidate[e][k] for e, k in enumerate(target)) <= value
        for architecture in waiting:
            ruled.tell(architecture, score(architecture))
    assert served >= 5
    evaluated = [r.architecture for r in ruled.record.records]
    without = drive(plain)
    assert sum(obeys(rules, a) for a in evaluated) >= served
    assert sum(obeys(rules, a) for a in without) < served


def test_budgets_under_rules_are_checked_and_served(tmp_path):
    space, rules, costs = cell_space()
    with pytest.raises(InfeasibleBudgetError, match=r"params_m <= 0\.4.*smallest achievable params_m is 0\.5"):
        DDPSearch(space, config=SearchConfig(budgets=[{"params_m": 0.4}]), higher_is_better=True, costs=costs,
                  count_constraints=rules)
    # every op but none costs 0.1: all-none paths cost 0.5, but a genotype keeps 2 ops at each of 6 nodes: 1.7
    priced = np.array(costs["params_m"].per_candidate) + np.array([0.0, 0.1, 0.1, 0.1, 0.1])[None, :]
    with pytest.raises(InfeasibleBudgetError, match=r"params_m <= 1\.6 is below the smallest params_m of any "
                       r"architecture obeying the search's rules \(1\.7\)"):
        DDPSearch(space, config=SearchConfig(budgets=[{"params_m": 1.6}]), higher_is_better=True,
                  costs={"params_m": CostTable("params_m", 0.5, priced.tolist())}, count_constraints=rules)
    budgets = [{"params_m": 3.0}]
    search = DDPSearch(space, config=SearchConfig(seed=1, budgets=budgets, rounds_per_stage=3), higher_is_better=True,
                       costs=costs, count_constraints=rules, run_dir=tmp_path)
    first = drive(search, stop_after=30)
    with pytest.raises(RunDirectoryError, match="count constraints given to the search"):
        DDPSearch(space, config=SearchConfig(seed=1, budgets=budgets, rounds_per_stage=3), higher_is_better=True,
                  costs=costs, run_dir=tmp_path)
    resumed = DDPSearch(space, config=SearchConfig(seed=1, budgets=budgets, rounds_per_stage=3),
                        higher_is_better=True, costs=costs, count_constraints=rules, run_dir=tmp_path)
    rest = drive(resumed)
    whole = drive(DDPSearch(space, config=SearchConfig(seed=1, budgets=budgets, rounds_per_stage=3),
                            higher_is_better=True, costs=costs, count_constraints=rules))
    assert first + rest == whole
    inside = [a for a in whole if obeys(rules, a) and 0.5 + sum(costs["params_m"].per_candidate[e][k]
                                                               for e, k in enumerate(a)) <= 3.0]
    assert len(inside) >= 8  # the round robin's target slots: genotypes that meet the budget
    answer = resumed.result().generate(costs, budgets, count_constraints=rules)[0]
    assert obeys(rules, answer.architecture) and answer.costs["params_m"] <= 3.0


@pytest.mark.parametrize("bad, message", [
    ([CountConstraint((0, 1), ((1,), (1,)), 1, 1), CountConstraint((1, 2), ((1,), (1,)), 1, 1)], "also in another"),
    ([CountConstraint((0, 1), ((1,),), 1, 1)], "one candidate set per decision"),
    ([CountConstraint((0, 1), ((1,), (9,)), 1, 1)], "not in the space"),
    ([CountConstraint((0, 1), ((1,), (1,)), 3, 3)], "no assignment of its 2 decisions"),
    (["two inputs"], "must be ddp_core.recommend.CountConstraint"),
])
def test_bad_rules_are_refused_in_one_line(bad, message):
    space, _, costs = cell_space()
    with pytest.raises(ValueError, match=message):
        check_rules(space, bad)
    with pytest.raises(ValueError, match=message):
        DDPSearch(space, higher_is_better=True, costs=costs, count_constraints=bad)


def test_rules_without_costs_are_refused_and_the_top_level_name_works():
    import ddp_core

    space, rules, _ = cell_space()
    assert ddp_core.CountConstraint is CountConstraint
    with pytest.raises(ValueError, match="count_constraints shape the targets of budgets, which need costs"):
        DDPSearch(space, higher_is_better=True, count_constraints=rules)
