"""The recommended network per budget for a run directory, as the generators behind ``tools/generate.py`` print it.

:func:`recommend_for_run` reads the run's records (``records.jsonl``, checked against the count and digest that
``state.json`` recorded; lines a live search appended after its last save are left out) and answers through
:func:`ddp_core.eng.generate_recommended`, the same ENG as ``SearchResult.generate``: ``eng="model"`` (the
default preset's) or ``"theta"`` (Eq. 10 on θ, the ``paper``/``authors`` presets'); ``None`` is the run's preset's.
Every answer carries ``.how`` (one line on how it was chosen) and, for the model, ``.alternatives``.
:func:`model_front` is the model's answers over a sweep of one cost, for the generators' Pareto plots.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ddp_core.persistence import LoadedRun

ENG_CHOICES = ("model", "theta")
ENG_HELP = ("how ENG chooses: model = the search's estimate of quality with pairwise interactions, exact argmax "
            "under each budget (the joint preset's); theta = Eq. 10 on θ (the paper/authors presets'). Default: "
            "the run's preset's")
THETA_HOW = "Eq. 10: highest expectation of θ (mean over active decisions)"


def run_utility(run: LoadedRun) -> str:
    """The preset (``joint``, ``paper``, ``authors``) the run searched with."""
    return str(run.config.get("utility", "joint"))


def run_eng(run: LoadedRun, eng: str | None) -> str:
    """The ENG a generator uses for ``run``: ``eng`` when given, else the run's preset's (``model`` for the
    default ``joint`` preset, ``theta`` for ``paper``/``authors``)."""
    from ddp_core.eng import ENG_KINDS, default_eng

    if eng is not None and eng not in ENG_KINDS:
        raise ValueError(f"--eng must be one of {', '.join(ENG_KINDS)}, got {eng!r}")
    return eng or default_eng(run_utility(run))


def recommend_for_run(run: LoadedRun, costs: Mapping[str, Any], requests: Sequence[Mapping[str, float]], *,
                      eng: str | None = None, live_only: bool = False, count_constraints: Sequence = (),
                      time_limit_s: float | None = 60.0) -> list:
    """One entry per request: a ``GenerationResult`` (with ``.how``) or an ``InfeasibleBudget`` in its place."""
    from ddp_core.eng import generate_recommended, records_from_rows
    from ddp_core.rundir import RecordLog, read_state

    state = read_state(run.run_dir / "state.json")
    count = state.get("records", 0)
    # a live search may have appended the lines of its next save already: read what state.json names
    rows = RecordLog(run.run_dir / "records.jsonl").read(count, state.get("records_sha256"), truncate=False,
                                                         max_tail=2**62)
    record = records_from_rows(run.space, rows)
    return generate_recommended(run.space, record, run.distribution, costs, [dict(r) for r in requests],
                                higher_is_better=bool(state.get("higher_is_better", True)),
                                utility=run_utility(run), eng=eng, live_only=live_only,
                                count_constraints=count_constraints, on_infeasible="report",
                                time_limit_s=time_limit_s)


def sweep_budgets(run: LoadedRun, costs: Mapping[str, Any], cost_name: str, points: int,
                  requested: Sequence[float] = ()) -> list[float]:
    """``points`` budgets of ``cost_name`` evenly spread over what the whole space can cost, plus ``requested``."""
    from ddp_core.budgets import achievable_range

    low, high = achievable_range(run.space, costs[cost_name])
    return sorted({*np.linspace(low, high, max(points, 2)).tolist(), *(float(b) for b in requested)})


def model_front(answers: Sequence[Any], cost_name: str) -> list:
    """The recommended networks of a budget sweep as a front: ascending ``cost_name``, strictly rising predicted
    score (networks another answer beats at no higher cost are dropped)."""
    unique = {tuple(a.architecture): a for a in answers if a.feasible and a.predicted_score is not None}
    front: list = []
    for answer in sorted(unique.values(), key=lambda a: (a.costs[cost_name], -a.predicted_score)):
        if not front or answer.predicted_score > front[-1].predicted_score:
            front.append(answer)
    return front


def alternatives_entry(answer: Any, theta_answer: Any) -> dict[str, Any]:
    """What ``eng.json`` keeps beside the recommended network: the θ answer (Eq. 10) and the best evaluated one."""
    out = dict(getattr(answer, "alternatives", {}) or {})
    if theta_answer is not None and theta_answer.feasible:
        out["theta"] = {"architecture": list(theta_answer.architecture), "described": theta_answer.described,
                        "expectation": theta_answer.expectation, "costs": theta_answer.costs}
    return out
