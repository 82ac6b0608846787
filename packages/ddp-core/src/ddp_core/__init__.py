"""ddp_core: the framework-agnostic DDPNAS engine (numpy only)."""

from ddp_core.cli import add_search_arguments, run_cli, run_directory, search_config_from_args
from ddp_core.config import SearchConfig
from ddp_core.distribution import (
    CategoricalDistribution,
    choose_pruned,
    masked_softmax,
    momentum_update,
    normalize_rows,
    prunable_mask,
)
from ddp_core.generation import GenerationResult, evaluate_costs, expectation, generate, pareto_front
from ddp_core.model import AdditiveModel, normal_scores
from ddp_core.persistence import LoadedRun, load_run, read_json, write_json_atomic, write_text_atomic
from ddp_core.plotting import plot_pareto_front, plot_theta_history, save_figure
from ddp_core.presets import PRESETS
from ddp_core.progress import ProgressBar, ProgressPrinter, TrackerCallback, final_summary
from ddp_core.recommend import CountConstraint
from ddp_core.records import PerformanceRecord, Record, Utility, pruning_error_bound
from ddp_core.rundir import RunDirectoryError
from ddp_core.sampling import DisjointSampler
from ddp_core.search import DDPSearch, Evaluator, SearchResult, stage_schedule
from ddp_core.solver import InfeasibleBudgetError, solve_groups
from ddp_core.space import Architecture, Candidate, CostTable, Decision, Requires, SearchSpace
from ddp_core.validation import argument_type, check_number

__version__ = "0.1.0"

__all__ = [
    "AdditiveModel",
    "PRESETS",
    "RunDirectoryError",
    "argument_type",
    "check_number",
    "normal_scores",
    "run_cli",
    "Architecture",
    "Candidate",
    "CategoricalDistribution",
    "CostTable",
    "CountConstraint",
    "DDPSearch",
    "Decision",
    "DisjointSampler",
    "Evaluator",
    "GenerationResult",
    "InfeasibleBudgetError",
    "LoadedRun",
    "PerformanceRecord",
    "ProgressBar",
    "ProgressPrinter",
    "TrackerCallback",
    "final_summary",
    "Record",
    "Requires",
    "SearchConfig",
    "SearchResult",
    "SearchSpace",
    "Utility",
    "add_search_arguments",
    "choose_pruned",
    "evaluate_costs",
    "expectation",
    "generate",
    "load_run",
    "masked_softmax",
    "momentum_update",
    "normalize_rows",
    "pareto_front",
    "plot_pareto_front",
    "plot_theta_history",
    "prunable_mask",
    "pruning_error_bound",
    "read_json",
    "run_directory",
    "save_figure",
    "search_config_from_args",
    "solve_groups",
    "stage_schedule",
    "write_json_atomic",
    "write_text_atomic",
]
