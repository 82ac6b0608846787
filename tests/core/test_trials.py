"""The ask/tell history (issue 16, item 14): trials, best, failed evaluations, described architectures, and the
README's thread-pool example run as written."""

import re
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from ddp_core import DDPSearch, Decision, Requires, SearchConfig, SearchSpace

README = Path(__file__).resolve().parents[2] / "packages" / "ddp-core" / "README.md"


def space(n=4, k=3):
    return SearchSpace([Decision(f"d{i}", [f"c{j}" for j in range(k)]) for i in range(n)])


def score_of(architecture):
    return 0.5 + 0.05 * sum(k == 1 for k in architecture) + 0.001 * sum(architecture)


def test_trials_and_best_follow_every_tell_in_order_and_respect_the_direction():
    for higher in (True, False):
        search = DDPSearch(space(), config=SearchConfig(utility="paper", seed=1), higher_is_better=higher)
        told = []
        for _ in range(2):
            for architecture in search.ask():
                told.append((architecture, score_of(architecture)))
                search.tell(architecture, score_of(architecture), seconds=0.25)
        trials = search.trials
        assert [(t.architecture, t.score) for t in trials] == told
        assert [t.number for t in trials] == list(range(len(told)))
        assert all(t.state == "complete" and t.seconds == 0.25 for t in trials)
        assert trials[0].described == {f"d{i}": f"c{k}" for i, k in enumerate(told[0][0])}
        assert (trials[0].stage, trials[0].round, trials[-1].round) == (0, 0, 1)
        scores = [s for _, s in told]
        assert search.best.score == (max(scores) if higher else min(scores))


def test_a_failed_evaluation_counts_closes_its_slot_and_never_enters_the_record():
    search = DDPSearch(space(), config=SearchConfig(utility="paper", seed=2), higher_is_better=True)
    waiting = search.ask()
    search.tell(waiting[0], None)             # tell None ...
    search.fail(waiting[1], seconds=3.0)      # ... or fail(): the same
    assert search.ask() == waiting[2:]        # the round goes on without them
    for architecture in waiting[2:]:
        search.tell(architecture, score_of(architecture))
    assert search.steps == len(waiting) and search.round == 1
    assert [r.architecture for r in search.record.records] == waiting[2:]
    failed = [t for t in search.trials if t.state == "failed"]
    assert [(t.architecture, t.score, t.seconds) for t in failed] == [(waiting[0], None, None), (waiting[1], None, 3.0)]
    assert search.best.architecture in waiting[2:]


def test_failures_count_against_the_budget_and_stay_out_of_the_utility():
    config = SearchConfig(utility="paper", seed=3, max_evaluations=30)
    plain = DDPSearch(space(), config=config, higher_is_better=True)
    failing = DDPSearch(space(), config=config, higher_is_better=True)
    for search, fail_every in ((plain, 0), (failing, 4)):
        while not search.finished:
            for architecture in search.ask():
                if fail_every and search.steps % fail_every == 0:
                    search.fail(architecture)
                else:
                    search.tell(architecture, score_of(architecture))
    assert failing.steps == plain.steps <= 30
    failures = sum(t.state == "failed" for t in failing.trials)
    assert failures == len(range(0, failing.steps, 4)) and len(failing.record.records) == failing.steps - failures
    credited = sum(int(np.asarray(info["counts"]).sum()) for info in failing.history["stages"])
    assert credited == len(failing.record.records) * space().num_decisions  # only complete trials credit the utility


def test_a_failure_survives_a_resume(tmp_path):
    config = SearchConfig(utility="paper", seed=4)
    search = DDPSearch(space(), config=config, higher_is_better=True, run_dir=tmp_path)
    waiting = search.ask()
    search.tell(waiting[0], score_of(waiting[0]))
    search.fail(waiting[1])
    before = [(t.number, t.architecture, t.score, t.state) for t in search.trials]
    search.close()
    resumed = DDPSearch(space(), config=config, higher_is_better=True, run_dir=tmp_path)
    assert [(t.number, t.architecture, t.score, t.state) for t in resumed.trials] == before
    assert resumed.steps == 2 and resumed.ask() == waiting[2:]
    resumed.close()


def test_ask_described_gives_names_and_tell_takes_either_form():
    gated = SearchSpace([Decision("depth", ["1", "2"]),
                         Decision("w1", ["a", "b", "c"], requires=Requires("depth", ["2"]))])
    search = DDPSearch(gated, config=SearchConfig(utility="paper", seed=5), higher_is_better=True)
    indices, described = search.ask(), search.ask(described=True)
    assert described == [gated.describe(a) for a in indices]
    assert all(set(d) <= {"depth", "w1"} and ("w1" in d) == (d["depth"] == "2") for d in described)
    search.tell(described[0], 0.5)                      # a dict of the active decisions
    full = {"depth": gated.decisions[0].candidates[indices[1][0]].name,
            "w1": gated.decisions[1].candidates[indices[1][1]].name}
    search.tell(full, 0.6)                              # or of every decision
    assert [r.architecture for r in search.record.records] == indices[:2]
    with pytest.raises(ValueError, match="not waiting for a score"):
        search.tell({"depth": "7"}, 0.5)


def test_an_evaluator_returning_none_is_still_an_error():
    class Forgetful:
        higher_is_better = True

        def train(self, architecture):
            pass

        def score(self, architecture):
            return None

    with pytest.raises(ValueError, match="returned None"):
        DDPSearch(space(), Forgetful(), SearchConfig(utility="paper")).step()


def readme_example() -> str:
    text = README.read_text()
    block = re.search(r"<!-- thread-pool example: start -->\n```python\n(.*?)```", text, re.S)
    assert block, "the README's thread-pool example is missing"
    return block.group(1)


def test_the_readme_thread_pool_example_runs_with_several_evaluations_in_flight(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lock, flight = threading.Lock(), {"now": 0, "most": 0, "calls": 0}

    def train_and_score(architecture):
        with lock:
            flight["now"] += 1
            flight["most"] = max(flight["most"], flight["now"])
            flight["calls"] += 1
        try:
            key = zlib.crc32(repr(sorted(architecture.items())).encode())
            time.sleep(0.002 * (key % 4))
            if key % 9 == 0:
                raise RuntimeError("worker crashed")
            return 0.5 + 0.1 * sum(name == "c1" for name in architecture.values()) + (key % 100) / 1e4
        finally:
            with lock:
                flight["now"] -= 1

    namespace = {"space": space(5, 4), "train_and_score": train_and_score}
    exec(compile(readme_example(), str(README), "exec"), namespace)  # noqa: S102 - the README's own code
    search = namespace["search"]
    trials = search.trials
    assert search.finished and search.steps == len(trials) == flight["calls"] <= 200
    assert flight["most"] > 1  # several evaluations were in flight at once
    failed = [t for t in trials if t.state == "failed"]
    assert failed and all(zlib.crc32(repr(sorted(t.described.items())).encode()) % 9 == 0 for t in failed)
    assert len(search.record.records) == len(trials) - len(failed)
    assert search.best.score == max(t.score for t in trials if t.state == "complete")
    assert (tmp_path / "runs" / "pool" / "state.json").is_file()
