"""The driver: stages, pruning to the floors, NoPrune, postponement, callbacks, plots, torch-free import."""

import json
import subprocess
import sys

import numpy as np
import pytest

from ddp_core import Candidate, DDPSearch, Decision, SearchConfig, SearchSpace, stage_schedule


class PreferFirst:
    """Scores an architecture by how many decisions took candidate 0, plus small noise."""

    higher_is_better = True

    def __init__(self, seed=0, noise=0.002):
        self.rng = np.random.default_rng(seed)
        self.noise = noise
        self.trained = []

    def train(self, architecture):
        self.trained.append(architecture)

    def score(self, architecture):
        return 0.5 + 0.05 * sum(k == 0 for k in architecture) + self.noise * self.rng.standard_normal()


def space_with_tags():
    ops = [Candidate(f"p{i}", ("param",)) for i in range(3)] + [Candidate(f"n{i}", ("nonparam",)) for i in range(3)]
    return SearchSpace([Decision(f"e{i}", ops) for i in range(5)], tag_floors={"param": 1, "nonparam": 1})


def test_search_prunes_to_floors_and_finds_signal(tmp_path):
    space = space_with_tags()
    evaluator = PreferFirst()
    search = DDPSearch(space, evaluator, SearchConfig(rounds_per_stage=3, seed=1), run_dir=tmp_path)
    result = search.run()
    assert stage_schedule(space) == [6, 5, 4, 3]
    assert result.steps == 3 * (6 + 5 + 4 + 3) == len(evaluator.trained)
    live = result.distribution.live
    assert (live.sum(axis=1) == 2).all()
    assert (live[:, :3].sum(axis=1) == 1).all() and (live[:, 3:].sum(axis=1) == 1).all()
    assert sum(k == 0 for k in result.architecture) >= 4  # candidate 0 is best everywhere; pairing is noisy
    assert len(result.history["pruned"]) == 4 * 5 and len(result.history["theta"]) == 5
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["finished"] and summary["architecture"] == list(result.architecture)
    assert (tmp_path / "theta_history.png").stat().st_size > 10_000
    assert np.isfinite([s["max_bound"] for s in result.history["stages"]]).all()


def test_noprune_runs_the_same_stages_without_pruning():
    space = space_with_tags()
    result = DDPSearch(space, PreferFirst(), SearchConfig(prune=False, seed=1)).run()
    assert result.steps == 3 * 6 * 4
    assert result.distribution.live.all() and not result.history["pruned"]
    assert sum(k == 0 for k in result.architecture) >= 4


def test_postponed_pruning_when_bound_is_high():
    space = SearchSpace([Decision(f"d{i}", ["a", "b", "c"]) for i in range(3)])
    noisy = PreferFirst(noise=0.5)
    search = DDPSearch(space, noisy, SearchConfig(bound_threshold=1e-6, max_postponed_stages=1))
    result = search.run()
    flags = [s["postponed"] for s in result.history["stages"]]
    assert flags[:2] == [True, False] and flags.count(True) == 2 and len(flags) == 4


def test_callbacks_see_every_sample_and_stage():
    events = {"sample": 0, "stage": 0, "end": 0}

    class Counter:
        def on_sample(self, search, event):
            events["sample"] += 1
            assert 0 <= event["score"] <= 1

        def on_stage_end(self, search, info):
            events["stage"] += 1

        def on_end(self, search, result):
            events["end"] += 1

    result = DDPSearch(space_with_tags(), PreferFirst(), callbacks=[Counter()]).run()
    assert events == {"sample": result.steps, "stage": 4, "end": 1}


def test_resume_refuses_other_settings(tmp_path):
    space = space_with_tags()
    search = DDPSearch(space, PreferFirst(), SearchConfig(seed=1), run_dir=tmp_path)
    search.step()
    search.close()
    with pytest.raises(ValueError, match="--theta-momentum: saved None, now 0.8"):
        DDPSearch(space, PreferFirst(), SearchConfig(seed=1, momentum=0.8), run_dir=tmp_path)
    other = SearchSpace([Decision("x", ["a", "b"])])
    with pytest.raises(ValueError, match="different search space"):
        DDPSearch(other, PreferFirst(), SearchConfig(seed=1), run_dir=tmp_path)


def test_importing_ddp_core_does_not_import_frameworks():
    code = (
        "import sys, ddp_core, ddp_core.tabular, ddp_core.plotting;"
        "bad=[m for m in sys.modules if m.split('.')[0] in ('torch','transformers','mmengine','mmseg','mmcv')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_total_steps_is_exact_at_the_end_and_never_below_steps_done():
    from ddp_core import Requires

    space = SearchSpace([Decision("depth", ["1", "2", "3"])] + [
        Decision(f"w{i}", ["a", "b", "c", "d"], requires=Requires("depth", [str(d) for d in range(i + 1, 4)]))
        for i in range(3)
    ])
    seen = []

    class Watch:
        def on_sample(self, search, event):
            seen.append((event["step"], event["total_steps"]))

    result = DDPSearch(space, PreferFirst(), callbacks=[Watch()]).run()
    assert all(total >= step for step, total in seen)
    assert seen[-1][1] == result.steps
