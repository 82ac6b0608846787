"""Hand-computed cases for the update, normalisation, pruning, floors, records and the Theorem 3 bound."""

import math

import numpy as np
import pytest

from ddp_core import (
    Candidate,
    CategoricalDistribution,
    Decision,
    PerformanceRecord,
    Requires,
    SearchSpace,
    choose_pruned,
    momentum_update,
    prunable_mask,
    pruning_error_bound,
)


def test_momentum_update_by_hand():
    theta = np.array([[0.5, 0.5]])
    velocity = np.zeros((1, 2))
    utility = np.array([[0.9, 0.8]])
    live = np.ones((1, 2), bool)
    new_theta, new_velocity = momentum_update(
        theta, velocity, utility, live, momentum=0.9, temperature=0.1, normalization="sum"
    )
    e = math.e
    soft = np.array([e / (e + 1), 1 / (e + 1)])  # softmax([9, 8])
    assert np.allclose(new_velocity, 0.1 * soft)
    raw = 0.5 + 0.1 * soft
    assert np.allclose(new_theta, raw / raw.sum())
    # a second step accumulates momentum: V = 0.9 V + 0.1 softmax
    theta2, velocity2 = momentum_update(
        new_theta, new_velocity, utility, live, momentum=0.9, temperature=0.1, normalization="sum"
    )
    assert np.allclose(velocity2, 0.9 * 0.1 * soft + 0.1 * soft)
    assert np.allclose(theta2, (new_theta + velocity2) / (new_theta + velocity2).sum())


def test_softmax_normalization_and_masking():
    theta = np.array([[0.25, 0.25, 0.5]])
    live = np.array([[True, True, False]])
    utility = np.array([[1.0, 0.0, 123.0]])
    new_theta, new_velocity = momentum_update(
        theta, np.zeros((1, 3)), utility, live, momentum=0.5, temperature=1.0, normalization="softmax"
    )
    soft = np.exp([1.0, 0.0]) / np.exp([1.0, 0.0]).sum()
    raw = np.array([0.25, 0.25]) + 0.5 * soft
    expected = np.exp(raw) / np.exp(raw).sum()
    assert np.allclose(new_theta[0, :2], expected)
    assert new_theta[0, 2] == 0 and new_velocity[0, 2] == 0  # pruned candidate stays out


def test_update_only_given_rows():
    theta = np.full((2, 2), 0.5)
    out, vel = momentum_update(theta, np.zeros((2, 2)), np.array([[1.0, 0.0], [1.0, 0.0]]), np.ones((2, 2), bool),
                               momentum=0.9, temperature=0.01, normalization="sum", rows=np.array([True, False]))
    assert out[0, 0] > 0.5 and np.allclose(out[1], 0.5) and np.allclose(vel[1], 0)


def test_bad_update_inputs():
    with pytest.raises(ValueError, match="momentum"):
        momentum_update(np.ones((1, 1)), np.zeros((1, 1)), np.ones((1, 1)), np.ones((1, 1), bool),
                        momentum=1.5, temperature=1, normalization="sum")
    with pytest.raises(ValueError, match="normalization"):
        momentum_update(np.ones((1, 1)), np.zeros((1, 1)), np.ones((1, 1)), np.ones((1, 1), bool),
                        momentum=0.5, temperature=1, normalization="max")


def darts_like_space():
    ops = [Candidate("conv", ("param",)), Candidate("sep", ("param",)), Candidate("pool", ("nonparam",)),
           Candidate("skip", ("nonparam",)), Candidate("none", ("nonparam",))]
    return SearchSpace([Decision("edge0", ops), Decision("edge1", ops)], tag_floors={"param": 1, "nonparam": 1})


def test_pruning_respects_tag_floors():
    space = darts_like_space()
    live = np.array([[True, False, True, True, True], [True, True, True, False, False]])
    theta = np.array([[0.1, 0.0, 0.3, 0.2, 0.4], [0.2, 0.1, 0.7, 0.0, 0.0]])
    allowed = prunable_mask(space, live)
    # edge0: the lone param op "conv" has the smallest θ but is protected; "skip" (0.2) goes
    assert not allowed[0, 0]
    assert list(choose_pruned(theta, allowed)) == [3, 1]
    # at the floor (one param + one nonparam) nothing is prunable
    floor = np.array([[True, False, True, False, False]] * 2)
    assert not prunable_mask(space, floor).any()


def test_last_candidate_is_never_pruned():
    space = SearchSpace([Decision("d", ["a", "b"])])
    assert prunable_mask(space, np.array([[True, True]])).sum() == 2
    assert not prunable_mask(space, np.array([[True, False]])).any()


def test_inactive_decisions_are_not_credited():
    space = SearchSpace([
        Decision("depth", ["1", "2"]),
        Decision("layer0", ["a", "b"]),
        Decision("layer1", ["a", "b"], requires=Requires("depth", ["2"])),
    ])
    record = PerformanceRecord(space)
    record.add(0, 0, (0, 0, 1), 0.5)  # depth 1: layer1 inactive
    record.add(0, 0, (1, 1, 0), 0.9)
    live = space.full_mask()
    utility = record.utility(0, live, higher_is_better=True)
    assert utility.counts[2].tolist() == [1, 0]
    assert utility.values[2, 0] == pytest.approx(0.9)
    assert utility.values[2, 1] == pytest.approx(0.9)  # unscored: its decision's mean, neutral
    assert utility.counts[1].tolist() == [1, 1]


def test_lower_is_better_scores_are_oriented():
    space = SearchSpace([Decision("d", ["a", "b"])])
    record = PerformanceRecord(space)
    record.add(0, 0, (0,), 0.1)  # an error rate
    record.add(0, 0, (1,), 0.3)
    utility = record.utility(0, space.full_mask(), higher_is_better=False)
    assert utility.values[0, 0] > utility.values[0, 1]


def test_utility_mean_and_theorem3_bound_by_hand():
    space = SearchSpace([Decision("d", ["a", "b"])])
    record = PerformanceRecord(space)
    for score in (0.8, 0.9):
        record.add(0, 0, (0,), score)
    for score in (0.5, 0.7):
        record.add(0, 0, (1,), score)
    utility = record.utility(0, space.full_mask(), True)
    assert utility.values[0].tolist() == pytest.approx([0.85, 0.6])
    sigma = math.sqrt((0.05**2 * 2 + 0.1**2 * 2) / 2)  # pooled, one degree of freedom each
    assert utility.spread[0] == pytest.approx(sigma)
    bound = pruning_error_bound(utility, space.full_mask())
    # σ_t is the spread of the utility, a mean of n = 2 scores: sigma / sqrt(2)
    assert bound[0] == pytest.approx(2 * (2 * sigma / math.sqrt(2) / 0.25) ** 2)


def test_nan_score_is_rejected():
    space = SearchSpace([Decision("d", ["a"])])
    with pytest.raises(ValueError, match="not a finite number"):
        PerformanceRecord(space).add(0, 0, (0,), float("nan"))


def test_bad_spaces_have_clear_errors():
    with pytest.raises(ValueError, match="no candidates"):
        Decision("empty", [])
    with pytest.raises(ValueError, match="which no candidate carries"):
        SearchSpace([Decision("d", ["a", "b"])], tag_floors={"param": 1})
    with pytest.raises(ValueError, match="unique"):
        SearchSpace([Decision("d", ["a"]), Decision("d", ["b"])])
    with pytest.raises(KeyError, match="no candidate"):
        SearchSpace([Decision("x", ["a"]), Decision("y", ["a"], requires=Requires("x", ["zzz"]))])
    with pytest.raises(ValueError, match="itself conditional"):
        SearchSpace([Decision("x", ["a"]), Decision("y", ["a"], requires=Requires("x", ["a"])),
                     Decision("z", ["a"], requires=Requires("y", ["a"]))])
    space = SearchSpace([Decision("d", ["a", "b"])])
    with pytest.raises(ValueError, match="out of range"):
        space.validate((5,))


def test_space_round_trip_and_uniform_distribution():
    space = darts_like_space()
    again = SearchSpace.from_dict(space.to_dict())
    assert again.to_dict() == space.to_dict()
    dist = CategoricalDistribution.uniform(SearchSpace([Decision("a", ["x", "y"]), Decision("b", ["x", "y", "z"])]))
    assert dist.theta[0].tolist() == [0.5, 0.5, 0.0]
    assert dist.theta[1].tolist() == pytest.approx([1 / 3] * 3)
    assert not dist.live[0, 2]
