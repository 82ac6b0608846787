"""The recommended DARTS genotype per budget: the search's model of quality under the DARTS cell rule.

With ``--eng model`` (the default preset's ENG) a budget's genotype is what ``SearchResult.generate`` answers
with counting constraints that make every answer a DARTS genotype:

- the DARTS rule, one ``CountConstraint`` per intermediate node of each cell: among the node's incoming edges,
  exactly two take an op other than ``none`` (the other edges take ``none``), so the 28-edge architecture the
  model scores is the genotype with its dropped edges cut, exactly as the single-path supernet evaluates it;
- ``nonparam_ops = N``: one more per constrained cell (the normal one, or each with ``--nonparam-cells both``):
  among its edges, exactly N (``--nonparam-count at-most``: at most N) take a non-parametric op other than
  ``none``;
- ``params_m`` / ``flops_m``: the evaluation network's additive tables (``none`` costs nothing).

The answer is the exact argmax of the model's estimate under those constraints over the whole space, never worse
by that estimate than the best evaluated genotype that meets them (:func:`ddp_core.recommend.recommend`).
``cell_height`` bounds the longest path through a cell, which is not a count: budgets with it keep the exact
DARTS ENG on θ (:func:`ddp_vision.darts.derivation.generate_genotypes`), and their ``how`` line says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ddp_core import SearchSpace
from ddp_core.generation import GenerationResult
from ddp_core.recommend import CountConstraint
from ddp_vision.darts.genotypes import Genotype, cell_edges, genotype_to_dict
from ddp_vision.darts.space import CELL_TYPES, decision_name

__all__ = ["RULE", "THETA_CELL_HEIGHT_HOW", "cell_facts", "genotype_of", "nonparam_constraints", "recommend_genotypes",
           "rule_constraints"]

RULE = "DARTS cell rule: two non-none inputs per node"
THETA_CELL_HEIGHT_HOW = ("exact DARTS ENG on θ (Eq. 10 under the DARTS rule): cell_height is not a count the model's "
                         "ENG can take")


def _edges_of(space: SearchSpace, cell: str, steps: int) -> list[tuple[int, int, int]]:
    """``(decision index, node, input)`` of every edge of ``cell``."""
    return [(space.decision_index(decision_name(cell, e)), node, j) for e, (node, j) in enumerate(cell_edges(steps))]


def _ops(space: SearchSpace, decision: int, keep) -> tuple[int, ...]:
    return tuple(k for k, c in enumerate(space.decisions[decision].candidates) if c.name != "none" and keep(c))


def rule_constraints(space: SearchSpace, steps: int) -> list[CountConstraint]:
    """The DARTS rule: per cell and node, exactly two incoming edges take an op other than ``none``."""
    out = []
    for cell in CELL_TYPES:
        edges = _edges_of(space, cell, steps)
        for node in range(steps):
            incoming = tuple(e for e, n, _ in edges if n == node)
            out.append(CountConstraint(incoming, tuple(_ops(space, e, lambda c: True) for e in incoming), 2, 2))
    return out


def nonparam_constraints(space: SearchSpace, steps: int, count: float, rule: str, cells: str) -> list[CountConstraint]:
    """``nonparam_ops = count`` in the normal cell (``cells="both"``: in each), exactly or at most (``rule``)."""
    out = []
    for cell in CELL_TYPES if cells == "both" else ("normal",):
        decisions = tuple(e for e, _, _ in _edges_of(space, cell, steps))
        candidates = tuple(_ops(space, e, lambda c: "nonparam" in c.tags) for e in decisions)
        out.append(CountConstraint(decisions, candidates, int(count) if rule == "exactly" else 0, int(count)))
    return out


def genotype_of(space: SearchSpace, architecture: Sequence[int], steps: int) -> Genotype:
    """The genotype of an architecture that meets the DARTS rule: per node its two non-``none`` inputs."""
    cells = {}
    for cell in CELL_TYPES:
        pairs = []
        for node in range(steps):
            kept = [(space.decisions[e].candidates[architecture[e]].name, j)
                    for e, n, j in _edges_of(space, cell, steps) if n == node]
            kept = [(name, j) for name, j in kept if name != "none"]
            if len(kept) != 2:
                raise ValueError(f"{cell} cell node {node} has {len(kept)} inputs that are not none; the DARTS rule "
                                 "needs two")
            pairs.extend(kept)
        cells[cell] = pairs
    concat = list(range(2, steps + 2))
    return Genotype(normal=cells["normal"], normal_concat=concat, reduce=cells["reduce"], reduce_concat=concat)


def cell_facts(genotype: Genotype, steps: int) -> dict[str, dict[str, int]]:
    """Per cell: its non-parametric ops and its height (kept edges on the longest path from the cell inputs)."""
    from ddp_vision.darts.operations import op_tag

    facts = {}
    for cell in CELL_TYPES:
        pairs = getattr(genotype, cell)
        depth = [0, 0]
        for node in range(steps):
            depth.append(1 + max(depth[j] for _, j in pairs[2 * node:2 * node + 2]))
        facts[cell] = {"nonparam_ops": sum(op_tag(op) == "nonparam" for op, _ in pairs), "cell_height": max(depth[2:])}
    return facts


def recommend_genotypes(run: Any, costs: Mapping[str, Any], budgets: Sequence[Mapping[str, float]], steps: int, *,
                        nonparam_rule: str = "exactly", nonparam_cells: str = "normal",
                        time_limit_s: float | None = 60.0) -> list[Any]:
    """Per budget the model's answer under the DARTS rule (``GenerationResult`` with ``.genotype`` and
    ``.per_cell`` set, or ``InfeasibleBudget``: the DARTS ENG's report, with the smallest achievable value, for a
    budget no genotype meets), or None for a budget with ``cell_height`` (θ's ENG answers it).

    ``run`` is a :class:`ddp_core.LoadedRun` with at least two records. Budgets with the same ``nonparam_ops``
    share one call (one model fit for all).
    """
    from ddp_vision.darts.derivation import generate_genotypes

    space = run.space
    rule = rule_constraints(space, steps)
    answers: list[Any] = [None] * len(budgets)
    asked = [i for i, budget in enumerate(budgets) if "cell_height" not in budget]
    # Whether a genotype meets a budget does not depend on the objective: the exact DARTS ENG over every op says
    # it at once, with the smallest achievable value (the model's branch and bound can take its whole time limit
    # to prove a budget infeasible)
    checked = generate_genotypes(space, run.distribution.theta, space.full_mask(), costs, [budgets[i] for i in asked],
                                 steps, nonparam_rule=nonparam_rule, nonparam_cells=nonparam_cells,
                                 on_infeasible="report", time_limit_s=time_limit_s)
    groups: dict[Any, list[int]] = {}
    for i, check in zip(asked, checked, strict=True):
        if check.feasible or not check.proven:
            groups.setdefault(budgets[i].get("nonparam_ops"), []).append(i)
        else:
            answers[i] = check
    for count, members in groups.items():
        extra = [] if count is None else nonparam_constraints(space, steps, count, nonparam_rule, nonparam_cells)
        requests = [{k: float(v) for k, v in budgets[i].items() if k in costs} for i in members]
        found = run.generate(costs, requests, eng="model", count_constraints=[*rule, *extra],
                             time_limit_s=time_limit_s)
        for i, answer in zip(members, found, strict=True):
            answer.budgets = dict(budgets[i])
            if isinstance(answer, GenerationResult):
                answer.genotype = genotype_of(space, answer.architecture, steps)
                answer.per_cell = cell_facts(answer.genotype, steps)
                answer.how = f"{answer.how}; {RULE}"
                best = answer.alternatives.get("best_evaluated")
                if best is not None:
                    best["genotype"] = genotype_to_dict(genotype_of(space, best["architecture"], steps))
            answers[i] = answer
    return answers
