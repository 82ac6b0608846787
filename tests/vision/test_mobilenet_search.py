"""The search command line end to end on synthetic data: run, kill, resume to the same θ, then ENG."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
TINY = ["--dataset", "synthetic", "--resolution", "16", "--width-multiplier", "0.25", "--stage-depths",
        "1,1,1,1,2,1", "--rounds-per-stage", "1", "--steps-per-unit", "1", "--batch-size", "8",
        "--eval-batch-size", "32", "--quiet", "--cpu"]


def search_command(run_dir: pathlib.Path, *extra: str) -> list[str]:
    return [sys.executable, str(REPO / "tools/search_mobilenet.py"), "--run-dir", str(run_dir), *TINY, *extra]


def environment() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def final_state(run_dir: pathlib.Path) -> dict:
    return json.loads((run_dir / "state.json").read_text())


@pytest.mark.slow
def test_killed_search_resumes_to_the_same_theta(tmp_path):
    reference = tmp_path / "reference"
    subprocess.run(search_command(reference), check=True, env=environment(), capture_output=True, timeout=300)
    interrupted = tmp_path / "interrupted"
    process = subprocess.Popen(search_command(interrupted), env=environment(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            state = interrupted / "state.json"
            if state.exists() and json.loads(state.read_text())["counters"]["steps"] >= 6:
                break
            if process.poll() is not None:
                pytest.fail("the search finished before it could be interrupted; make it longer")
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    killed_at = final_state(interrupted)["counters"]["steps"]
    assert 0 < killed_at < final_state(reference)["counters"]["steps"]
    resumed = subprocess.run(search_command(interrupted), env=environment(), capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {interrupted} at sample" in resumed.stdout
    a, b = final_state(reference), final_state(interrupted)
    assert a["counters"]["finished"] and b["counters"]["finished"]
    np.testing.assert_array_equal(np.array(a["distribution"]["theta"]), np.array(b["distribution"]["theta"]))
    assert [r for r in a["record"]["records"]] == [r for r in b["record"]["records"]]
    result = json.loads((interrupted / "result.json").read_text())
    assert len(result["architecture"]) == 7 and result["flops_m"] > 0
    # ENG on the finished run through the shared dispatcher's entry point
    from ddp_vision.mobilenet.generate import cli

    assert cli(interrupted, ["--flops", "100", "--full-space"]) == 0
    assert (interrupted / "generated" / "pareto_flops_m.png").exists()


def test_nas_bench_macro_search_runs_and_reports_its_benchmark_row(tmp_path):
    run_dir = tmp_path / "macro"
    done = subprocess.run(
        [sys.executable, str(REPO / "tools/search_mobilenet.py"), "--space", "nas-bench-macro", "--run-dir",
         str(run_dir), "--dataset", "synthetic", "--resolution", "32", "--rounds-per-stage", "1",
         "--steps-per-unit", "1", "--batch-size", "8", "--eval-batch-size", "32", "--quiet", "--cpu"],
        env=environment(), capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    space = json.loads((run_dir / "space.json").read_text())
    assert space["metadata"]["kind"] == "nas-bench-macro" and len(space["decisions"]) == 8
    result = json.loads((run_dir / "result.json").read_text())
    assert set(result["candidates"]) <= {"identity", "mb3_e3", "mb5_e6"}
    # synthetic data has 4 classes, so the CIFAR-10 benchmark row is not looked up
    assert "nas_bench_macro" not in result


def test_search_reports_missing_data_dir(tmp_path):
    done = subprocess.run(
        [sys.executable, str(REPO / "tools/search_mobilenet.py"), "--run-dir", str(tmp_path / "x")],
        env=environment(), capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2 and "--data-dir" in done.stderr
