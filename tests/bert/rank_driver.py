"""Runs the BERT search command under `accelerate launch` and writes each process's final search state
(θ, live mask, records, counters) to ``$DDP_RANK_DUMP/rank{N}.json``, so a test can compare the processes.

``DDP_CRASH_AT_STEP=k`` makes every process stop with KeyboardInterrupt right after the k-th score (before
that step's checkpoint), like a crash that a resume then repairs. Not collected by pytest (no ``test_`` prefix).
"""

import json
import os
import sys
from pathlib import Path

from ddp_bert import search_cli
from ddp_core import DDPSearch


class Crash:
    def __init__(self, step: int) -> None:
        self.step = step

    def on_sample(self, search, event) -> None:
        if event["step"] == self.step:
            raise KeyboardInterrupt(f"simulated crash after step {self.step}")


original_run = DDPSearch.run


def run_and_dump(self):
    crash_at = int(os.environ.get("DDP_CRASH_AT_STEP", "0"))
    if crash_at:
        self.callbacks.append(Crash(crash_at))
    result = original_run(self)
    dump = {
        "rank": int(os.environ.get("RANK", "0")),
        "distribution": self.distribution.state_dict(),
        "records": [[r.stage, r.round, list(r.architecture), r.score] for r in self.record.records],
        "steps": self.steps, "finished": self.finished, "answer": list(result.architecture),
        "optimizer_steps": self.evaluator.optimizer_steps,
    }
    folder = Path(os.environ["DDP_RANK_DUMP"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"rank{dump['rank']}.json").write_text(json.dumps(dump))
    return result


DDPSearch.run = run_and_dump

if __name__ == "__main__":
    sys.exit(search_cli.cli())
