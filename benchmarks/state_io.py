#!/usr/bin/env python
"""Per-step cost of saving a search's run directory, from 100 to 10,000 records.

    python benchmarks/state_io.py [--points 100,1000,10000] [--repeats 20]

ddp-core appends each record to ``records.jsonl`` (fsync'd) and rewrites only the small ``state.json`` and
``summary.json``, so a step's I/O should not grow with the number of records. The baseline in the same process
is what the previous format did: ``state.json`` holding every record, rewritten whole at every step.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ddp_core import DDPSearch, Decision, SearchConfig, SearchSpace, write_json_atomic


class Oracle:
    higher_is_better = True

    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)

    def train(self, architecture) -> None:
        pass

    def score(self, architecture) -> float:
        return float(self.rng.random())


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", default="100,1000,10000")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    points = [int(p) for p in args.points.split(",")]
    space = SearchSpace([Decision(f"edge{i}", [f"op{k}" for k in range(8)]) for i in range(28)])  # DARTS-sized
    rounds = (max(points) + 8 * args.repeats) // 16 + 1  # two stages, as long as the largest point needs
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        run_dir = Path(directory) / "run"
        # NoPrune with two long stages (a real search has a handful): the bookkeeping is the same for every
        # preset; the paper preset fits no model, so only I/O is timed.
        search = DDPSearch(space, Oracle(), SearchConfig(utility="paper", prune=False, stages=2, rounds_per_stage=rounds,
                                                         temperature=1.0, checkpoint_every=10**9), run_dir=run_dir)
        for point in points:
            while search.steps < point:
                search.step()
            timings = []
            for _ in range(args.repeats):
                search.step()  # one more record to append each time
                started = time.perf_counter()
                search.state.save()
                timings.append(time.perf_counter() - started)
            everything = {**search.state.state_dict(),
                          "records": [[r.stage, r.round, list(r.architecture), r.score] for r in search.record.records]}
            baseline = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                write_json_atomic(Path(directory) / "old_state.json", everything)
                baseline.append(time.perf_counter() - started)
            rows.append((search.steps, float(np.median(timings)), float(np.median(baseline))))
        search.close()
    print(f"{'records':>8}{'save (ms)':>12}{'vs first point':>16}{'rewrite-all baseline (ms)':>28}")
    for count, ours, theirs in rows:
        print(f"{count:>8}{ours * 1e3:>12.2f}{ours / rows[0][1]:>15.2f}x{theirs * 1e3:>28.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
