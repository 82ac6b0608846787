"""Same seed, same search: the architectures ``ask()`` returns, round after round, for each preset.

The reference hashes were recorded on the code before the search-cost work of issue 17 (commit 01ac214) and
must not move with refactors or speed-ups of the loop's bookkeeping (search.py, records.py, sampling.py,
trials.py). A deliberate change of a preset's algorithm (joint.py / quality.py for ``joint``) changes its
trajectory: re-record with ``DDP_RECORD_TRAJECTORIES=1 pytest tests/core/test_trajectory.py -s`` and say so in
the commit.
"""

import hashlib
import os
import warnings

import numpy as np
import pytest

from ddp_core import DDPSearch, Decision, Requires, SearchConfig, SearchSpace


def plain_space():
    return SearchSpace([Decision(f"d{i}", [f"c{j}" for j in range(3 + i % 3)]) for i in range(6)])


def wide_space():  # more than joint.EXACT_TARGET_DECISIONS: round targets by coordinate ascent
    return SearchSpace([Decision(f"d{i}", [f"c{j}" for j in range(4 + i % 3)]) for i in range(14)])


def conditional_space():
    widths = ["s", "m", "l"]
    return SearchSpace([Decision("depth", ["2", "4", "6"])] + [
        Decision(f"layer{i}.width", widths, requires=Requires("depth", [d for d in ("2", "4", "6") if int(d) > i]))
        for i in range(6)
    ] + [Decision("head", ["a", "b", "c", "d"])])


def score(architecture, step):
    rng = np.random.default_rng([step, *architecture])
    return 0.5 + 0.04 * sum(k == 1 for k in architecture) - 0.02 * architecture[0] + 0.01 * rng.standard_normal()


def trajectory(space, utility, seed=5, max_evaluations=None, fail_every=0, rounds=3):
    config = SearchConfig(utility=utility, seed=seed, max_evaluations=max_evaluations,
                          rounds_per_stage=None if max_evaluations else rounds)
    search = DDPSearch(space, config=config, higher_is_better=True)
    digest = hashlib.sha256()
    step = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        while not search.finished:
            waiting = search.ask()
            if not waiting:
                break
            for architecture in reversed(waiting):  # any order
                digest.update(repr(architecture).encode())
                step += 1
                if fail_every and step % fail_every == 0:
                    search.fail(architecture)
                else:
                    search.tell(architecture, score(architecture, step))
    digest.update(repr([(p["stage"], p["decision"], p["candidate"]) for p in search.history["pruned"]]).encode())
    digest.update(repr(search.result().theta_architecture).encode())
    search.close()
    return f"{step}:{digest.hexdigest()[:16]}"


CASES = {
    "paper-plain": (plain_space, "paper", {}),
    "authors-plain": (plain_space, "authors", {}),
    "joint-plain": (plain_space, "joint", {}),
    "paper-conditional": (conditional_space, "paper", {}),
    "authors-conditional": (conditional_space, "authors", {}),
    "joint-conditional": (conditional_space, "joint", {}),
    "joint-wide": (wide_space, "joint", {}),
    "authors-wide": (wide_space, "authors", {}),
    "joint-long": (plain_space, "joint", {"rounds": 12, "seed": 11}),
    "joint-budget-failures": (plain_space, "joint", {"max_evaluations": 150, "fail_every": 7}),
    "paper-budget-failures": (plain_space, "paper", {"max_evaluations": 150, "fail_every": 7}),
}

REFERENCE = {
    "authors-conditional": "30:06e706f58c9002c0",
    "authors-plain": "42:01699f2bc6b72758",
    "authors-wide": "60:1b26ae3e44d9c2a1",
    "joint-budget-failures": "140:11a4cdc28be0dec0",
    "joint-conditional": "30:0ea4f19cc54a0768",
    "joint-long": "168:7098e40b38b39eaa",
    "joint-plain": "42:6927464a20438cd4",
    "joint-wide": "60:3dc18544fd42fa66",
    "paper-budget-failures": "140:56f5415d3fb9b265",
    "paper-conditional": "30:5e2cd8fbc301ad16",
    "paper-plain": "42:582cda718fc0d3b5",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_seed_same_trajectory(name):
    build, utility, options = CASES[name]
    found = trajectory(build(), utility, **options)
    if os.environ.get("DDP_RECORD_TRAJECTORIES"):
        print(f'    "{name}": "{found}",')
        return
    assert found == REFERENCE[name]
