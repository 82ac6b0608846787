"""SearchResult: what a finished (or stopped) search answers, and ENG over its records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ddp_core.distribution import CategoricalDistribution
from ddp_core.records import PerformanceRecord
from ddp_core.space import Architecture, SearchSpace


@dataclass
class SearchResult:
    """The answer of a search. ``architecture`` is what tools print and save: for the default preset the
    recommended network without a budget (the exact argmax of the model's estimate over the whole space), for
    ``paper``/``authors`` argmax θ; ``generate(costs, budgets)`` gives the recommended network per budget.
    ``theta_architecture`` is argmax θ in every case."""

    space: SearchSpace
    distribution: CategoricalDistribution
    architecture: Architecture
    history: dict[str, list]
    steps: int
    record: PerformanceRecord = field(repr=False)
    theta_architecture: Architecture = ()
    answer: dict[str, Any] = field(default_factory=dict)
    utility: str = "joint"
    higher_is_better: bool = True

    @property
    def evaluations(self) -> int:
        return self.steps

    def generate(self, costs=None, budgets=None, *, eng: str | None = None, live_only: bool = False,
                 constraints=(), count_constraints=(), on_infeasible: str = "report",
                 time_limit_s: float | None = 60.0):
        """The recommended network for each budget (ENG), over the whole space by default.

        ``eng="model"`` (the default preset's): the exact argmax of the search's estimate of quality under the
        budget, never worse by that estimate than the best evaluated network meeting it; ``eng="theta"`` (the
        ``paper``/``authors`` presets'): Eq. 10 on θ. One budget mapping gives one GenerationResult (an
        infeasible one raises); a list gives one entry per budget, an InfeasibleBudget in place of each budget
        no architecture meets. See :mod:`ddp_core.eng`.
        """
        from ddp_core.eng import generate_recommended

        return generate_recommended(self.space, self.record, self.distribution, costs, budgets,
                                    higher_is_better=self.higher_is_better, utility=self.utility, eng=eng,
                                    live_only=live_only, constraints=constraints,
                                    count_constraints=count_constraints, on_infeasible=on_infeasible,
                                    time_limit_s=time_limit_s)

    def describe(self) -> dict[str, str]:
        return self.space.describe(self.architecture)
