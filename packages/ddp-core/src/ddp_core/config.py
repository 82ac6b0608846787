"""SearchConfig: every setting of a search, validated, with each preset's defaults made explicit."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ddp_core.distribution import Normalization
from ddp_core.presets import PRESET_DEFAULTS, PRESETS
from ddp_core.search_budgets import check_budgets
from ddp_core.validation import check_number

DEFAULT_ROUNDS_PER_STAGE = 3

# SearchConfig field -> the command-line flag that sets it (add_search_arguments), for messages.
FLAGS = {
    "utility": "--utility", "rounds_per_stage": "--rounds-per-stage", "max_evaluations": "--max-evaluations",
    "momentum": "--theta-momentum", "temperature": "--temperature", "normalization": "--normalization",
    "prune": "--no-prune", "stages": "--stages", "bound_threshold": "--bound-threshold",
    "max_postponed_stages": "--max-postponed-stages", "seed": "--seed", "checkpoint_every": "--checkpoint-every",
    "budgets": "--budget (budgets known before the search)", "stationary_scores": "SearchConfig.stationary_scores",
}


@dataclass
class SearchConfig:
    """Settings of a DDPNAS search. Unset (None) fields take the preset's documented value.

    Parameters
    ----------
    utility : {"joint", "paper", "authors"}
        The preset (see :mod:`ddp_core.presets` and ALGORITHM.md): ``"joint"`` (default, measured best),
        ``"paper"`` (Eq. 2-5 exactly), ``"authors"`` (the released XNAS code exactly).
    rounds_per_stage : int, optional
        T, rounds between two pruning steps (paper: 3). Default 3, or what ``max_evaluations`` allows.
    max_evaluations : int, optional
        Spend at most this many evaluations: T becomes the largest that fits the whole schedule
        (``evaluations_planned``). Cannot be combined with ``rounds_per_stage``.
    momentum : float, optional
        γ of Eq. 4 in [0, 1) (joint 0.9, paper 0.9, authors 0.8).
    temperature : float, optional
        τ > 0 of softmax(U / τ) (joint 0.5 in standard deviations of normal scores; paper and authors 0.01,
        the x100 of the released code, which assumes scores in [0, 1]).
    normalization : {"sum", "softmax"}
        How θ + V is renormalised (Eq. 5): by the row sum (released code) or a softmax (paper text). The
        ``authors`` preset only allows ``"sum"``.
    prune : bool
        False runs the NoPrune ablation for ``stages`` stages.
    stages : int, optional
        NoPrune only (an error with pruning): number of stages; default the number a pruning run takes.
    bound_threshold : float, optional
        Postpone pruning while the largest Theorem 3 bound over prunable decisions exceeds this (not in the
        paper), at most ``max_postponed_stages`` stages in a row (only with a threshold).
    seed : int
        Seeds the sampler and the preset's choices (the evaluator seeds itself).
    checkpoint_every : int
        Save the run directory every this many scored architectures (and at every stage end).
    budgets : list of dict, optional
        Budgets known before the search (``[{"flops_m": 40.0}, {"params_m": 1.5}]``; give their cost tables as
        ``DDPSearch(costs=...)``): the ``joint`` preset's target slots spend their evaluations on networks that
        meet them, round robin (:mod:`ddp_core.search_budgets`); θ's sampling is unchanged and ENG afterwards
        still answers any budget. Only with ``utility="joint"`` (``paper`` / ``authors`` refuse them).
    stationary_scores : bool
        True when a network's score does not depend on when it is measured (stand-alone training, a benchmark
        table): the ``joint`` preset's quality model then fits one level for all stages instead of a free level
        per stage (which a weight-sharing supernet needs, its scores rising as it trains, and which otherwise
        takes how much better a later stage's networks are for drift). Measured in BENCHMARKS.md ("Stage
        levels"); kept in the run directory, and ENG from a saved run uses it.
    """

    utility: str = "joint"
    rounds_per_stage: int | None = None
    max_evaluations: int | None = None
    momentum: float | None = None
    temperature: float | None = None
    normalization: Normalization = "sum"
    prune: bool = True
    stages: int | None = None
    bound_threshold: float | None = None
    max_postponed_stages: int = 2
    seed: int = 0
    checkpoint_every: int = 1
    budgets: list[dict[str, float]] | None = None
    stationary_scores: bool = False

    def __post_init__(self) -> None:
        if self.utility not in PRESETS:
            raise ValueError(f"utility must be one of {', '.join(PRESETS)}; got {self.utility!r}")
        if self.rounds_per_stage is not None:
            check_number("rounds_per_stage", self.rounds_per_stage, integer=True, minimum=1)
        if self.max_evaluations is not None:
            check_number("max_evaluations", self.max_evaluations, integer=True, minimum=1)
            if self.rounds_per_stage is not None:
                raise ValueError("give max_evaluations or rounds_per_stage, not both: the budget chooses T")
        if self.momentum is not None:
            check_number("momentum", self.momentum, minimum=0, maximum=1, exclusive_maximum=True)
        if self.temperature is not None:
            check_number("temperature", self.temperature, minimum=0, exclusive_minimum=True)
        if self.normalization not in ("sum", "softmax"):
            raise ValueError(f"normalization must be 'sum' or 'softmax', got {self.normalization!r}")
        if self.utility == "authors" and self.normalization != "sum":
            raise ValueError("utility='authors' renormalises θ by its row sum, as the released code does; "
                             "normalization='softmax' belongs to the 'paper' or 'joint' presets")
        if not isinstance(self.prune, bool):
            raise ValueError(f"prune must be True or False, got {self.prune!r}")
        if self.stages is not None:
            check_number("stages", self.stages, integer=True, minimum=1)
            if self.prune:
                raise ValueError("stages sets the length of a NoPrune run (prune=False); a pruning run ends when "
                                 "every decision is at its floor")
        if self.bound_threshold is not None:
            check_number("bound_threshold", self.bound_threshold, minimum=0, exclusive_minimum=True)
        check_number("max_postponed_stages", self.max_postponed_stages, integer=True, minimum=0)
        if self.bound_threshold is None and self.max_postponed_stages != 2:
            raise ValueError("max_postponed_stages only applies with bound_threshold; set both or neither")
        check_number("seed", self.seed, integer=True, minimum=0)
        check_number("checkpoint_every", self.checkpoint_every, integer=True, minimum=1)
        self.budgets = check_budgets(self.budgets)
        if not isinstance(self.stationary_scores, bool):
            raise ValueError(f"stationary_scores must be True or False, got {self.stationary_scores!r}")
        if self.budgets is not None and self.utility != "joint":
            source = "the paper" if self.utility == "paper" else "the released code"
            raise ValueError(f"budgets known before the search steer the 'joint' preset's target slots; "
                             f"utility={self.utility!r} follows {source} exactly and takes none (leave budgets "
                             "out: ENG after the search answers any budget)")

    @property
    def gamma(self) -> float:
        return PRESET_DEFAULTS[self.utility]["momentum"] if self.momentum is None else float(self.momentum)

    @property
    def tau(self) -> float:
        return PRESET_DEFAULTS[self.utility]["temperature"] if self.temperature is None else float(self.temperature)

    def signature(self) -> dict[str, Any]:
        """Settings that change results: a run directory resumes only under the same ones."""
        data = dataclasses.asdict(self)
        data.pop("checkpoint_every")
        if not data["stationary_scores"]:  # runs saved before the setting existed resume unchanged
            data.pop("stationary_scores")
        return data
