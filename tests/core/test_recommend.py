"""The recommended network per budget: exact against brute force, every budget of the space answered."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from ddp_core import CostTable, DDPSearch, Decision, Requires, SearchConfig, SearchSpace, generate
from ddp_core.generation import InfeasibleBudget
from ddp_core.quality import QualityModel
from ddp_core.recommend import CountConstraint, maximise_pairwise, recommend


def flat_space(sizes):
    return SearchSpace([Decision(f"d{e}", [f"c{k}" for k in range(s)]) for e, s in enumerate(sizes)])


def conditional_space():
    depth = Decision("depth", ["1", "2", "3"])
    layers = [Decision(f"w{i}", ["s", "m", "l"], requires=Requires("depth", tuple(str(d) for d in range(i + 1, 4))))
              for i in range(3)]
    return SearchSpace([depth, *layers, Decision("act", ["relu", "gelu"])])


def random_tables(space, rng, count=2):
    return {f"cost{j}": CostTable(f"cost{j}", float(rng.uniform(0, 2)),
                                  [rng.uniform(0, 5, size=s).round(2).tolist() for s in space.sizes])
            for j in range(count)}


def encoded_objective(space, unary, pair, offsets, architecture):
    model = QualityModel(space)
    ids = offsets + model.encoded([architecture])[0]
    return unary[ids].sum() + np.triu(pair[np.ix_(ids, ids)], 1).sum()


def random_pairwise(space, rng, scale=0.7):
    model = QualityModel(space)
    n = model.num_encoded
    unary = rng.normal(size=n)
    pair = rng.normal(size=(n, n)) * scale
    pair = (pair + pair.T) / 2
    for e in range(space.num_decisions):
        block = slice(model.encoded_offsets[e], model.encoded_offsets[e] + model.encoded_sizes[e])
        pair[block, block] = 0.0
    return unary, pair, model.encoded_offsets


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("make_space", [lambda: flat_space([3, 2, 4, 3, 3, 2]), conditional_space])
def test_branch_and_bound_is_exact_under_budgets_counts_masks_and_exclusions(seed, make_space):
    space = make_space()
    rng = np.random.default_rng(seed)
    unary, pair, offsets = random_pairwise(space, rng)
    costs = random_tables(space, rng)
    everything = list(itertools.product(*[range(s) for s in space.sizes]))
    values = np.array([encoded_objective(space, unary, pair, offsets, a) for a in everything])
    spent = np.array([[costs[n](space, a) for n in costs] for a in everything])
    allowed = space.full_mask()
    allowed[1, 0] = False
    canonical = QualityModel(space).canonical_of  # one tuple per network (inactive decisions alike)
    exclude = {canonical(everything[i]) for i in rng.choice(len(everything), 20, replace=False)}
    counts = [CountConstraint((1, 2, 3), ((0,), (0,), (0,)), 1, 2)] if space.num_decisions == 6 else []
    budgets = [{}, {"cost0": float(np.quantile(spent[:, 0], 0.3))},
               {"cost0": float(np.quantile(spent[:, 0], 0.6)), "cost1": float(np.quantile(spent[:, 1], 0.5))},
               {"cost1": float(spent[:, 1].min()) - 1.0}]
    found = maximise_pairwise(space, unary, pair, offsets, costs, budgets, allowed=allowed, count_constraints=counts,
                              exclude=exclude, time_limit_s=None)
    archs = np.array(everything)
    ok = np.array([all(allowed[e, k] for e, k in enumerate(a) if space.active_mask(a)[e])
                   and canonical(a) not in exclude for a in everything])
    for c in counts:
        ok &= np.isin(archs[:, list(c.decisions)], [0]).sum(axis=1) >= c.minimum
        ok &= np.isin(archs[:, list(c.decisions)], [0]).sum(axis=1) <= c.maximum
    for budget, answer in zip(budgets, found, strict=True):
        feasible = ok.copy()
        for j, name in enumerate(costs):
            if name in budget:
                feasible &= spent[:, j] <= budget[name] + 1e-9
        assert answer.proven
        if not feasible.any():
            assert answer.architecture is None
            continue
        best = values[feasible].max()
        assert answer.value == pytest.approx(best, abs=1e-9)
        i = everything.index(answer.architecture)
        assert feasible[i] and values[i] == pytest.approx(best, abs=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_branch_and_bound_is_exact_under_disjoint_exact_counts_and_an_overlapping_one(seed):
    """The DARTS rule's shape: disjoint groups with exactly two "not none" each (kept in the bound), plus a count
    crossing groups or over whole groups (N non-parametric ops), under a budget."""
    space = flat_space([3, 3, 3, 3, 3, 3, 3])
    rng = np.random.default_rng(100 + seed)
    unary, pair, offsets = random_pairwise(space, rng)
    costs = random_tables(space, rng, count=1)
    some = ((1, 2),) * 3
    counts = [CountConstraint((0, 1, 2), some, 2, 2), CountConstraint((3, 4, 5, 6), ((1, 2),) * 4, 2, 2),
              CountConstraint((2, 3, 4), ((2,),) * 3, 0, 1)]
    if seed % 2:  # a count over whole groups (DARTS: N non-parametric ops over a cell's nodes), exactly
        counts[2] = CountConstraint((0, 1, 2, 3, 4, 5, 6), ((2,),) * 7, 1 + seed % 3, 1 + seed % 3)
    everything = list(itertools.product(*[range(s) for s in space.sizes]))
    archs = np.array(everything)
    values = np.array([encoded_objective(space, unary, pair, offsets, a) for a in everything])
    spent = np.array([costs["cost0"](space, a) for a in everything])
    ok = np.ones(len(everything), dtype=bool)
    for c in counts:
        hits = sum(np.isin(archs[:, e], cands) for e, cands in zip(c.decisions, c.candidates, strict=True))
        ok &= (hits >= c.minimum) & (hits <= c.maximum)
    budgets = [{}, {"cost0": float(np.quantile(spent[ok], 0.2))}, {"cost0": float(spent[ok].min()) - 1e-3}]
    found = maximise_pairwise(space, unary, pair, offsets, costs, budgets, count_constraints=counts,
                              time_limit_s=None)
    for budget, answer in zip(budgets, found, strict=True):
        feasible = ok & (spent <= budget.get("cost0", np.inf) + 1e-9)
        assert answer.proven
        if not feasible.any():
            assert answer.architecture is None
            continue
        assert answer.value == pytest.approx(values[feasible].max(), abs=1e-9)
        assert feasible[everything.index(answer.architecture)]


def fitted_model(space, seed, n=60, noise=0.0):
    rng = np.random.default_rng(seed)
    truth = {a: rng.normal() for a in itertools.product(*[range(s) for s in space.sizes])}
    archs = [tuple(int(rng.integers(s)) for s in space.sizes) for _ in range(n)]
    scores = [truth[a] + noise * rng.normal() for a in archs]
    model = QualityModel(space)
    model.update(archs, scores, [i * 3 // n for i in range(n)])
    return model.fit()


@pytest.mark.parametrize("seed", range(4))
def test_recommend_is_the_argmax_of_the_estimate_and_never_below_the_best_evaluated(seed):
    space = conditional_space() if seed % 2 else flat_space([3, 3, 2, 4, 3])
    model = fitted_model(space, seed, noise=0.3 * (seed % 2))
    rng = np.random.default_rng(100 + seed)
    costs = random_tables(space, rng, 1)
    everything = list(itertools.product(*[range(s) for s in space.sizes]))
    keys, estimates, _ = model.estimates()
    known = {model.canonical_of(k): e for k, e in zip(keys, estimates, strict=True)}
    objective = np.array([known.get(model.canonical_of(a), p)
                          for a, p in zip(everything, model.predict(everything), strict=True)])
    spent = np.array([costs["cost0"](space, a) for a in everything])
    budgets = [{}] + [{"cost0": float(np.quantile(spent, q))} for q in (0.05, 0.25, 0.5, 0.9)]
    for budget, rec in zip(budgets, recommend(space, model, costs, budgets, time_limit_s=None), strict=True):
        feasible = spent <= budget.get("cost0", np.inf) + 1e-9
        assert rec.estimate == pytest.approx(objective[feasible].max(), abs=1e-9)
        evaluated = [known[model.canonical_of(a)] for a in keys
                     if costs["cost0"](space, a) <= budget.get("cost0", np.inf) + 1e-9]
        if evaluated:
            assert rec.estimate >= max(evaluated) - 1e-12
            assert rec.best_evaluated_estimate == pytest.approx(max(evaluated))
        assert (rec.source == "evaluated") == (model.canonical_of(rec.architecture) in model.canonical)


def run_search(space, value, seed=0, rounds=4, **space_options):
    search = DDPSearch(space, config=SearchConfig(rounds_per_stage=rounds, seed=seed), higher_is_better=True)
    while not search.finished:
        for a in search.ask():
            search.tell(a, value(a))
    return search.result()


def test_generate_answers_every_budget_the_whole_space_meets_after_pruning_to_one_network():
    space = flat_space([4, 4, 3, 3, 2])
    rng = np.random.default_rng(7)
    table = {a: rng.normal() for a in itertools.product(*[range(s) for s in space.sizes])}
    result = run_search(space, lambda a: table[a])
    assert result.distribution.live.sum(axis=1).max() == 1  # pruned to one network
    costs = random_tables(space, rng, 1)
    everything = list(table)
    spent = np.array([costs["cost0"](space, a) for a in everything])
    quantiles = [float(np.quantile(spent, q)) for q in (0.1, 0.25, 0.5, 0.75)]
    answers = result.generate(costs, [{"cost0": b} for b in quantiles] + [{"cost0": float(spent.min()) - 0.5}])
    for budget, answer in zip(quantiles, answers[:4], strict=True):
        assert answer.feasible and answer.costs["cost0"] <= budget + 1e-9
        assert answer.source in ("model", "evaluated") and answer.how
        assert answer.proven_optimal
        best = answer.alternatives["best_evaluated"]
        if best is not None:
            assert answer.estimate >= best["estimate"] - 1e-12
        if answer.source == "model" and best is not None:  # the how line gives what the comparison used
            score = float(re.search(r"predicted score (\S+) ", answer.how).group(1))
            estimate = float(re.search(r"\(estimate (\S+), its scores weighed", answer.how).group(1))
            assert score >= estimate - 1e-3, answer.how
    infeasible = answers[4]
    assert isinstance(infeasible, InfeasibleBudget)
    assert infeasible.smallest["cost0"] == pytest.approx(spent.min())
    # the live space alone could not answer these: the old default
    live_only = generate(space, result.distribution, costs, [{"cost0": b} for b in quantiles], on_infeasible="report")
    assert any(not a.feasible for a in live_only)


def test_theta_eng_is_eq_10_and_the_default_of_the_paper_preset():
    space = flat_space([3, 3, 2])
    rng = np.random.default_rng(9)
    table = {a: rng.normal() for a in itertools.product(*[range(s) for s in space.sizes])}
    search = DDPSearch(space, config=SearchConfig(utility="paper", rounds_per_stage=3, seed=1, temperature=1.0),
                       higher_is_better=True)
    while not search.finished:
        for a in search.ask():
            search.tell(a, table[a])
    result = search.result()
    costs = random_tables(space, rng, 1)
    budget = {"cost0": float(np.median([costs["cost0"](space, a) for a in table]))}
    ours = result.generate(costs, budget)
    reference = generate(space, result.distribution, costs, budget, live_only=False)
    assert ours.source == "theta" and ours.architecture == reference.architecture
    model_answer = result.generate(costs, budget, eng="model")
    assert model_answer.source in ("model", "evaluated")
    with pytest.raises(ValueError, match="eng must be one of"):
        result.generate(costs, budget, eng="magic")
