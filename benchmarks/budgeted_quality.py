"""Budgeted search quality: the network each method gives a user for each budget (search_quality.py --budgeted).

Budgets: every cost of a problem at the 10/25/50/75% quantiles over its distinct networks, one cost at a time.
One search per method and seed serves every budget, at the same total evaluations (T rounds per stage of DDPNAS):

- ``default``: the default preset's recommendation, ``SearchResult.generate(costs, budgets)`` with its own
  defaults, from a search given the problem's cost tables as every tool gives them (``DDPSearch(costs=...)``
  without budgets: part of its target slots serve random budgets across the cost range). An older ddp-core
  snapshot without ``SearchResult.generate`` (imported for a comparison) answers with theta-eng below instead,
  and the row says ``default[placeholder]``.
- ``theta-eng``: Eq. 10 on the search's θ over the full space,
  ``ddp_core.generate(space, result.distribution, costs, budgets, live_only=False, on_infeasible="report")``.
- ``own-best``: the search's own evaluated network with the best mean score among those that meet the budget.
- ``random``, ``rea``, ``tpe``: one run each; per budget the best single observed score among observations that
  meet it. No feasible observation: the budget is unanswered.
- ``default+budgets`` (``--budget-search``): the default search told every budget of the problem before it starts
  (``SearchConfig(budgets=...)``, ``DDPSearch(costs=...)``: its target slots serve the budgets round robin), one
  search per seed at the same evaluations, answering each budget with ``result.generate``.
- ``default-blind`` (``--methods ...,default-blind``): the default search *not* given the costs (``DDPSearch``
  without ``costs=``, as an API user who passes none): no target serves a budget; answers by ``result.generate``.
- ``budget-told`` (``--methods ...,budget-told``): the same with one search per budget, told only that budget
  (one search per budget: B times the evaluations of the others).

A pick's rank is among the distinct networks that meet the budget (1 = the best feasible network).
"""

from __future__ import annotations

import inspect
import os
import subprocess
import time
from pathlib import Path

import numpy as np
from peers import PEER_RUNNERS, best_mean_observed, best_observed, rescored, run_ddpnas
from quality_problems import evaluations_per_round_sum, make_problem

import ddp_core
from ddp_core import SearchConfig, SearchResult, generate

SEARCH_METHODS = ("default", "theta-eng", "own-best")
BUDGETED_METHODS = SEARCH_METHODS + ("random", "rea", "tpe")
FIVE_POINTS = 0.05  # accuracies are in [0, 1]


def engine_info() -> dict:
    """Which ddp-core was measured: the imported file, and the commit of packages/ddp-core in this checkout
    (a snapshot imported through PYTHONPATH, e.g. ``git archive HEAD packages/ddp-core``, names itself)."""
    repo = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True).stdout.strip()

    info = {"ddp_core_file": ddp_core.__file__,
            "checkout_commit": git("log", "-1", "--format=%h", "--", "packages/ddp-core"),
            "checkout_dirty": bool(git("status", "--porcelain", "--", "packages/ddp-core")),
            "result_generate": has_result_generate(), "budget_field": config_budget_field()}
    if not Path(ddp_core.__file__).resolve().is_relative_to(repo):
        info["snapshot_commit"] = os.environ.get("DDPNAS_CORE_COMMIT", "unnamed snapshot")
    return info


def has_result_generate() -> bool:
    return callable(getattr(SearchResult, "generate", None))


def config_budget_field() -> str | None:
    """The SearchConfig field that tells a search its budgets before it starts, if ddp-core has one."""
    fields = inspect.signature(SearchConfig).parameters
    return next((name for name in ("budgets", "budget") if name in fields), None)


def _architectures(answers) -> list:
    return [tuple(int(k) for k in a.architecture) if a.feasible else None for a in answers]


def default_answers(result, problem, budgets: list[dict]) -> tuple[list, str]:
    """Per budget, the default's recommended architecture (None: no answer) and where it came from."""
    if has_result_generate():
        answers = result.generate(problem.cost_tables, budgets, on_infeasible="report")
        return _architectures(answers), "result.generate"
    return theta_eng_answers(result, problem, budgets), "placeholder: theta-eng"


def theta_eng_answers(result, problem, budgets: list[dict]) -> list:
    answers = generate(problem.space(), result.distribution, problem.cost_tables, budgets, live_only=False,
                       on_infeasible="report")
    return _architectures(answers)


_PROBLEMS: dict = {}
_RANKINGS: dict = {}


def _problem(name: str):
    if name not in _PROBLEMS:
        _PROBLEMS[name] = make_problem(name)
    return _PROBLEMS[name]


def _pick(problem, budget_index: int, budget: dict, architecture) -> dict:
    key = (problem.name, budget_index)
    if key not in _RANKINGS:
        _RANKINGS[key] = problem.feasible_sorted_true(budget)
    ranking = _RANKINGS[key]
    if architecture is None:
        return {"architecture": None, "rank": None, "accuracy": None, "best_feasible": float(ranking[0])}
    rank = problem.rank_under(architecture, budget, ranking)
    if rank is None:
        raise AssertionError(f"{problem.name}: pick {architecture} does not meet {budget}")
    return {"architecture": list(architecture), "rank": rank, "accuracy": float(problem.true[problem.index(architecture)]),
            "best_feasible": float(ranking[0])}


def budgeted_job(arguments) -> list[dict]:
    """One (problem, T, seed, group) run: group "ddpnas" gives the three search methods, a peer gives itself,
    "default+budgets" one search told every budget, "budget-told" one told search per budget."""
    problem_name, group, rounds, seed = arguments
    problem = _problem(problem_name)
    budgets = problem.budgets()
    evaluations = evaluations_per_round_sum(problem) * rounds
    started = time.perf_counter()
    picks: dict[str, list] = {}
    how: dict[str, str] = {}
    spent: dict[str, int] = {}
    if group == "ddpnas":
        search = run_ddpnas(problem, "joint", rounds, seed, costs=problem.cost_tables)
        assert search.steps == evaluations, (search.steps, evaluations)
        result = search.result()
        history = [(r.architecture, r.score) for r in search.record.records]
        picks["default"], how["default"] = default_answers(result, problem, budgets)
        picks["theta-eng"] = theta_eng_answers(result, problem, budgets)
        picks["own-best"] = [best_mean_observed(history, lambda a, b=b: bool(problem.feasible(b)[problem.index(a)]))
                             for b in budgets]
        spent = {m: rescored(history) for m in picks}
    elif group == "default+budgets":
        search = run_ddpnas(problem, "joint", rounds, seed, budgets=budgets, costs=problem.cost_tables)
        assert search.steps == evaluations, (search.steps, evaluations)
        history = [(r.architecture, r.score) for r in search.record.records]
        picks[group] = default_answers(search.result(), problem, budgets)[0]
        how[group] = "SearchConfig(budgets=every budget) + result.generate"
        spent = {group: rescored(history)}
    elif group == "default-blind":
        search = run_ddpnas(problem, "joint", rounds, seed)
        assert search.steps == evaluations, (search.steps, evaluations)
        history = [(r.architecture, r.score) for r in search.record.records]
        picks[group] = default_answers(search.result(), problem, budgets)[0]
        how[group] = "DDPSearch without costs + result.generate"
        spent = {group: rescored(history)}
    elif group == "budget-told":
        picks["budget-told"] = []
        for budget in budgets:
            search = run_ddpnas(problem, "joint", rounds, seed, budgets=[budget], costs=problem.cost_tables)
            picks["budget-told"] += default_answers(search.result(), problem, [budget])[0]
        how["budget-told"] = "SearchConfig(budgets=[this budget]) + result.generate"
    else:
        history = PEER_RUNNERS[group](problem, evaluations, seed)
        picks[group] = [best_observed(history, lambda a, b=b: bool(problem.feasible(b)[problem.index(a)]))
                        for b in budgets]
        spent = {group: rescored(history)}
    seconds = time.perf_counter() - started
    rows = []
    for method, architectures in picks.items():
        for i, (budget, architecture) in enumerate(zip(budgets, architectures, strict=True)):
            rows.append({"problem": problem_name, "method": method, "rounds": rounds, "seed": seed,
                         "evaluations": evaluations, "budget_index": i, "budget": budget,
                         "how": how.get(method, method), "rescored": spent.get(method), "seconds": seconds,
                         **_pick(problem, i, budget, architecture)})
    return rows


def budget_label(budget: dict, quantile: float) -> str:
    (name, value), = budget.items()
    return f"{name}<={value:.4g} (q{round(quantile * 100)})"


def summarise_budgeted(rows: list[dict], methods: list[str], quantiles) -> list[dict]:
    """Per problem, T, budget and method: ranks, unanswered, wins-or-ties of the default, share > 5 points."""
    table = []
    keys = dict.fromkeys((r["problem"], r["rounds"], r["budget_index"]) for r in rows)
    for problem, rounds, index in keys:
        cell = [r for r in rows if (r["problem"], r["rounds"], r["budget_index"]) == (problem, rounds, index)]
        seeds = sorted({r["seed"] for r in cell})
        ranks = {m: {r["seed"]: r["rank"] for r in cell if r["method"] == m} for m in methods}
        for method in methods:
            if not ranks[method]:
                continue
            these = [r for r in cell if r["method"] == method]
            answered = np.array([r["rank"] for r in these if r["rank"] is not None], dtype=float)
            far = [r["best_feasible"] - r["accuracy"] > FIVE_POINTS for r in these if r["rank"] is not None]
            entry = {"problem": problem, "rounds": rounds, "budget_index": index, "budget": these[0]["budget"],
                     "quantile": quantiles[index % len(quantiles)], "method": method, "how": these[0]["how"],
                     "evaluations": these[0]["evaluations"], "seeds": len(these),
                     "unanswered": int(sum(r["rank"] is None for r in these)),
                     "mean_rank": float(answered.mean()) if len(answered) else None,
                     "median_rank": float(np.median(answered)) if len(answered) else None,
                     "share_5_points_below": float(np.mean(far)) if far else None}
            if method != "default" and ranks["default"]:
                def value(rank):
                    return np.inf if rank is None else rank
                entry["default_wins_or_ties"] = int(sum(value(ranks["default"][s]) <= value(ranks[method][s])
                                                        for s in seeds if s in ranks[method] and s in ranks["default"]))
            table.append(entry)
    return table


def print_budgeted(table: list[dict]) -> None:
    print(f"{'problem':<18}{'T':>3} {'budget':<30}{'method':<17}{'mean':>8}{'median':>8}{'unans':>6}"
          f"{'>5pt':>6}{'def<=':>7}")
    for e in table:
        mean = "-" if e["mean_rank"] is None else f"{e['mean_rank']:.1f}"
        median = "-" if e["median_rank"] is None else f"{e['median_rank']:.1f}"
        far = "-" if e["share_5_points_below"] is None else f"{e['share_5_points_below']:.0%}"
        wins = f"{e['default_wins_or_ties']}/{e['seeds']}" if "default_wins_or_ties" in e else ""
        print(f"{e['problem']:<18}{e['rounds']:>3} {budget_label(e['budget'], e['quantile']):<30}{e['method']:<17}"
              f"{mean:>8}{median:>8}{e['unanswered']:>6}{far:>6}{wins:>7}")
