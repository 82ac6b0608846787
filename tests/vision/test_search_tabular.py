"""tools/search_tabular.py (NAS-Bench-Macro, a real tabular oracle) on the shared search CLI: kill -9 exactness,
resume rules, one-line errors, trackers."""

import json

import pytest
from vision_runs import SLACK, final_state, kill_after, records, timed_run, tool

SEARCH = ["--compare-seeds", "0", "--quiet", "--rounds-per-stage", "4", "--seed", "5"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run, slowed like the killed one (0.2 s per sample) so its time sizes the limits."""
    run_dir = tmp_path_factory.mktemp("tabular") / "straight"
    done, seconds = timed_run(tool("search_tabular.py", *SEARCH, "--sleep-per-sample", "0.2", "--run-dir",
                                   str(run_dir), "--report-to", "tensorboard"), timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return run_dir, seconds, done.stdout


def test_run_directory_trackers_and_summary(reference):
    run_dir, _, stdout = reference
    for name in ("state.json", "records.jsonl", "summary.json", "report.json", "theta_history.png",
                 "pareto_flops.png"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "logs" / "search").rglob("events.out.tfevents.*"))
    assert f"run directory: {run_dir}" in stdout and f"next: python tools/generate.py {run_dir}" in stdout
    report = json.loads((run_dir / "report.json").read_text())
    assert len(report["found"]["key"]) == 8 and len(report["eng"]) == 6
    assert final_state(run_dir)["config"]["utility"] == "joint"


@pytest.mark.slow
def test_killed_search_resumes_to_the_same_result(tmp_path, reference):
    straight, seconds, _ = reference
    killed = tmp_path / "killed"
    command = tool("search_tabular.py", *SEARCH, "--sleep-per-sample", "0.2", "--report-to", "none")
    at = kill_after([*command, "--run-dir", str(killed)], killed, at_step=5, limit=SLACK * seconds)
    assert 5 <= at < final_state(straight)["counters"]["steps"] and not final_state(killed)["counters"]["finished"]
    resumed, _ = timed_run([*command, "--resume", str(killed)], timeout=SLACK * seconds)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert final_state(killed)["distribution"] == final_state(straight)["distribution"]  # θ, V, masks exactly
    assert records(killed) == records(straight)
    found = [json.loads((d / "report.json").read_text())["found"] for d in (killed, straight)]
    assert found[0] == found[1]


def test_resume_rules_and_one_line_errors(reference, tmp_path):
    run_dir = reference[0]
    cases = [
        ([*SEARCH, "--run-dir", str(run_dir)], f"--resume {run_dir}"),
        ([*SEARCH, "--resume", str(run_dir), "--seed", "6", "--utility", "paper"],
         "--seed: saved 5, now 6; --utility: saved 'joint', now 'paper'"),
        ([*SEARCH, "--resume", str(tmp_path)], "no state.json there"),
        (["--compare-seeds", "-1"], "--compare-seeds must be >= 0"),
        (["--flops-m", "40,nan"], "--flops-m must be a finite number"),
        (["--benchmark", str(tmp_path / "missing.json"), "--run-dir", str(tmp_path / "run")], "missing.json"),
    ]
    for argv, message in cases:
        done, _ = timed_run(tool("search_tabular.py", *argv), timeout=300)
        err = done.stderr.strip()
        assert done.returncode == 2 and err.count("\n") == 0 and message in err, (argv, err)
