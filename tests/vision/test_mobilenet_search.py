"""tools/search_mobilenet.py end to end on synthetic data: run, kill -9, resume to the same θ and records, ENG."""

from __future__ import annotations

import json

import numpy as np
import pytest
from vision_runs import SLACK, final_state, kill_after, records, timed_run, tool

from ddp_core import run_cli
from ddp_vision.mobilenet.search import main

TINY = ["--dataset", "synthetic", "--image-size", "16", "--width-multiplier", "0.25", "--stage-depths",
        "1,1,1,1,2,1", "--rounds-per-stage", "1", "--steps-per-unit", "1", "--batch-size", "8",
        "--eval-batch-size", "32", "--quiet", "--cpu", "--threads", "1"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """An uninterrupted run as a process with TensorBoard logging; its wall time sizes later timeouts."""
    run_dir = tmp_path_factory.mktemp("mobilenet") / "run"
    done, seconds = timed_run(tool("search_mobilenet.py", *TINY, "--run-dir", str(run_dir), "--report-to",
                                   "tensorboard"), timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return run_dir, seconds, done.stdout


def test_run_directory_layout_and_the_final_summary(finished_run):
    run_dir, _, stdout = finished_run
    for name in ("space.json", "state.json", "records.jsonl", "summary.json", "theta_history.png", "result.json"):
        assert (run_dir / name).is_file(), name
    (checkpoint,) = (run_dir / "checkpoints").glob("step-*")
    assert (checkpoint / "supernet.safetensors").is_file() and not list(checkpoint.glob("*.pt"))
    assert list((run_dir / "logs" / "search").rglob("events.out.tfevents.*"))
    assert f"run directory: {run_dir}" in stdout and f"next: python tools/generate.py {run_dir} --budget flops_m=" in stdout
    result = json.loads((run_dir / "result.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert result["architecture"] == summary["architecture"] and result["flops_m"] > 0


def test_min_live_keeps_candidates_and_eng_chooses_among_them(finished_run):
    run_dir, _, stdout = finished_run
    state = final_state(run_dir)
    live = np.array(state["distribution"]["live"])
    assert state["counters"]["finished"] and state["description"]["--min-live"] == 2  # the default
    assert live.sum(axis=1).tolist() == [2] * 7  # pruning stopped at two live candidates per block
    from ddp_vision.mobilenet.generate import cli

    command = stdout.split(f"next: python tools/generate.py {run_dir} ")[1].split()
    assert command[0] == "--budget" and len(command) == 6  # three budgets
    out = run_dir / "generated"
    assert cli(run_dir, [*command, "--output-dir", str(out)]) == 0
    report = json.loads((out / "eng.json").read_text())
    assert report["eng"] == "model" and len(report["answers"]) == 3
    assert len({tuple(a["architecture"]) for a in report["answers"]}) == 3  # the suggested budgets differ in answer
    space = json.loads((run_dir / "space.json").read_text())
    for answer in report["answers"]:  # the recommended network: over the whole space, within its budget
        assert answer["space"] == "full" and answer["costs"]["flops_m"] <= answer["budgets"]["flops_m"]
    # θ's ENG (Eq. 10) chooses among the live candidates where they meet the budget
    theta_out = run_dir / "generated-theta"
    assert cli(run_dir, [*command, "--eng", "theta", "--output-dir", str(theta_out)]) == 0
    theta_report = json.loads((theta_out / "eng.json").read_text())
    assert theta_report["eng"] == "theta" and not theta_report["full_space"]
    for answer in theta_report["answers"]:
        if answer["space"] == "live":  # a budget below every live network is answered over the full space
            assert all(live[e, k] for e, k in enumerate(answer["architecture"]))  # inside the searched distribution
        assert answer["costs"]["flops_m"] <= answer["budgets"]["flops_m"]
    assert any(a["space"] == "live" for a in theta_report["answers"])
    assert space["min_live"] == 2


def test_resume_with_different_settings_names_each_flag(finished_run, capsys):
    argv = [*TINY, "--resume", str(finished_run[0]), "--min-live", "3", "--stage-depths", "1,1,1,1,1,1",
            "--learning-rate", "0.1"]
    assert run_cli(main, argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    for text in ("--min-live: saved 2, now 3", "--stage-depths: saved [1, 1, 1, 1, 2, 1], now [1, 1, 1, 1, 1, 1]",
                 "--learning-rate: saved 0.025, now 0.1"):
        assert text in err


def test_budgets_known_before_the_search_are_saved_checked_on_resume_and_used_by_next(tmp_path, capsys):
    """TINY's whole space costs 0.1846-0.3543 M MACs and 0.1414-0.2545 M parameters."""
    run_dir = tmp_path / "budgeted"
    budgets = ["--budget", "params_m=0.16", "--budget", "flops_m=0.25,params_m=0.2"]
    assert run_cli(main, [*TINY, "--report-to", "none", "--run-dir", str(run_dir), *budgets]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1] == (f"next: python tools/generate.py {run_dir} --budget params_m=0.16 "
                                            "--budget flops_m=0.25,params_m=0.2")
    config = json.loads((run_dir / "config.json").read_text())
    assert config["budgets"] == [{"params_m": 0.16}, {"flops_m": 0.25, "params_m": 0.2}]
    assert run_cli(main, [*TINY, "--resume", str(run_dir), "--budget", "params_m=0.2"]) == 2
    err = capsys.readouterr().err
    assert "--budget (budgets known before the search): saved [{'params_m': 0.16}" in err
    assert run_cli(main, [*TINY, "--run-dir", str(tmp_path / "bad"), "--budget", "params_m=0.1"]) == 2
    assert "the smallest achievable params_m is 0.141388" in capsys.readouterr().err


@pytest.mark.slow
def test_killed_search_resumes_to_the_same_theta_and_records(tmp_path, finished_run):
    reference, seconds, _ = finished_run
    run_dir = tmp_path / "killed"
    command = tool("search_mobilenet.py", *TINY, "--report-to", "none")
    killed_at = kill_after([*command, "--run-dir", str(run_dir)], run_dir, at_step=6, limit=SLACK * seconds)
    assert 6 <= killed_at < final_state(reference)["counters"]["steps"]
    resumed, _ = timed_run([*command, "--resume", str(run_dir)], timeout=SLACK * seconds)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming {run_dir} at evaluation {killed_at}" in resumed.stdout
    a, b = final_state(reference), final_state(run_dir)
    assert a["counters"]["finished"] and b["counters"]["finished"]
    assert a["distribution"] == b["distribution"]  # θ, momentum, live masks: exactly equal
    assert records(run_dir) == records(reference)
    assert json.loads((run_dir / "result.json").read_text()) == json.loads((reference / "result.json").read_text())
    assert not (run_dir / "logs").exists()  # --report-to none


def test_nas_bench_macro_search_runs_and_reports_its_benchmark_row(tmp_path):
    run_dir = tmp_path / "macro"
    done, _ = timed_run(tool("search_mobilenet.py", "--space", "nas-bench-macro", "--run-dir", str(run_dir),
                             "--dataset", "synthetic", "--image-size", "32", "--rounds-per-stage", "1",
                             "--steps-per-unit", "1", "--batch-size", "8", "--eval-batch-size", "32",
                             "--cpu", "--report-to", "none"), timeout=900)
    assert done.returncode == 0, done.stderr
    # one progress bar over the whole search (no per-unit bars), ending at 100 %
    bar = [part for part in done.stderr.replace("\r", "\n").splitlines() if "search:" in part]
    assert bar and all(part.startswith("nas-bench-macro search:") for part in bar), done.stderr[-1000:]
    assert "100%" in bar[-1] and "3/3" in bar[-1] and "stage 0 done" in done.stdout
    space = json.loads((run_dir / "space.json").read_text())
    assert space["metadata"]["kind"] == "nas-bench-macro" and len(space["decisions"]) == 8
    assert np.array(final_state(run_dir)["distribution"]["live"]).sum(axis=1).tolist() == [2] * 8  # its min-live
    result = json.loads((run_dir / "result.json").read_text())
    assert set(result["candidates"]) <= {"identity", "mb3_e3", "mb5_e6"}
    # synthetic data has 4 classes, so the CIFAR-10 benchmark row is not looked up
    assert "nas_bench_macro" not in result
    assert not (run_dir / "logs").exists()


@pytest.mark.parametrize("argv, message", [
    ([], "--dataset image_folder needs --data-dir"),
    (["--dataset", "image_folder", "--data-dir", "/nonexistent/imagenet"], "no training folder"),
    (["--dataset", "synthetic", "--flops", "1"], "unrecognized arguments: --flops 1"),
    (["--dataset", "synthetic", "--width-multiplier", "nan"], "--width-multiplier must be a finite number"),
    (["--dataset", "synthetic", "--min-live", "0"], "--min-live must be >= 1"),
    (["--dataset", "synthetic", "--stage-depths", "4,0"], "--stage-depths needs at least one block per stage"),
])
def test_bad_input_is_one_error_line(tmp_path, argv, message, capsys):
    try:
        status = run_cli(main, ["--run-dir", str(tmp_path / "x"), *argv])
    except SystemExit as stop:  # argparse's own exit, with our one-line message
        status = stop.code
    err = capsys.readouterr().err.strip()
    assert status == 2 and err.count("\n") == 0 and message in err, err
    assert not (tmp_path / "x").exists()  # nothing written
