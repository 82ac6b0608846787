"""ENG as a user calls it: one recommended network per budget, from a finished (or running) search.

``SearchResult.generate(costs, budgets)`` and ``LoadedRun.generate(costs, budgets)`` both land here.

- ``eng="model"`` (the default preset's ENG): the exact argmax of the search's estimate of quality under each
  budget, over the whole space (``live_only=True`` restricts it to the live candidates), never worse by that
  estimate than the best evaluated network that meets the budget (:mod:`ddp_core.recommend`).
- ``eng="theta"`` (the ``paper`` and ``authors`` presets' ENG, and an option for every preset): Eq. 10, the
  architecture of highest expectation E[α] = mean θ, exactly (:func:`ddp_core.generation.generate`).

A budget no architecture of the space meets is reported in place (``InfeasibleBudget``: one line and the
smallest achievable costs); the other budgets are answered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ddp_core import joint
from ddp_core.distribution import CategoricalDistribution
from ddp_core.generation import (
    GenerationResult,
    InfeasibleBudget,
    evaluate_costs,
    expectation,
    generate,
    prepare_request,
)
from ddp_core.recommend import CountConstraint, recommend
from ddp_core.records import PerformanceRecord
from ddp_core.solver import InfeasibleBudgetError
from ddp_core.space import CostTable, SearchSpace

ENG_KINDS = ("model", "theta")


def default_eng(utility: str) -> str:
    """The ENG each preset uses by default: the model for ``joint``, Eq. 10 on θ for ``paper`` / ``authors``."""
    return "model" if utility == "joint" else "theta"


def _predicted_score(model, estimate: float, sign: float) -> float:
    """The estimate (normal-score units, last stage's intercept) mapped back to the scale of the scores."""
    z = model.z
    scores = model._scores[: model.num_records]
    order = np.argsort(z, kind="stable")
    level = estimate + float(model.intercepts[-1])
    return float(sign * np.interp(level, z[order], scores[order]))


def _how(source: str, times: int, best_mean: float | None, predicted: float, single: bool,
         best_estimate: float | None = None) -> str:
    where = "the whole space" if single else "the budget"
    if source == "model":
        tail = f"; the best evaluated network under it scored {best_mean:.4g}" if best_mean is not None else ""
        if tail and best_estimate is not None:  # what the comparison used: its scores weighed against the model
            tail += f" (estimate {best_estimate:.4g}, its scores weighed against the model)"
        return (f"model optimum over {where}, not evaluated yet: predicted score {predicted:.4g} (pairwise model "
                f"of every record){tail}")
    return (f"best evaluated network under {where} by the model-adjusted estimate ({times} score"
            f"{'s' if times != 1 else ''}, mean {best_mean:.4g}); the model predicts nothing better by one predictive sd")


def generate_recommended(
    space: SearchSpace,
    record: PerformanceRecord,
    distribution: CategoricalDistribution,
    costs: Mapping[str, CostTable] | None,
    budgets: Mapping[str, float] | Sequence[Mapping[str, float]] | None,
    *,
    higher_is_better: bool,
    utility: str = "joint",
    eng: str | None = None,
    live_only: bool = False,
    constraints: Sequence = (),
    count_constraints: Sequence[CountConstraint] = (),
    on_infeasible: str = "report",
    time_limit_s: float | None = 60.0,
) -> GenerationResult | list[GenerationResult | InfeasibleBudget]:
    """See the module docstring; the return follows :func:`ddp_core.generation.generate` (a list for a list)."""
    eng = eng or default_eng(utility)
    if eng not in ENG_KINDS:
        raise ValueError(f"eng must be one of {', '.join(ENG_KINDS)}, got {eng!r}")
    costs, budget_list, many, _, _ = prepare_request(space, costs, budgets, on_infeasible)
    cache = joint.ModelCache(space, higher_is_better) if eng == "model" else None
    model = cache.get(record, force=True) if cache is not None else None
    if eng == "theta" or model is None:
        if count_constraints:
            raise ValueError("count constraints need eng='model' and a search with at least two scores")
        answers = generate(space, distribution, costs, budget_list, live_only=live_only, constraints=constraints,
                           on_infeasible="report", time_limit_s=time_limit_s)
        how = ("Eq. 10: highest expectation of θ (mean over active decisions)" if eng == "theta" else
               "Eq. 10 on θ: the search has fewer than two scores, too few for the model")
        for answer in answers:
            if isinstance(answer, GenerationResult):
                answer.source, answer.how = "theta", how
        return _finish(answers, many, on_infeasible)
    allowed = distribution.live.copy() if live_only else space.full_mask()
    found = recommend(space, model, costs, budget_list, allowed=allowed, count_constraints=count_constraints,
                      constraints=constraints, time_limit_s=time_limit_s)
    theta = distribution.generation_theta(live_only)
    sign = 1.0 if higher_is_better else -1.0
    means = _mean_scores(record)
    results: list[GenerationResult | InfeasibleBudget] = []
    for budget, rec in zip(budget_list, found, strict=True):
        if rec.architecture is None:
            results.append(_infeasible(space, distribution, costs, budget, live_only, constraints, count_constraints,
                                       rec.proven_optimal))
            continue
        chosen = rec.architecture
        predicted = _predicted_score(model, rec.estimate, sign)
        best_mean = means.get(rec.best_evaluated) if rec.best_evaluated is not None else None
        result = GenerationResult(chosen, expectation(space, theta, chosen), evaluate_costs(space, costs, chosen),
                                  {k: float(v) for k, v in budget.items()}, space.describe(chosen),
                                  rec.proven_optimal)
        result.estimate, result.source, result.predicted_score = rec.estimate, rec.source, predicted
        best_estimate = (None if rec.best_evaluated is None or not np.isfinite(rec.best_evaluated_estimate)
                         else _predicted_score(model, rec.best_evaluated_estimate, sign))
        result.how = _how(rec.source, rec.times_evaluated, best_mean if rec.source == "model" else
                          means.get(chosen), predicted, not budget, best_estimate)
        result.alternatives = {
            "best_evaluated": None if rec.best_evaluated is None else {
                "architecture": list(rec.best_evaluated), "described": space.describe(rec.best_evaluated),
                "estimate": rec.best_evaluated_estimate, "mean_score": best_mean},
        }
        results.append(result)
    return _finish(results, many, on_infeasible)


def _mean_scores(record: PerformanceRecord) -> dict[tuple[int, ...], float]:
    sums: dict[tuple[int, ...], list[float]] = {}
    for r in record.records:
        sums.setdefault(r.architecture, []).append(r.score)
    return {a: float(np.mean(v)) for a, v in sums.items()}


def _infeasible(space, distribution, costs, budget, live_only, constraints, count_constraints,
                proven: bool) -> InfeasibleBudget:
    budgets = {k: float(v) for k, v in budget.items()}
    if not proven:
        return InfeasibleBudget(budgets, "the time limit ran out before any architecture meeting "
                                f"{budgets} was found; raise time_limit_s", {n: None for n in budget}, False)
    if not count_constraints:
        entry = generate(space, distribution, costs, [budget], live_only=live_only, constraints=constraints,
                         on_infeasible="report")[0]
        if isinstance(entry, InfeasibleBudget):
            return entry
    return InfeasibleBudget(budgets, f"no architecture meets {budgets} under the structural constraints; raise "
                            "the budget", {n: None for n in budget})


def _finish(results: list, many: bool, on_infeasible: str) -> Any:
    for entry in results:
        if isinstance(entry, InfeasibleBudget) and (on_infeasible == "raise" or not many):
            raise InfeasibleBudgetError(entry.message)
    return results if many else results[0]


def records_from_rows(space: SearchSpace, rows: Sequence[Sequence[Any]],
                      stationary: bool = False) -> PerformanceRecord:
    """A PerformanceRecord from ``records.jsonl`` rows ``[stage, round, architecture, score]`` (``stationary``:
    the run's ``SearchConfig.stationary_scores``)."""
    record = PerformanceRecord(space, stationary=stationary)
    for row in rows:
        record.add(int(row[0]), int(row[1]), tuple(int(k) for k in row[2]), float(row[3]))
    return record
