"""ask/tell, budgets, conditional rounds, the run directory's lock and errors, multi-process agreement."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from ddp_core import (
    DDPSearch,
    Decision,
    Requires,
    RunDirectoryError,
    SearchConfig,
    SearchSpace,
    stage_schedule,
)
from ddp_core.sampling import round_size


def scored(architecture, step):
    """A deterministic noisy score: resuming replays the same numbers."""
    rng = np.random.default_rng([step, *architecture])
    return 0.5 + 0.03 * sum(k == 1 for k in architecture) + 0.01 * rng.standard_normal()


def space(n=5, k=4):
    return SearchSpace([Decision(f"d{i}", [f"c{j}" for j in range(k)]) for i in range(n)])


class Evaluator:
    higher_is_better = True

    def __init__(self):
        self.calls = 0

    def train(self, architecture):
        pass

    def score(self, architecture):
        self.calls += 1
        return scored(architecture, self.calls)


def test_ask_tell_equals_run_and_tells_in_any_order():
    reference = DDPSearch(space(), Evaluator(), SearchConfig(seed=3)).run()
    search = DDPSearch(space(), config=SearchConfig(seed=3), higher_is_better=True)
    calls = 0
    while not search.finished:
        waiting = search.ask()
        assert search.ask() == waiting  # asking again changes nothing
        order = list(range(len(waiting)))
        for i in order:
            calls += 1
            search.tell(waiting[i], scored(waiting[i], calls))
    result = search.result()
    assert result.architecture == reference.architecture
    assert np.array_equal(result.distribution.theta, reference.distribution.theta)
    fresh = DDPSearch(space(), config=SearchConfig(seed=3), higher_is_better=True)
    waiting = fresh.ask()
    stranger = next(a for a in [(k,) * 5 for k in range(4)] + [(0, 1, 2, 3, 0)] if a not in waiting)
    with pytest.raises(ValueError, match="not waiting for a score"):
        fresh.tell(stranger, 1.0)
    fresh.tell(waiting[-1], 0.1)  # any order
    with pytest.raises(ValueError, match="not waiting for a score"):
        fresh.tell(waiting[-1], 0.1)  # but only once


def test_tell_rejects_non_numbers_with_a_clear_message():
    search = DDPSearch(space(), config=SearchConfig(seed=0), higher_is_better=True)
    architecture = search.ask()[0]
    for bad in (float("nan"), float("inf"), "0.5"):  # None is a failed evaluation (tests/core/test_trials.py)
        with pytest.raises(ValueError, match="must return a finite number"):
            search.tell(architecture, bad)


def test_missing_score_direction_is_an_error():
    class NoDirection:
        def train(self, architecture):
            pass

        def score(self, architecture):
            return 0.0

    with pytest.raises(ValueError, match="higher_is_better"):
        DDPSearch(space(), NoDirection())
    with pytest.raises(ValueError, match="higher_is_better"):
        DDPSearch(space())


def test_max_evaluations_chooses_rounds_and_is_never_exceeded():
    sizes = stage_schedule(space())
    assert sizes == [4, 3, 2]
    result = DDPSearch(space(), Evaluator(), SearchConfig(max_evaluations=40)).run()
    assert result.steps == 4 * 9 <= 40  # T = 40 // 9 = 4
    with pytest.raises(ValueError, match="at least 9 evaluations"):
        DDPSearch(space(), Evaluator(), SearchConfig(max_evaluations=8))
    with pytest.raises(ValueError, match="not both"):
        SearchConfig(max_evaluations=40, rounds_per_stage=3)


def depth_gated():
    widths = ["256", "512", "768", "1024"]
    return SearchSpace([Decision("depth", ["2", "4", "6"])] + [
        Decision(f"layer{i}.width", widths, requires=Requires("depth", [d for d in ("2", "4", "6") if int(d) > i]))
        for i in range(6)
    ])


@pytest.mark.parametrize("utility", ["joint", "paper"])
def test_every_active_live_candidate_is_recorded_every_round(utility):
    gated = depth_gated()
    result = DDPSearch(gated, Evaluator(), SearchConfig(utility=utility, seed=2)).run()
    records = result.record.records
    live = gated.full_mask()
    for stage, info in enumerate(result.history["stages"]):
        for t in range(info["rounds"]):
            credited = np.zeros_like(live)
            for r in records:
                if (r.stage, r.round) == (stage, t):
                    active = gated.active_mask(r.architecture)
                    credited[np.flatnonzero(active), np.asarray(r.architecture)[active]] = True
            depths = [int(c.name) for c in gated.decisions[0].candidates]
            reachable = [0] + [e for e in range(1, gated.num_decisions)
                               if any(live[0, k] and depths[k] > e - 1 for k in range(3))]
            for e in reachable:
                assert credited[e, live[e]].all(), (stage, t, gated.decisions[e].name)
        for p in info["pruned"]:
            e = gated.decision_index(p["decision"])
            live[e, gated.decisions[e].index(p["candidate"])] = False
    assert result.steps == len(records)
    assert round_size(gated, gated.full_mask()) == 3 + 3  # depth 6 repeated until layer5 sees 4 widths


def test_total_steps_is_the_plan_for_uniform_spaces():
    search = DDPSearch(space(), Evaluator(), SearchConfig(rounds_per_stage=2))
    planned = search.total_steps
    assert planned == search.run().steps == 2 * 9


def test_a_second_writer_fails_at_once_naming_the_holder(tmp_path):
    first = DDPSearch(space(), Evaluator(), run_dir=tmp_path)
    first.step()
    with pytest.raises(RunDirectoryError, match=f"pid {os.getpid()}"):
        DDPSearch(space(), Evaluator(), run_dir=tmp_path)
    code = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_ask_tell import space, Evaluator
        from ddp_core import DDPSearch, RunDirectoryError
        try:
            DDPSearch(space(), Evaluator(), run_dir={str(tmp_path)!r})
        except RunDirectoryError as error:
            print(error); sys.exit(3)
    """)
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert other.returncode == 3 and f"pid {os.getpid()}" in other.stdout
    first.close()
    DDPSearch(space(), Evaluator(), run_dir=tmp_path).close()  # free again


def test_resume_names_every_mismatching_setting(tmp_path):
    search = DDPSearch(space(), Evaluator(), SearchConfig(seed=1), run_dir=tmp_path, description={"--lr": 0.1})
    search.step()
    search.close()
    with pytest.raises(RunDirectoryError, match=r"--lr: saved 0.1, now 5.0.*|--seed: saved 1, now 2"):
        DDPSearch(space(), Evaluator(), SearchConfig(seed=2), run_dir=tmp_path, description={"--lr": 5.0})
    with pytest.raises(RunDirectoryError) as error:
        DDPSearch(space(), Evaluator(), SearchConfig(seed=2), run_dir=tmp_path, description={"--lr": 5.0})
    assert "--seed: saved 1, now 2" in str(error.value) and "--lr: saved 0.1, now 5.0" in str(error.value)
    DDPSearch(space(), Evaluator(), SearchConfig(seed=1), run_dir=tmp_path, description={"--lr": 0.1}).close()


def test_corrupt_or_cut_run_directories_are_one_clear_error(tmp_path):
    search = DDPSearch(space(), Evaluator(), run_dir=tmp_path)
    for _ in range(6):
        search.step()
    search.close()
    log = (tmp_path / "records.jsonl").read_text()
    (tmp_path / "records.jsonl").write_text(log.splitlines(keepends=True)[0])
    with pytest.raises(RunDirectoryError, match="records.jsonl holds 1 readable records but state.json names 6"):
        DDPSearch(space(), Evaluator(), run_dir=tmp_path)
    (tmp_path / "records.jsonl").write_text(log)
    state = (tmp_path / "state.json").read_text()
    (tmp_path / "state.json").write_text(state[: len(state) // 2])
    with pytest.raises(RunDirectoryError, match="state.json is not valid JSON"):
        DDPSearch(space(), Evaluator(), run_dir=tmp_path)


def test_records_written_after_the_last_state_are_cut_on_resume(tmp_path):
    search = DDPSearch(space(), Evaluator(), SearchConfig(checkpoint_every=4), run_dir=tmp_path)
    for _ in range(5):
        search.step()
    search.close()
    with open(tmp_path / "records.jsonl", "a") as handle:  # a crash between the log append and state.json
        handle.write(json.dumps([0, 1, [1, 1, 1, 1, 1], 0.9]) + "\n")
    resumed = DDPSearch(space(), Evaluator(), SearchConfig(checkpoint_every=4), run_dir=tmp_path)
    assert resumed.steps == 4 and len(resumed.record.records) == 4
    assert len((tmp_path / "records.jsonl").read_text().splitlines()) == 4
    resumed.close()


def test_broadcast_makes_every_process_take_the_main_process_round_and_score():
    main = DDPSearch(space(), config=SearchConfig(seed=1), higher_is_better=True)
    rounds = []

    def from_main(obj):
        return obj if not isinstance(obj, list) else rounds[-1]

    follower = DDPSearch(space(), config=SearchConfig(seed=1), higher_is_better=True, broadcast=from_main)
    rounds.append(main.ask())
    assert follower.ask() == rounds[-1]
    follower.tell(rounds[-1][0], 0.5)
    diverged = DDPSearch(space(), config=SearchConfig(seed=2), higher_is_better=True, broadcast=from_main)
    with pytest.raises(RuntimeError, match="different round than the main process"):
        diverged.ask()


def test_plots_leave_the_matplotlib_backend_alone(tmp_path):
    import matplotlib

    matplotlib.use("pdf")
    DDPSearch(space(), Evaluator(), SearchConfig(rounds_per_stage=1), run_dir=tmp_path).run()
    assert matplotlib.get_backend() == "pdf"
    assert (tmp_path / "theta_history.png").read_bytes()[:4] == b"\x89PNG"


ASK_TELL_SCRIPT = """
import sys, time
sys.path.insert(0, {tests!r})
from test_ask_tell import space, scored
from ddp_core import DDPSearch, SearchConfig
search = DDPSearch(space(), config=SearchConfig(seed=7, rounds_per_stage=3), higher_is_better=True, run_dir=sys.argv[1])
while not search.finished:
    for architecture in search.ask():
        time.sleep(float(sys.argv[2]))
        search.tell(architecture, scored(architecture, search.steps))
"""


def test_ask_tell_resume_is_exact_after_kill(tmp_path):
    script = tmp_path / "ask_tell.py"
    script.write_text(ASK_TELL_SCRIPT.format(tests=str(Path(__file__).parent)))
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    started = time.perf_counter()
    subprocess.run([sys.executable, str(script), str(straight), "0"], check=True, timeout=600)
    budget = 20 * (time.perf_counter() - started) + 30  # scales with this machine's speed and load
    process = subprocess.Popen([sys.executable, str(script), str(killed), "0.05"], start_new_session=True)
    deadline = time.perf_counter() + budget
    while time.perf_counter() < deadline:
        state = killed / "state.json"
        if state.exists():
            try:
                if json.loads(state.read_text())["counters"]["steps"] >= 9:
                    break
            except (json.JSONDecodeError, KeyError):
                pass
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    steps = json.loads((killed / "state.json").read_text())["counters"]["steps"]
    assert 9 <= steps < 27
    subprocess.run([sys.executable, str(script), str(killed), "0"], check=True, timeout=budget)
    ours, reference = (json.loads((d / "state.json").read_text()) for d in (killed, straight))
    assert ours["distribution"] == reference["distribution"] and ours["counters"] == reference["counters"]
    assert (killed / "records.jsonl").read_text() == (straight / "records.jsonl").read_text()
    assert json.loads((killed / "summary.json").read_text())["architecture"] == \
        json.loads((straight / "summary.json").read_text())["architecture"]
