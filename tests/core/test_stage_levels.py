"""Stage levels from networks scored in two stages: a supernet's drift is kept, a stationary table gets none."""

from __future__ import annotations

import numpy as np
import pytest

from ddp_core import Decision, SearchSpace
from ddp_core.model import normal_scores
from ddp_core.quality import QualityModel
from ddp_core.stage_levels import DRIFT_PRIOR_SD, linked_levels


def flat_space(sizes):
    return SearchSpace([Decision(f"d{e}", [f"c{k}" for k in range(s)]) for e, s in enumerate(sizes)])


def test_no_network_scored_in_two_stages_means_no_drift():
    z = np.array([0.1, -0.5, 2.0, 1.0])
    levels, linked = linked_levels(z, np.array([0, 0, 1, 1]), np.array([0, 0, 1, 2]), 2, noise=0.3)
    assert linked == 0
    assert levels.tolist() == [0.0, 0.0]


def test_levels_are_the_penalised_fixed_effects_solution():
    """Brute force: least squares with a free level per linked network and a ridge on the stage levels."""
    rng = np.random.default_rng(0)
    groups = np.array([0, 0, 0, 1, 1, 2, 3, 3, 3, 4])
    stages = np.array([0, 1, 2, 0, 2, 1, 1, 1, 2, 2])
    z = rng.normal(size=len(groups))
    noise = 0.4
    levels, linked = linked_levels(z, stages, groups, 3, noise)
    assert linked == 3  # networks 0, 1 and 3; 2 and 4 were scored in one stage only
    keep = np.isin(groups, [0, 1, 3])
    design = np.hstack([np.eye(5)[groups[keep]][:, [0, 1, 3]], np.eye(3)[stages[keep]]])
    penalty = np.diag([1e-9] * 3 + [noise / DRIFT_PRIOR_SD**2] * 3)
    solution = np.linalg.solve(design.T @ design + penalty, design.T @ z[keep])
    expected = solution[3:] - solution[3:].mean()
    np.testing.assert_allclose(levels, expected, atol=1e-6)


def test_one_rescored_network_gives_its_rise_shrunk_by_the_prior():
    d, noise = 1.2, 0.05
    levels, _ = linked_levels(np.array([0.0, d]), np.array([0, 1]), np.array([0, 0]), 2, noise)
    assert levels[1] - levels[0] == pytest.approx(d / (1 + noise / DRIFT_PRIOR_SD**2))


def _interacting_stationary_records(seed=0):
    """Stage 1 holds networks that an interaction makes better than stage 0's, on a stationary evaluator; the
    incumbent is re-scored in stage 1 with the same score."""
    rng = np.random.default_rng(seed)
    space = flat_space([3, 3, 3])
    archs, scores, stages = [], [], []
    value = lambda a: 0.3 * a[0] + 0.2 * a[1] + (1.5 if a[1] == a[2] == 2 else 0.0)  # noqa: E731
    for _ in range(40):
        a = tuple(int(v) for v in rng.integers(3, size=3))
        archs.append(a), scores.append(value(a) + rng.normal(0, 0.01)), stages.append(0)
    for _ in range(40):
        a = (int(rng.integers(3)), 2, 2) if rng.random() < 0.7 else tuple(int(v) for v in rng.integers(3, size=3))
        archs.append(a), scores.append(value(a) + rng.normal(0, 0.01)), stages.append(1)
    best = max(range(40), key=lambda i: scores[i])
    archs.append(archs[best]), scores.append(scores[best]), stages.append(1)
    return space, archs, np.array(scores), stages


@pytest.mark.parametrize("drift", [0.0, 1.0])
def test_linked_levels_tell_drift_from_a_stage_holding_better_networks(monkeypatch, drift):
    """Free levels take the better networks of stage 1 as drift; linked levels read the re-scored incumbent.
    With a real rise (``drift``, in units of the scores' spread) both keep it."""
    space, archs, scores, stages = _interacting_stationary_records()
    scores = scores + drift * scores.std() * np.asarray(stages)
    fitted = {}
    for mode in ("free", "linked"):
        monkeypatch.setattr("ddp_core.quality.STAGE_LEVELS", mode)
        model = QualityModel(space, ridge=1.0)
        model.update(archs, scores, stages)
        model.fit()
        fitted[mode] = model.intercepts[1] - model.intercepts[0]
    rise = float(np.mean(normal_scores(scores)[-1:]) - normal_scores(scores)[int(np.argmax(scores[:40]))])
    if drift == 0.0:
        assert abs(fitted["linked"]) < 0.05 < fitted["free"]
    else:
        assert fitted["linked"] > 0.5 * rise > 0.3


def test_one_level_is_the_ridge_solution_with_one_common_intercept(monkeypatch):
    monkeypatch.setattr("ddp_core.quality.STAGE_LEVELS", "one")
    space = flat_space([3, 4, 2])
    rng = np.random.default_rng(3)
    archs = [tuple(int(rng.integers(s)) for s in space.sizes) for _ in range(60)]
    scores = rng.normal(size=60)
    stages = np.repeat([0, 1, 2], 20)
    model = QualityModel(space, ridge=1.0)
    model.update(archs, scores, stages)
    model.fit()
    x = np.zeros((60, 9))
    for i, a in enumerate(archs):
        for e, k in enumerate(a):
            x[i, model.offsets[e] + k] = 1.0
    design = np.hstack([x, np.ones((60, 1))])
    expected = np.linalg.solve(design.T @ design + np.diag([1.0] * 9 + [1e-6]), design.T @ normal_scores(scores))
    np.testing.assert_allclose(model.coefficients, expected[:9], atol=1e-8)
    np.testing.assert_allclose(model.intercepts, [expected[9]] * 3, atol=1e-8)


class StageScores:
    """A stationary evaluator with an interaction: decisions 1 and 2 both at candidate 2 add a lot."""

    higher_is_better = True

    def train(self, architecture) -> None:
        pass

    def score(self, architecture) -> float:
        a = [int(k) for k in architecture]
        return 0.3 * a[0] + 0.2 * a[1] + (1.5 if a[1] == a[2] == 2 else 0.0) + 0.01 * (sum(a) % 3)


def test_setting_is_checked_and_old_run_signatures_are_unchanged():
    from ddp_core import SearchConfig

    with pytest.raises(ValueError, match="stationary_scores must be True or False"):
        SearchConfig(stationary_scores="yes")
    assert "stationary_scores" not in SearchConfig().signature()  # runs saved before the setting resume
    assert SearchConfig(stationary_scores=True).signature()["stationary_scores"] is True


def test_a_stationary_search_fits_one_level_and_eng_from_its_run_directory_does_too(tmp_path):
    from ddp_core import CostTable, DDPSearch, SearchConfig, load_run

    space = flat_space([3, 3, 3, 3])
    costs = {"size": CostTable("size", 0.0, [[1.0, 2.0, 3.0]] * 4)}
    budgets = [{"size": 7.0}, {"size": 10.0}]
    for stationary in (False, True):
        run_dir = tmp_path / f"run-{stationary}"
        search = DDPSearch(space, StageScores(), SearchConfig(rounds_per_stage=3, stationary_scores=stationary),
                           run_dir=run_dir)
        result = search.run()
        model = search.model_cache.get(search.record, force=True)
        assert model.stage_levels == ("one" if stationary else "free")
        if stationary:
            assert np.ptp(model.intercepts) < 1e-9
        else:
            assert np.ptp(model.intercepts) > 1e-6
        expected = result.generate(costs, budgets)
        loaded = load_run(run_dir).generate(costs, budgets)
        assert [a.architecture for a in loaded] == [a.architecture for a in expected]
        assert [a.estimate for a in loaded] == pytest.approx([a.estimate for a in expected])
    assert load_run(tmp_path / "run-True").config["stationary_scores"] is True
