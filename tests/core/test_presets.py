"""The three presets, pinned: paper (Eq. 3-5) and authors (the released XNAS code) by hand-computed numbers and
an independent re-implementation; joint by its pieces (normal scores, ridge effects, answer) and its promises
(scale-free, elitist, ends inside the evaluated evidence)."""

import math
import warnings

import numpy as np
import pytest

from ddp_core import DDPSearch, Decision, PerformanceRecord, SearchConfig, SearchSpace, normal_scores
from ddp_core.model import AdditiveModel, inverse_normal_cdf
from ddp_core.presets import authors_renormalize, authors_update, joint_answer, paper_update


def two_by_two():
    return SearchSpace([Decision("a", ["x", "y"]), Decision("b", ["x", "y"])])


def test_paper_update_by_hand():
    space = two_by_two()
    record = PerformanceRecord(space)
    record.add(0, 0, (0, 1), 0.8)
    record.add(0, 0, (1, 0), 0.6)
    live = space.full_mask()
    theta = np.full((2, 2), 0.5)
    update = paper_update(record, 0, live, theta, np.zeros((2, 2)), higher_is_better=True, momentum=0.9,
                          temperature=0.01, normalization="sum", space=space)
    # U[a] = [0.8, 0.6], U[b] = [0.6, 0.8]; softmax(U / 0.01) = [1 / (1 + e^-20), e^-20 / (1 + e^-20)]
    high = 1 / (1 + math.exp(-20))
    velocity = 0.1 * np.array([[high, 1 - high], [1 - high, high]])
    assert update.velocity == pytest.approx(velocity, abs=1e-15)
    assert update.theta == pytest.approx((0.5 + velocity) / 1.1, abs=1e-15)
    assert not update.protected.any()


def test_paper_warns_when_percent_scores_make_theta_tie():
    space = SearchSpace([Decision("a", ["x", "y", "z"])])
    record = PerformanceRecord(space)
    for k, score in enumerate((91.0, 85.0, 80.0)):  # percent with τ = 0.01: e^-600 underflows to 0
        record.add(0, 0, (k,), score)
    with pytest.warns(RuntimeWarning, match="saturates.*--temperature 1"):
        paper_update(record, 0, space.full_mask(), np.full((1, 3), 1 / 3), np.zeros((1, 3)), higher_is_better=True,
                     momentum=0.9, temperature=0.01, normalization="sum", space=space)
    record = PerformanceRecord(space)
    for k, score in enumerate((0.91, 0.85, 0.80)):  # the same run in [0, 1]: no tie, no warning
        record.add(0, 0, (k,), score)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paper_update(record, 0, space.full_mask(), np.full((1, 3), 1 / 3), np.zeros((1, 3)), higher_is_better=True,
                     momentum=0.9, temperature=0.01, normalization="sum", space=space)


def test_authors_update_by_hand():
    space = SearchSpace([Decision("a", ["x", "y", "z"])])
    record = PerformanceRecord(space)
    for t, scores in enumerate(((0.90, 0.80, 0.70), (0.70, 0.90, 0.80))):
        for k, score in enumerate(scores):
            record.add(0, t, (k,), score)
    theta = np.full((1, 3), 1 / 3)
    update = authors_update(record, 0, space.full_mask(), theta, np.zeros((1, 3)), higher_is_better=True,
                            momentum=0.8, temperature=0.01, space=space)

    def softmax(values):
        e = np.exp(values - values.max())
        return e / e.sum()

    expectation = (softmax(np.array([90.0, 80.0, 70.0])) + softmax(np.array([70.0, 90.0, 80.0]))) / 2
    assert update.velocity[0] == pytest.approx(0.2 * expectation, abs=1e-15)
    assert update.theta[0] == pytest.approx(1 / 3 + 0.2 * expectation, abs=1e-15)  # θ += V, not renormalised yet
    assert authors_renormalize(update.theta, space)[0].sum() == pytest.approx(1.0)


def xnas_reference(rounds_by_stage, sizes, gamma):
    """The released CategoricalDDPNAS.update, re-implemented from its description for one decision per row:
    per round a zero-initialised (d, Cmax) array of scores, softmax(x100) over the full row, mean over the
    stage's rounds, V = γV + (1-γ)E, θ += V, prune nanargmin over unpruned, θ /= row sum (pruned included)."""
    d, cmax = len(sizes), max(sizes)
    theta = np.full((d, cmax), 1 / cmax)
    velocity = np.zeros((d, cmax))
    pruned = [[] for _ in range(d)]
    out = []
    for rounds in rounds_by_stage:
        expectation = np.zeros((d, cmax))
        for records in rounds:
            performance = np.zeros((d, cmax))
            for architecture, score in records:
                for i, k in enumerate(architecture):
                    performance[i, k] = score
            shifted = performance * 100 - (performance * 100).max(axis=1, keepdims=True)
            expectation += np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        expectation /= len(rounds)
        velocity = gamma * velocity + (1 - gamma) * expectation
        theta = theta + velocity
        weights = theta.copy()
        for i in range(d):
            weights[i, pruned[i]] = np.nan
            pruned[i].append(int(np.nanargmin(weights[i])))
        theta = theta / theta.sum(axis=1, keepdims=True)
        out.append(theta.copy())
    return out


def test_authors_preset_matches_a_reimplementation_of_the_released_code():
    space = SearchSpace([Decision(f"e{i}", ["a", "b", "c", "d"]) for i in range(3)])

    class Oracle:
        higher_is_better = True
        table = np.random.default_rng(3).uniform(0.3, 0.9, size=(3, 4))

        def train(self, architecture):
            pass

        def score(self, architecture):
            return float(np.mean([self.table[e, k] for e, k in enumerate(architecture)]))

    search = DDPSearch(space, Oracle(), SearchConfig(utility="authors", rounds_per_stage=2, seed=4))
    result = search.run()
    stages = []
    for stage in range(len(result.history["stages"])):
        rounds = []
        for t in range(2):
            rounds.append([(r.architecture, r.score) for r in result.record.records if (r.stage, r.round) == (stage, t)])
        stages.append(rounds)
    reference = xnas_reference(stages, [4, 4, 4], gamma=0.8)
    for ours, theirs in zip(result.history["theta"][1:], reference, strict=True):
        assert np.asarray(ours) == pytest.approx(theirs, abs=1e-12)


def loop_authors_expectation(space, records, sign, temperature):
    """The authors' per-round softmax average, record by record and round by round (the pre-vectorised code)."""
    from ddp_core.distribution import masked_softmax

    exists = space.full_mask()
    expectation = np.zeros(exists.shape)
    rounds = sorted({t for t, _, _ in records})
    for t in rounds:
        sums, counts = np.zeros(exists.shape), np.zeros(exists.shape)
        for r, architecture, score in records:
            if r != t:
                continue
            for e, k in enumerate(architecture):
                if space.active_mask(architecture)[e]:
                    sums[e, k] += sign * score
                    counts[e, k] += 1
        performance = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
        floor = np.minimum(0.0, np.where(counts > 0, performance, np.inf).min(axis=1, keepdims=True))
        performance = np.where(counts > 0, performance, np.where(np.isfinite(floor), floor, 0.0))
        expectation += masked_softmax(performance, exists, temperature)
    return expectation / max(len(rounds), 1)


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_vectorised_authors_update_equals_the_record_loop(higher_is_better):
    from ddp_core.space import Requires

    space = SearchSpace([Decision("depth", ["2", "3"]), Decision("w0", ["a", "b", "c"]),
                         Decision("w1", ["a", "b", "c", "d"], requires=Requires("depth", ("3",)))])
    rng = np.random.default_rng(7)
    record, rows = PerformanceRecord(space), []
    for _ in range(60):  # rounds 0..9 out of order, a gap (no round 4), some candidates never scored in a round
        t = int(rng.choice([0, 1, 2, 3, 5, 6, 7, 8, 9]))
        architecture = (int(rng.integers(2)), int(rng.integers(2)), int(rng.integers(4)))
        score = float(rng.uniform(-2.0, 1.0))
        record.add(3, t, architecture, score)
        rows.append((t, architecture, score))
    record.add(2, 0, (1, 2, 3), 5.0)  # another stage: ignored
    live = space.full_mask()
    theta = rng.dirichlet(np.ones(4), size=3) * live
    velocity = rng.uniform(0, 0.1, size=(3, 4)) * live
    update = authors_update(record, 3, live, theta, velocity, higher_is_better=higher_is_better, momentum=0.8,
                            temperature=0.5, space=space)
    expectation = loop_authors_expectation(space, rows, 1.0 if higher_is_better else -1.0, 0.5)
    assert update.velocity == pytest.approx(0.8 * velocity + 0.2 * expectation, abs=1e-12)
    assert update.theta == pytest.approx(np.where(live, theta + update.velocity, theta), abs=1e-12)


def test_normal_scores_are_rank_based_and_scale_free():
    z = normal_scores([1.0, 2.0, 3.0])
    expected = inverse_normal_cdf(np.array([0.25, 0.5, 0.75]))
    expected = (expected - expected.mean()) / expected.std()
    assert z == pytest.approx(expected)
    assert z == pytest.approx([-1.224744871, 0.0, 1.224744871], abs=1e-6)
    assert normal_scores([10.0, 20.0, 30.0]) == pytest.approx(z)  # percent or fraction: the same
    assert normal_scores([5.0, 5.0, 7.0]) == pytest.approx(normal_scores([1.0, 1.0, 9.0]))  # ties averaged
    from scipy.stats import norm

    p = np.linspace(0.001, 0.999, 500)
    assert inverse_normal_cdf(p) == pytest.approx(norm.ppf(p), abs=1e-8)


def test_additive_model_is_ridge_regression_with_free_stage_intercepts():
    space = two_by_two()
    archs = [(0, 0), (0, 1), (1, 0), (1, 1), (0, 0), (1, 1)]
    scores = [0.5, 0.7, 0.6, 0.9, 0.55, 0.95]
    stages = [0, 0, 0, 0, 1, 1]
    model = AdditiveModel(space, ridge=1.0).fit(archs, scores, stages)
    x = np.zeros((6, 4))
    for i, (a, b) in enumerate(archs):
        x[i, a] = x[i, 2 + b] = 1
    blocks = np.eye(2)[stages]
    design = np.hstack([x, blocks])
    penalty = np.diag([1.0] * 4 + [1e-6] * 2)
    weights = np.linalg.solve(design.T @ design + penalty, design.T @ normal_scores(scores))
    assert model.coefficients == pytest.approx(weights[:4])
    effects = model.effects()
    assert effects[0, 1] > effects[0, 0] and effects[1, 1] > effects[1, 0]


def test_answer_is_best_observed_without_noise_and_shrinks_with_noise():
    space = SearchSpace([Decision(f"e{i}", ["a", "b", "c"]) for i in range(3)])
    record = PerformanceRecord(space)
    grid = [(i, j, k) for i in range(3) for j in range(3) for k in range(3)]
    rng = np.random.default_rng(0)
    truth = {a: sum(a) + 0.3 * rng.standard_normal() for a in grid}  # additive + an interaction-like residual
    for a in grid:
        record.add(0, 0, a, truth[a])
    best = max(grid, key=truth.get)
    assert joint_answer(space, record, space.full_mask(), True)[0] == best
    # repeated scores of one architecture that disagree wildly reveal noise: a single lucky score no longer wins
    noisy = PerformanceRecord(space)
    for a in grid:
        noisy.add(0, 0, a, sum(a))
    for score in (2.0, 9.0, -5.0, 12.0):
        noisy.add(0, 0, (0, 0, 0), score)
    noisy.add(0, 0, (1, 0, 0), 50.0)  # a single, implausible score on a mediocre architecture
    answer, info = joint_answer(space, noisy, space.full_mask(), True)
    assert answer == (2, 2, 2) and info["times_evaluated"] == 1


def macro_like(scale):
    space = SearchSpace([Decision(f"l{i}", ["id", "mb3", "mb5"]) for i in range(6)])

    class Oracle:
        higher_is_better = True

        def __init__(self):
            self.rng = np.random.default_rng(11)
            self.table = self.rng.uniform(0.0, 1.0, size=(6, 3))
            self.pairs = self.rng.normal(0, 0.3, size=(6, 3, 3))

        def train(self, architecture):
            pass

        def score(self, architecture):
            value = sum(self.table[e, k] for e, k in enumerate(architecture))
            value += sum(self.pairs[e, architecture[e], architecture[(e + 1) % 6]] for e in range(6))
            return scale * (0.8 + 0.02 * value + 0.005 * self.rng.standard_normal())

    return space, Oracle()


@pytest.mark.parametrize("rounds", [2, 5])
def test_joint_returns_the_same_architecture_for_percent_and_fraction_scores(rounds):
    results = []
    for scale in (1.0, 100.0):
        space, oracle = macro_like(scale)
        results.append(DDPSearch(space, oracle, SearchConfig(rounds_per_stage=rounds, seed=2)).run())
    assert results[0].architecture == results[1].architecture
    assert np.asarray(results[0].distribution.theta) == pytest.approx(np.asarray(results[1].distribution.theta))
    assert [r.architecture for r in results[0].record.records] == [r.architecture for r in results[1].record.records]


def test_joint_keeps_the_incumbent_alive_and_answers_with_an_evaluated_architecture():
    space, oracle = macro_like(1.0)
    result = DDPSearch(space, oracle, SearchConfig(rounds_per_stage=3, seed=5)).run()
    evaluated = {r.architecture for r in result.record.records}
    assert result.architecture in evaluated
    assert result.architecture == result.theta_architecture  # pruned to one live candidate: θ points at it
    for stage in result.history["stages"]:
        incumbent = stage["incumbent"]
        pruned = {(p["decision"], p["candidate"]) for p in stage["pruned"]}
        assert not any((f"l{e}", ["id", "mb3", "mb5"][k]) in pruned for e, k in enumerate(incumbent))


def test_joint_update_by_hand():
    """θ follows Eq. 4-5 on softmax(effects / τ); effects from the independent ridge solve; the incumbent's
    candidates are protected from pruning."""
    from ddp_core.presets import joint_update

    space = two_by_two()
    record = PerformanceRecord(space)
    archs, scores = [(0, 0), (0, 1), (1, 0), (1, 1)], [0.50, 0.70, 0.60, 0.90]
    for a, score in zip(archs, scores, strict=True):
        record.add(0, 0, a, score)
    x = np.array([[1, 0, 1, 0], [1, 0, 0, 1], [0, 1, 1, 0], [0, 1, 0, 1]], dtype=float)
    design = np.hstack([x, np.ones((4, 1))])
    weights = np.linalg.solve(design.T @ design + np.diag([1.0] * 4 + [1e-6]), design.T @ normal_scores(scores))
    effects = weights[:4].reshape(2, 2)
    target = np.exp(effects / 0.5) / np.exp(effects / 0.5).sum(axis=1, keepdims=True)
    update = joint_update(record, 0, space.full_mask(), np.full((2, 2), 0.5), np.zeros((2, 2)),
                          higher_is_better=True, momentum=0.9, temperature=0.5, normalization="sum", space=space)
    assert update.utility.values == pytest.approx(effects)
    assert update.velocity == pytest.approx(0.1 * target)
    assert update.theta == pytest.approx((0.5 + 0.1 * target) / 1.1)
    assert update.incumbent == (1, 1)  # noise-free: the best observed score
    assert update.protected.tolist() == [[False, True], [False, True]]


def test_vectorised_stage_utility_equals_the_record_loop():
    from ddp_core.space import Requires

    space = SearchSpace([Decision("depth", ["2", "3"]), Decision("w0", ["a", "b", "c"]),
                         Decision("w1", ["a", "b", "c", "d"], requires=Requires("depth", ("3",)))])
    rng = np.random.default_rng(11)
    record = PerformanceRecord(space)
    for _ in range(40):
        record.add(1, int(rng.integers(3)), (int(rng.integers(2)), int(rng.integers(3)), int(rng.integers(4))),
                   float(rng.normal()))
    record.add(0, 0, (1, 0, 0), 9.0)  # another stage
    sums, squares, counts = np.zeros((3, 4)), np.zeros((3, 4)), np.zeros((3, 4), dtype=np.int64)
    for r in record.for_stage(1):
        for e, k in enumerate(r.architecture):
            if space.active_mask(r.architecture)[e]:
                sums[e, k] -= r.score
                squares[e, k] += r.score**2
                counts[e, k] += 1
    live = space.full_mask()
    utility = record.utility(1, live, higher_is_better=False)
    assert np.array_equal(utility.counts, counts)
    seen = counts > 0
    assert utility.values[seen] == pytest.approx(sums[seen] / counts[seen], abs=1e-12)
    assert utility.recorded.all()
