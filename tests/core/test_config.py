"""Every SearchConfig field changes what a search does, or is rejected: no setting is silently ignored."""

import dataclasses
import json

import numpy as np
import pytest

from ddp_core import CostTable, DDPSearch, Decision, SearchConfig, SearchSpace


class Oracle:
    higher_is_better = True

    def train(self, architecture):
        pass

    def score(self, architecture):
        rng = np.random.default_rng(list(architecture))
        return 0.6 + 0.05 * sum(k == 2 for k in architecture) + 0.02 * rng.standard_normal()


SPACE = SearchSpace([Decision(f"d{i}", ["a", "b", "c", "d"]) for i in range(4)])
COSTS = {"flops_m": CostTable("flops_m", 0.0, [[0.0, 1.0, 2.0, 3.0]] * 4)}  # for budgets; no effect without


def outcome(config, run_dir=None):
    search = DDPSearch(SPACE, Oracle(), config, run_dir=run_dir, costs=COSTS)
    result = search.run()
    return {
        "theta": np.round(np.asarray(result.history["theta"]), 12).tolist(), "steps": result.steps,
        "records": [(r.architecture, r.score) for r in result.record.records],
        "postponed": [s["postponed"] for s in result.history["stages"]],
        "live": result.distribution.live.tolist(),
    }


# field -> (changed settings, the baseline they are compared with)
CHANGES = {
    "utility": ({"utility": "paper"}, {}),
    "rounds_per_stage": ({"rounds_per_stage": 2}, {}),
    "max_evaluations": ({"max_evaluations": 20}, {}),
    "momentum": ({"momentum": 0.5}, {}),
    "temperature": ({"temperature": 0.05}, {}),
    "normalization": ({"normalization": "softmax"}, {}),
    "prune": ({"prune": False}, {}),
    "stages": ({"prune": False, "stages": 2}, {"prune": False}),
    "bound_threshold": ({"bound_threshold": 1e-9}, {}),
    "max_postponed_stages": ({"bound_threshold": 1e-9, "max_postponed_stages": 0}, {"bound_threshold": 1e-9}),
    "seed": ({"seed": 1}, {}),
    "budgets": ({"budgets": [{"flops_m": 3.0}]}, {}),
    "stationary_scores": ({"stationary_scores": True}, {}),
}


def test_every_field_is_covered():
    assert {f.name for f in dataclasses.fields(SearchConfig)} == set(CHANGES) | {"checkpoint_every"}


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_field_changes_behaviour(field):
    changed, baseline = CHANGES[field]
    assert outcome(SearchConfig(**changed)) != outcome(SearchConfig(**baseline))


def test_checkpoint_every_changes_what_is_on_disk(tmp_path):
    for every in (1, 5):
        search = DDPSearch(SPACE, Oracle(), SearchConfig(checkpoint_every=every), run_dir=tmp_path / str(every))
        for _ in range(3):
            search.step()
        search.close()
    state = [tmp_path / str(e) / "state.json" for e in (1, 5)]
    assert json.loads(state[0].read_text())["counters"]["steps"] == 3
    assert not state[1].exists()  # nothing saved before the fifth evaluation


@pytest.mark.parametrize("settings, message", [
    ({"utility": "mine"}, "utility must be one of"),
    ({"stages": 3}, "NoPrune"),
    ({"max_postponed_stages": 5}, "only applies with bound_threshold"),
    ({"normalization": "softmax", "utility": "authors"}, "row sum"),
    ({"rounds_per_stage": 1.5}, "must be an integer"),
    ({"rounds_per_stage": 0}, ">= 1"),
    ({"momentum": float("nan")}, "finite"),
    ({"momentum": 1.0}, "< 1"),
    ({"temperature": float("inf")}, "finite"),
    ({"temperature": 0}, "> 0"),
    ({"bound_threshold": -1.0}, "> 0"),
    ({"max_evaluations": 0}, ">= 1"),
    ({"seed": -1}, ">= 0"),
    ({"checkpoint_every": 0}, ">= 1"),
    ({"prune": "yes"}, "True or False"),
    ({"normalization": "max"}, "'sum' or 'softmax'"),
])
def test_bad_settings_are_rejected_by_name(settings, message):
    with pytest.raises(ValueError, match=message):
        SearchConfig(**settings)


def test_space_floors_are_checked():
    from ddp_core import Candidate

    ops = [Candidate("p0", ("param",)), Candidate("p1", ("param",)), Candidate("n0", ("nonparam",))]
    with pytest.raises(ValueError, match="above the 1 candidate"):
        SearchSpace([Decision("e", ops)], tag_floors={"nonparam": 2})
    with pytest.raises(ValueError, match="integer >= 0"):
        SearchSpace([Decision("e", ops)], tag_floors={"param": 0.5})
    with pytest.raises(ValueError, match="min_live must be an integer"):
        SearchSpace([Decision("e", ops)], min_live=1.5)
    SearchSpace([Decision("e", ops)], tag_floors={"param": 2, "nonparam": 1}, min_live=2)
