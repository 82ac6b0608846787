"""End-to-end DARTS searches: the tool in-process, the generate dispatcher, and kill/resume exactness."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from ddp_vision.darts.search import main

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY = ["--dataset", "synthetic", "--rounds-per-stage", "1", "--no-progress", "--threads", "1"]


def final_theta(run_dir: pathlib.Path) -> np.ndarray:
    return np.array(json.loads((run_dir / "state.json").read_text())["distribution"]["theta"])


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("darts") / "run"
    assert main([*TINY, "--run-dir", str(run_dir), "--budget", "none", "--budget", "nonparam_ops=3"]) == 0
    return run_dir


def test_search_writes_a_complete_run_directory(finished_run):
    for name in ("space.json", "state.json", "summary.json", "theta_history.png", "cells.png", "genotype.txt",
                 "genotype.json", "eng.json", "eng_cells_0.png", "eng_cells_1.png"):
        assert (finished_run / name).is_file(), name
    assert list((finished_run / "checkpoints").glob("step-*/supernet.pt"))
    assert list(finished_run.rglob("events.out.tfevents.*")), "no TensorBoard events"
    state = json.loads((finished_run / "state.json").read_text())
    live = np.array(state["distribution"]["live"])
    assert state["counters"]["finished"] and np.all(live.sum(axis=1) == 2)  # one param + one nonparam left
    report = json.loads((finished_run / "eng.json").read_text())
    assert [a["budgets"] for a in report["answers"]] == [{}, {"nonparam_ops": 3.0}]
    assert report["answers"][1]["costs"]["nonparam_ops"] <= 3
    assert report["answers"][0]["genotype_text"] == report["derived"]["genotype_text"]


def test_generate_dispatcher_runs_the_darts_generator(finished_run):
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "generate.py"), str(finished_run), "--budget", "cell_height=1",
         "--budget", "params_m=0.0001", "--no-draw"],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "ENG [cell_height <= 1]" in out.stdout and "smallest achievable params_m" in out.stdout
    report = json.loads((finished_run / "eng.json").read_text())
    assert report["answers"][0]["costs"]["cell_height"] == 1


def test_generate_for_the_imagenet_network_respects_a_flops_budget(finished_run, capsys):
    from ddp_vision.darts.generate import cli

    assert cli(finished_run, ["--network", "imagenet", "--budget", "flops_m=450", "--no-draw"]) == 0
    report = json.loads((finished_run / "eng.json").read_text())
    assert report["network"]["kind"] == "imagenet" and report["network"]["image_size"] == 224
    answer = report["answers"][0]
    assert answer["costs"]["flops_m"] <= 450 and answer["costs"]["params_m"] > 2.0
    assert "ENG [flops_m <= 450]" in capsys.readouterr().out


def test_existing_run_dir_needs_resume(finished_run, capsys):
    assert main([*TINY, "--run-dir", str(finished_run)]) == 2
    assert "--resume" in capsys.readouterr().err


@pytest.mark.slow
def test_killed_search_resumes_to_the_same_theta(tmp_path, finished_run):
    run_dir = tmp_path / "killed"
    command = [sys.executable, str(ROOT / "tools" / "search_darts.py"), *TINY, "--budget", "none"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([*command, "--run-dir", str(run_dir)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    steps = 0
    while time.time() < deadline and process.poll() is None:
        try:
            steps = json.loads((run_dir / "state.json").read_text())["counters"]["steps"]
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            steps = 0
        if steps >= 12:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the search ended before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = json.loads((run_dir / "state.json").read_text())["counters"]["steps"]
    assert 12 <= killed_at < 33
    resumed = subprocess.run([*command, "--resume", str(run_dir)], env=env, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    np.testing.assert_array_equal(final_theta(run_dir), final_theta(finished_run))


@pytest.mark.slow
def test_two_cpu_processes_under_accelerate_launch_finish_one_run(tmp_path):
    run_dir = tmp_path / "two"
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
         "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
         str(ROOT / "tools" / "search_darts.py"), *TINY, "--run-dir", str(run_dir), "--budget", "none"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    state = json.loads((run_dir / "state.json").read_text())
    assert state["counters"]["finished"] and state["counters"]["steps"] == 33
    assert out.stdout.count("search: 33 architectures trained") == 1  # only the main process reports


def test_missing_cifar10_is_one_clear_error_line(tmp_path, capsys):
    assert main(["--dataset", "cifar10", "--data-dir", str(tmp_path), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "CIFAR-10 not found" in err and "download=True" in err and "Traceback" not in err
