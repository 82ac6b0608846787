"""The history of an ask/tell search as optuna users expect it: trials, the best one, failed evaluations.

A trial is one evaluation the search asked for: ``complete`` with a score (a record of the performance record P)
or ``failed`` (told ``None`` or :meth:`~ddp_core.search.DDPSearch.fail`). A failed evaluation counts against
the budget and closes its slot of the round, but never enters P, the utility or the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ddp_core.records import PerformanceRecord
from ddp_core.space import Architecture, SearchSpace

COMPLETE = "complete"
FAILED = "failed"


@dataclass(frozen=True)
class Trial:
    """One evaluation: ``number`` counts from 0 in the order they were told; ``seconds`` is None when the
    executor gave no time or the trial was told before a resume."""

    number: int
    architecture: Architecture
    described: dict[str, str]
    score: float | None
    stage: int
    round: int
    seconds: float | None
    state: str


class TrialLog:
    """Failed evaluations (saved in ``state.json``) and evaluation times (this process only)."""

    def __init__(self) -> None:
        self.failed: list[tuple[int, int, int, Architecture]] = []  # (number, stage, round, architecture)
        self.seconds: dict[int, float] = {}

    def add_failure(self, number: int, stage: int, round_index: int, architecture: Architecture) -> None:
        self.failed.append((number, stage, round_index, architecture))

    def state_list(self) -> list[list[Any]]:
        return [[n, s, r, list(a)] for n, s, r, a in self.failed]

    def trials(self, space: SearchSpace, record: PerformanceRecord) -> list[Trial]:
        failed = {n: (s, r, a) for n, s, r, a in self.failed}
        out, scored = [], iter(record.records)
        for number in range(len(record.records) + len(self.failed)):
            if number in failed:
                stage, round_index, architecture = failed[number]
                score, state = None, FAILED
            else:
                done = next(scored)
                stage, round_index, architecture, score, state = done.stage, done.round, done.architecture, \
                    done.score, COMPLETE
            out.append(Trial(number, architecture, space.describe(architecture), score, stage, round_index,
                             self.seconds.get(number), state))
        return out


def best_trial(trials: Sequence[Trial], higher_is_better: bool) -> Trial | None:
    """The complete trial with the best score (the first of equals); None before any."""
    complete = [t for t in trials if t.state == COMPLETE]
    if not complete:
        return None
    sign = 1.0 if higher_is_better else -1.0
    return max(complete, key=lambda t: (sign * t.score, -t.number))


def full_description(space: SearchSpace, architecture: Architecture) -> dict[str, str]:
    return {d.name: d.candidates[k].name for d, k in zip(space.decisions, architecture, strict=True)}


def matches(space: SearchSpace, architecture: Architecture, given: Mapping[str, Any]) -> bool:
    """``given`` describes ``architecture``: its active decisions (what ``ask(described=True)`` returns) or all."""
    given = dict(given)
    return given == space.describe(architecture) or given == full_description(space, architecture)
