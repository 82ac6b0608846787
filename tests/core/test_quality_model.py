"""The default preset's model of quality: sufficient statistics, the explicit pairwise form, interactions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ddp_core import DDPSearch, Decision, Requires, SearchConfig, SearchSpace
from ddp_core.joint import ModelCache, repair_round
from ddp_core.model import normal_scores
from ddp_core.quality import QualityModel


def flat_space(sizes):
    return SearchSpace([Decision(f"d{e}", [f"c{k}" for k in range(s)]) for e, s in enumerate(sizes)])


def conditional_space():
    depth = Decision("depth", ["2", "3", "4"])
    layers = [Decision(f"layer{i}", ["a", "b", "c"], requires=Requires("depth", tuple(str(d) for d in range(i + 1, 5))
                                                                        if i >= 2 else ("2", "3", "4")))
              for i in range(4)]
    return SearchSpace([depth, *layers, Decision("head", ["x", "y"])])


def pairwise_landscape(sizes, seed, strength=0.6):
    rng = np.random.default_rng(seed)
    unary = [rng.normal(size=s) for s in sizes]
    pairs = {(e, f): rng.normal(size=(sizes[e], sizes[f])) * strength
             for e in range(len(sizes)) for f in range(e + 1, len(sizes))}

    def value(a):
        return sum(unary[e][a[e]] for e in range(len(sizes))) + sum(p[a[e], a[f]] for (e, f), p in pairs.items())
    return value


def random_archs(space, n, rng):
    return [tuple(int(rng.integers(s)) for s in space.sizes) for _ in range(n)]


def test_sufficient_statistics_match_the_design_and_do_not_depend_on_batching():
    space = conditional_space()
    rng = np.random.default_rng(0)
    archs = random_archs(space, 300, rng)
    scores = rng.normal(size=300)
    stages = np.repeat(np.arange(3), 100)
    whole = QualityModel(space)
    whole.update(archs, scores, stages)  # one bulk update (the vectorised path)
    pieces = QualityModel(space)
    for start in range(0, 300, 7):  # round-sized updates (the per-record path)
        pieces.update(archs[start:start + 7], scores[start:start + 7], stages[start:start + 7])
    features = whole.feature_indices(archs)
    design = np.zeros((300, whole.num_features))
    rows, cols = np.nonzero(features >= 0)
    design[rows, features[rows, cols]] = 1.0
    np.testing.assert_allclose(whole._gram_features, design.T @ design)
    np.testing.assert_allclose(pieces._gram_features, design.T @ design)
    whole.fit()
    pieces.fit()
    np.testing.assert_allclose(whole.coefficients, pieces.coefficients, atol=1e-10)
    np.testing.assert_allclose(whole.predict(archs[:20]), pieces.predict(archs[:20]), atol=1e-10)


def test_the_additive_part_is_the_ridge_solution_with_free_stage_intercepts(monkeypatch):
    monkeypatch.setattr("ddp_core.quality.STAGE_LEVELS", "free")  # the ablation keeps the old fit exactly
    space = flat_space([3, 4, 2])
    rng = np.random.default_rng(1)
    archs = random_archs(space, 80, rng)
    scores = rng.normal(size=80)
    stages = np.repeat([0, 1], 40)
    model = QualityModel(space, ridge=1.0)
    model.update(archs, scores, stages)
    model.fit()
    z = normal_scores(scores)
    x = np.zeros((80, 9))
    for i, a in enumerate(archs):
        for e, k in enumerate(a):
            x[i, model.offsets[e] + k] = 1.0
    blocks = np.eye(2)[stages]
    design = np.hstack([x, blocks])
    penalty = np.diag(np.r_[np.ones(9), 1e-6, 1e-6])
    expected = np.linalg.solve(design.T @ design + penalty, design.T @ z)
    np.testing.assert_allclose(model.coefficients, expected[:9], atol=1e-8)


@pytest.mark.parametrize("make_space", [lambda: flat_space([3, 2, 4, 3, 2]), conditional_space])
def test_the_explicit_pairwise_form_reproduces_every_prediction(make_space):
    space = make_space()
    rng = np.random.default_rng(2)
    value = pairwise_landscape(space.sizes, 3)
    archs = random_archs(space, 150, rng)
    model = QualityModel(space)
    model.update(archs, [value(a) for a in archs], [0] * 150)
    model.fit()
    model.shares, model._hyper_points = (0.1, 0.5), len(model.points)  # nonzero linear and pairwise terms
    model._fit_interactions()
    assert model.s_pairwise > 0 and model.s_linear > 0
    unary, pair = model.pairwise()
    queries = random_archs(space, 40, rng)
    for a, predicted in zip(queries, model.predict(queries), strict=True):
        ids = model.encoded_offsets + model.encoded([a])[0]
        explicit = unary[ids].sum() + sum(pair[ids[i], ids[j]] for i in range(len(ids)) for j in range(i + 1, len(ids)))
        assert explicit == pytest.approx(predicted, abs=1e-9)


def test_interactions_predict_an_interacting_landscape_better_than_the_additive_part():
    space = flat_space([4] * 7)
    rng = np.random.default_rng(4)
    value = pairwise_landscape(space.sizes, 5, strength=0.5)
    archs = random_archs(space, 400, rng)
    model = QualityModel(space)
    model.update(archs, [value(a) for a in archs], [0] * 400)
    model.fit()
    held_out = random_archs(space, 500, rng)
    truth = np.array([value(a) for a in held_out])
    full = np.corrcoef(truth, model.predict(held_out))[0, 1]
    additive = np.corrcoef(truth, model.additive(held_out))[0, 1]
    assert full > additive + 0.1, (full, additive)


def test_estimates_are_blind_to_the_units_of_the_scores():
    space = flat_space([3, 3, 3, 3])
    rng = np.random.default_rng(6)
    value = pairwise_landscape(space.sizes, 7)
    archs = random_archs(space, 60, rng) * 2  # repeats measure the noise
    scores = np.array([value(a) for a in archs]) + rng.normal(size=120) * 0.3
    a = QualityModel(space)
    a.update(archs, scores, [0] * 120)
    b = QualityModel(space)
    b.update(archs, scores * 100 + 7, [0] * 120)
    ka, ea, _ = a.fit().estimates()
    kb, eb, _ = b.fit().estimates()
    assert ka == kb
    np.testing.assert_allclose(ea, eb, atol=1e-9)
    assert a.noise > 0


def test_without_noise_an_evaluated_estimate_is_what_was_measured_in_rank():
    """No repeated score, no measured noise: to the search (optimistic), the best evaluated architecture keeps the
    best estimate; once repeats agree exactly, so does the answer."""
    space = flat_space([3, 3, 3, 3, 3])
    rng = np.random.default_rng(8)
    value = pairwise_landscape(space.sizes, 9)
    archs = list(dict.fromkeys(random_archs(space, 90, rng)))
    scores = [value(a) for a in archs]
    model = QualityModel(space)
    model.update(archs, scores, [0] * len(archs))
    keys, estimates, _ = model.fit().estimates(optimistic=True)
    assert keys[int(np.argmax(estimates))] == archs[int(np.argmax(scores))]
    assert model.answer_noise > 0  # no repeat yet: the answer does not trust a single score fully
    model.update(archs[:5], scores[:5], [0] * 5)  # repeats that agree exactly: the scores are noise-free
    keys, estimates, _ = model.fit().estimates()
    assert model.answer_noise == 0.0
    assert keys[int(np.argmax(estimates))] == archs[int(np.argmax(scores))]


def test_the_answer_does_not_trust_a_lucky_single_score():
    """One network scored once far above what the model predicts for it: the search's optimistic estimate ranks it
    first, the answer's estimate (noise shrunk toward the residual variance, no repeats) weighs it against the
    model, and ranks below it an architecture the model and two agreeing scores support."""
    space = flat_space([3, 3, 3, 3, 3])
    rng = np.random.default_rng(3)
    effects = rng.normal(size=(5, 3))
    archs = list(dict.fromkeys(random_archs(space, 80, rng)))

    def value(a):
        return float(sum(effects[e, k] for e, k in enumerate(a)))
    scores = [value(a) + rng.normal() * 0.5 for a in archs]
    lucky = min(archs, key=value)  # the model's worst network gets the best score of all, once
    scores[archs.index(lucky)] = max(scores) + 2.0
    model = QualityModel(space)
    model.update(archs, scores, [0] * len(archs))
    model.fit()
    keys, optimistic, _ = model.estimates(optimistic=True)
    keys, answer, _ = model.estimates()
    assert model.answer_noise > model.noise
    assert answer[keys.index(lucky)] < optimistic[keys.index(lucky)]
    assert keys[int(np.argmax(answer))] != lucky


def test_repair_round_keeps_every_column_and_stops_accidental_rescores():
    space = flat_space([3, 3, 3, 3])
    rng = np.random.default_rng(10)
    evaluated = set(random_archs(space, 40, rng))
    before = after = 0
    for _ in range(30):
        columns = [rng.permutation(3) for _ in range(4)]
        round_ = [tuple(int(c[r]) for c in columns) for r in range(3)]
        repaired = repair_round(space, round_, evaluated, set(), rng)
        for e in range(4):
            assert sorted(a[e] for a in repaired) == sorted(a[e] for a in round_)
        assert len(set(repaired)) == 3
        before += sum(a in evaluated for a in round_)
        after += sum(a in evaluated for a in repaired)
    assert before > 10 and after == 0, (before, after)
    # a slot kept on purpose (a deliberate re-score) is left alone
    kept = next(iter(evaluated))
    others = [tuple((k + 1) % 3 for k in kept), tuple((k + 2) % 3 for k in kept)]
    repaired = repair_round(space, [kept, *others], evaluated, {0}, rng)
    assert repaired[0] == kept


def test_a_noise_free_search_never_rescores_by_accident():
    space = flat_space([4, 4, 3, 3, 2, 2])
    value = pairwise_landscape(space.sizes, 11, strength=0.8)
    search = DDPSearch(space, config=SearchConfig(rounds_per_stage=6, seed=3), higher_is_better=True)
    while not search.finished:
        for a in search.ask():
            search.tell(a, value(a))
    archs = [r.architecture for r in search.record.records]
    repeats = len(archs) - len(set(archs))
    # at most the one deliberate re-score per stage that measures the noise (then never: it measured zero)
    assert repeats <= 1, repeats
    total = int(np.prod(space.sizes))
    assert len(archs) < total


def test_model_cache_refits_as_records_arrive():
    space = flat_space([3, 3])
    search = DDPSearch(space, config=SearchConfig(rounds_per_stage=2, seed=0), higher_is_better=False)
    cache = ModelCache(space, higher_is_better=False)
    assert cache.get(search.record) is None
    for a, s in zip(itertools.product(range(3), range(3)), np.arange(9.0), strict=False):
        search.record.add(0, 0, a, s)
    model = cache.get(search.record)
    assert model.num_records == 9
    # lower is better: the smallest score is the best estimate
    keys, estimates, _ = model.estimates()
    assert keys[int(np.argmax(estimates))] == (0, 0)
