"""What the generators behind ``tools/generate.py`` share around the recommended network of a run directory.

The answers themselves come from ``LoadedRun.generate`` (:func:`ddp_core.persistence.load_run`), the same ENG as
``SearchResult.generate``: ``eng="model"`` (the default preset's) or ``"theta"`` (Eq. 10 on θ, the
``paper``/``authors`` presets'); :func:`run_eng` picks the run's preset's when none is given. Every answer carries
``.how`` (one line on how it was chosen) and, for the model, ``.alternatives``; :func:`alternatives_entry` adds the
θ answer. :func:`sweep_budgets` and :func:`model_front` give the model's answers over a sweep of one cost, for the
generators' Pareto plots.
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


def sweep_budgets(run: LoadedRun, costs: Mapping[str, Any], cost_name: str, points: int,
                  requested: Sequence[float] = ()) -> list[float]:
    """``points`` budgets of ``cost_name`` evenly spread over what the whole space can cost, plus ``requested``."""
    from ddp_core.budgets import achievable_range

    low, high = achievable_range(run.space, costs[cost_name])
    return sorted({*np.linspace(low, high, max(points, 2)).tolist(), *(float(b) for b in requested)})


def model_front(answers: Sequence[Any], cost_name: str) -> list:
    """The recommended networks of a budget sweep as a front: ascending ``cost_name``, never falling predicted
    score (networks another answer beats at no higher cost are dropped; a tie stays, since it is some budget's
    answer and the plot stars it)."""
    unique = {tuple(a.architecture): a for a in answers if a.feasible and a.predicted_score is not None}
    front: list = []
    for answer in sorted(unique.values(), key=lambda a: (a.costs[cost_name], -a.predicted_score)):
        if not front or answer.predicted_score >= front[-1].predicted_score:
            front.append(answer)
    return front


def alternatives_entry(answer: Any, theta_answer: Any) -> dict[str, Any]:
    """What ``eng.json`` keeps beside the recommended network: the θ answer (Eq. 10) and the best evaluated one."""
    out = dict(getattr(answer, "alternatives", {}) or {})
    if theta_answer is not None and theta_answer.feasible:
        out["theta"] = {"architecture": list(theta_answer.architecture), "described": theta_answer.described,
                        "expectation": theta_answer.expectation, "costs": theta_answer.costs}
    return out
