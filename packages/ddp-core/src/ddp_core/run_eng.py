"""The recommended network per budget for a run directory, as the generators behind ``tools/generate.py`` print it.

:func:`recommend_for_run` reads the run's records (``records.jsonl``, checked against the count and digest that
``state.json`` recorded; lines a live search appended after its last save are left out) and answers through
:func:`ddp_core.eng.generate_recommended`, the same ENG as ``SearchResult.generate``: ``eng="model"`` (the
default preset's) or ``"theta"`` (Eq. 10 on θ, the ``paper``/``authors`` presets'); ``None`` is the run's preset's.
Every answer carries ``.how`` (one line on how it was chosen) and, for the model, ``.alternatives``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ddp_core.persistence import LoadedRun

ENG_CHOICES = ("model", "theta")
ENG_HELP = ("how ENG chooses: model = the search's estimate of quality with pairwise interactions, exact argmax "
            "under each budget (the joint preset's); theta = Eq. 10 on θ (the paper/authors presets'). Default: "
            "the run's preset's")


def run_utility(run: LoadedRun) -> str:
    """The preset (``joint``, ``paper``, ``authors``) the run searched with."""
    return str(run.config.get("utility", "joint"))


def recommend_for_run(run: LoadedRun, costs: Mapping[str, Any], requests: Sequence[Mapping[str, float]], *,
                      eng: str | None = None, live_only: bool = False, time_limit_s: float | None = 60.0) -> list:
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
                                utility=run_utility(run), eng=eng, live_only=live_only, on_infeasible="report",
                                time_limit_s=time_limit_s)


def alternatives_entry(answer: Any, theta_answer: Any) -> dict[str, Any]:
    """What ``eng.json`` keeps beside the recommended network: the θ answer (Eq. 10) and the best evaluated one."""
    out = dict(getattr(answer, "alternatives", {}) or {})
    if theta_answer is not None and theta_answer.feasible:
        out["theta"] = {"architecture": list(theta_answer.architecture), "described": theta_answer.described,
                        "expectation": theta_answer.expectation, "costs": theta_answer.costs}
    return out
