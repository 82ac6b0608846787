"""PerformanceRecord's columns: the same stage's records as the record objects, across appends and a reload."""

import numpy as np

from ddp_core import Decision, PerformanceRecord, SearchSpace


def test_stage_arrays_follow_the_records():
    space = SearchSpace([Decision(f"d{i}", ["a", "b", "c"]) for i in range(4)])
    record = PerformanceRecord(space)
    rng = np.random.default_rng(0)

    def check():
        for stage in range(3):
            architectures, rounds, scores = record.stage_arrays(stage)
            expected = record.for_stage(stage)
            assert architectures.tolist() == [list(r.architecture) for r in expected]
            assert rounds.tolist() == [r.round for r in expected]
            assert scores.tolist() == [r.score for r in expected]

    check()  # empty
    for step in range(150):  # appends between calls, past several capacity doublings
        record.add(step // 60, step % 7, tuple(int(k) for k in rng.integers(0, 3, 4)), float(rng.random()))
        if step % 23 == 0:
            check()
    check()
    reloaded = PerformanceRecord(space)
    reloaded.add(0, 0, (0, 0, 0, 0), 1.0)
    reloaded.stage_arrays(0)
    reloaded.load_state_dict(record.state_dict())
    record = reloaded
    check()
    record.records = record.records[:10]  # a shorter list starts the columns again
    check()
