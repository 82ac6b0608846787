"""Helpers for the vision tool tests: run a tool as a process, kill it with SIGKILL mid-run, read its run directory.

Timeouts scale with the work: a test first times an uninterrupted run of the same command on this machine and
allows a multiple of it (never a fixed wall), so a slow shared machine slows the limits down with the runs.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
SLACK = 6.0  # a killed-and-resumed run does the work of one run plus start-up twice: allow 6x the reference


def environment(**extra: str) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg",
            "PYTHONUNBUFFERED": "1", **extra}


def tool(name: str, *args: str) -> list[str]:
    return [sys.executable, str(REPO / "tools" / name), *args]


def accelerate_launch(processes: int, script: str | pathlib.Path, *args: str) -> list[str]:
    """Two (or more) CPU processes over gloo, as ENVIRONMENT.md measured it."""
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", str(script), *args]


def timed_run(command: list[str], timeout: float, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    """Run to completion; returns the process result and its wall time in seconds."""
    started = time.monotonic()
    done = subprocess.run(command, env=environment(**env), capture_output=True, text=True, timeout=timeout)
    return done, time.monotonic() - started


def steps(run_dir: pathlib.Path) -> int:
    try:
        return int(json.loads((run_dir / "state.json").read_text())["counters"]["steps"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


def kill_tree(pid: int) -> None:
    """SIGKILL a process and every descendant, at once (torchrun starts its workers in new sessions, so the
    launcher's process group does not hold them)."""
    import psutil

    try:
        parent = psutil.Process(pid)
        family = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for process in family:
        try:
            process.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=30)


def kill_after(command: list[str], run_dir: pathlib.Path, at_step: int, limit: float, **env: str) -> int:
    """Start ``command``, SIGKILL it and all its descendants once the run directory has saved ``at_step``
    evaluations (or ``limit`` seconds passed); returns the number of saved evaluations."""
    process = subprocess.Popen(command, env=environment(**env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    deadline = time.monotonic() + limit
    try:
        while time.monotonic() < deadline and process.poll() is None and steps(run_dir) < at_step:
            time.sleep(0.02)
        finished_early = process.poll() is not None
    finally:
        if process.poll() is None:
            kill_tree(process.pid)
        _, err = process.communicate()
    if finished_early:
        raise AssertionError(f"the run ended (status {process.returncode}) before step {at_step}: {err[-2000:]}")
    return steps(run_dir)


def final_state(run_dir: pathlib.Path) -> dict:
    return json.loads((run_dir / "state.json").read_text())


def records(run_dir: pathlib.Path) -> list:
    return [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
