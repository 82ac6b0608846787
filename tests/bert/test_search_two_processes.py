"""Two CPU processes (gloo DDP) run one MiniLM search: the main process decides every round and score, both
processes end with the same θ and records, and a crashed two-process search resumes to the same result."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYTHON_BIN = Path(sys.executable).parent
LAUNCH = [str(PYTHON_BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
          "--mixed_precision", "no", "--dynamo_backend", "no", "tests/bert/rank_driver.py"]

pytestmark = pytest.mark.slow


def launch(args, dump, timeout, crash_at=0):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "ACCELERATE_USE_CPU": "true", "DDP_RANK_DUMP": str(dump), "DDP_CRASH_AT_STEP": str(crash_at),
           "PATH": f"{PYTHON_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    started = time.perf_counter()
    completed = subprocess.run(LAUNCH + args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    return completed, time.perf_counter() - started


def ranks(dump):
    return [json.loads((dump / f"rank{rank}.json").read_text()) for rank in (0, 1)]


def test_two_processes_agree_and_resume_to_the_same_search(minilm_path, glue_dir, tmp_path, startup_seconds):
    def args(run_dir):
        return ["--task", "rte", "--model", minilm_path, "--data-dir", glue_dir, "--run-dir", str(run_dir),
                "--max-length", "16", "--batch-size", "4", "--steps-per-unit", "1", "--rounds-per-stage", "2",
                "--importance-batches", "1", "--score-fraction", "0.25", "--max-score-examples", "16",
                "--depths", "3,6", "--ffn-widths", "384,1536", "--heads", "6,12", "--min-live", "1",
                "--checkpoint-every", "2", "--report-to", "none"]

    straight = tmp_path / "straight"
    # here the three launches took 109 s in all and the import 6.4 s: 40x leaves room for a loaded machine
    completed, seconds = launch(args(straight), tmp_path / "dump_straight", timeout=40 * startup_seconds)
    assert completed.returncode == 0, completed.stderr[-3000:]
    first, second = ranks(tmp_path / "dump_straight")
    state = json.loads((straight / "state.json").read_text())
    assert first == {**second, "rank": 0} and state["counters"]["finished"]
    assert first["distribution"] == state["distribution"]
    records = [json.loads(line) for line in (straight / "records.jsonl").read_text().splitlines()]
    assert first["records"] == records and len(records) == first["steps"]
    assert state["description"]["--num_processes"] == 2
    lines = [json.loads(line) for line in (straight / "log.jsonl").read_text().splitlines()]
    assert sum(line["kind"] == "sample" for line in lines) == first["steps"]  # only the main process logs
    checkpoint = straight / "checkpoints" / state["checkpoint"]
    assert (checkpoint / "rng-rank0.pt").exists() and (checkpoint / "rng-rank1.pt").exists()

    crashed = tmp_path / "crashed"
    completed, _ = launch(args(crashed), tmp_path / "dump_crashed", 5 * seconds, crash_at=3)
    assert completed.returncode != 0 and "interrupted; continue with --resume" in completed.stderr
    assert json.loads((crashed / "state.json").read_text())["counters"]["steps"] == 2
    completed, _ = launch(args(crashed) + ["--resume", str(crashed)], tmp_path / "dump_resumed", 5 * seconds)
    assert completed.returncode == 0, completed.stderr[-3000:]
    resumed = ranks(tmp_path / "dump_resumed")
    for rank, dump in enumerate(resumed):
        assert dump == {**first, "rank": rank}, rank  # θ, live mask, every record, optimizer steps
    assert (crashed / "records.jsonl").read_text() == (straight / "records.jsonl").read_text()
