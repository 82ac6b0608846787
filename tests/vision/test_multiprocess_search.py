"""Two CPU processes under ``accelerate launch`` search DARTS together and resume after kill -9 exactly.

Each process dumps the θ and records it ends with (a wrapper around ``DDPSearch.run``, written by the test;
the tool has no hook for it). What must hold: both ranks end with the same θ and records (the main process
decides each round and score, ``broadcast=``); a run killed mid-way and resumed by two processes ends exactly
like an uninterrupted two-process run (per-rank RNG states in the checkpoint). A one-process run is *not*
expected to match: each process trains on half of every batch with its own BatchNorm statistics, so the
numbers differ from the full-batch run.
"""

import json

import pytest
from vision_runs import SLACK, final_state, kill_after, records, timed_run
from vision_runs import accelerate_launch as launch

TINY = ["--dataset", "synthetic", "--rounds-per-stage", "1", "--quiet", "--budget", "none", "--report-to", "none"]

WRAPPER = '''
import json, os, sys
import ddp_core.search
from accelerate import PartialState
from ddp_core import run_cli
from ddp_vision.darts.search import main

run = ddp_core.search.DDPSearch.run

def run_and_dump(self):
    result = run(self)
    rank = PartialState().process_index
    with open(os.path.join(os.environ["RANK_DUMP_DIR"], f"rank{rank}.json"), "w") as handle:
        json.dump({"theta": self.distribution.theta.tolist(), "live": self.distribution.live.tolist(),
                   "records": [[r.stage, r.round, list(r.architecture), r.score] for r in self.record.records],
                   "steps": self.steps, "answer": list(result.architecture)}, handle)
    return result

ddp_core.search.DDPSearch.run = run_and_dump
sys.exit(run_cli(main))
'''


def dumps(directory):
    return [json.loads((directory / f"rank{rank}.json").read_text()) for rank in (0, 1)]


@pytest.mark.slow
def test_two_processes_agree_and_resume_after_kill_exactly(tmp_path):
    script = tmp_path / "search_and_dump.py"
    script.write_text(WRAPPER)
    straight, straight_dumps = tmp_path / "straight", tmp_path / "straight-dumps"
    straight_dumps.mkdir()
    done, seconds = timed_run(launch(2, script, *TINY, "--run-dir", str(straight)), timeout=1200,
                              ACCELERATE_USE_CPU="true", RANK_DUMP_DIR=str(straight_dumps))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("search finished: 33 evaluations") == 1  # only the main process reports
    rank0, rank1 = dumps(straight_dumps)
    assert rank0 == rank1  # same θ, live masks, records and answer in both processes
    assert rank0["records"] == records(straight) and rank0["theta"] == final_state(straight)["distribution"]["theta"]
    (checkpoint,) = (straight / "checkpoints").glob("step-*")
    assert {p.name for p in checkpoint.glob("rng-rank*.json")} == {"rng-rank0.json", "rng-rank1.json"}

    killed, killed_dumps = tmp_path / "killed", tmp_path / "killed-dumps"
    killed_dumps.mkdir()
    command = launch(2, script, *TINY)
    at = kill_after([*command, "--run-dir", str(killed)], killed, at_step=12, limit=SLACK * seconds,
                    ACCELERATE_USE_CPU="true", RANK_DUMP_DIR=str(killed_dumps))
    assert 12 <= at < 33 and not list(killed_dumps.iterdir())
    resumed, _ = timed_run([*command, "--resume", str(killed)], timeout=SLACK * seconds,
                           ACCELERATE_USE_CPU="true", RANK_DUMP_DIR=str(killed_dumps))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    again0, again1 = dumps(killed_dumps)
    assert again0 == again1 == rank0  # both ranks, after kill -9 and resume, end exactly as the straight run
    assert records(killed) == records(straight)
