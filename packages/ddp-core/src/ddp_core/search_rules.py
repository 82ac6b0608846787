"""Counting rules a search's budgeted targets obey (``DDPSearch(count_constraints=...)``): checks, random
architectures that obey them (the spread's cost range), and the smallest cost under them.

A rule is a :class:`ddp_core.recommend.CountConstraint`: among its decisions, how many take a counted candidate.
The DARTS cell rule is one per node (exactly two incoming edges take an op other than ``none``), so the targets
the search evaluates for its budgets are DARTS genotypes, the networks ENG answers with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ddp_core.infeasibility import InfeasibleBudgetError
from ddp_core.recommend import CountConstraint, maximise_pairwise
from ddp_core.space import CostTable, SearchSpace


def rules_to_list(rules: Sequence[CountConstraint]) -> list[list[Any]]:
    """JSON form of counting rules (saved with a run's state and compared on resume)."""
    return [[list(r.decisions), [list(c) for c in r.candidates], r.minimum, r.maximum] for r in rules]


def check_rules(space: SearchSpace, rules: Sequence[CountConstraint]) -> tuple[CountConstraint, ...]:
    """``rules`` as a tuple, refused (one line) unless each names existing decisions and candidates once, no
    decision is in two rules (what :func:`sample_obeying` draws from) and some assignment meets its bounds."""
    rules = tuple(rules or ())
    seen: set[int] = set()
    for rule in rules:
        if not isinstance(rule, CountConstraint):
            raise ValueError(f"count constraints must be ddp_core.recommend.CountConstraint, got {rule!r}")
        decisions = list(rule.decisions)
        if len(rule.candidates) != len(decisions) or len(set(decisions)) != len(decisions):
            raise ValueError(f"count constraint {rule}: one candidate set per decision, each decision once")
        for e, cands in zip(decisions, rule.candidates, strict=True):
            if not 0 <= e < space.num_decisions or any(not 0 <= k < space.sizes[e] for k in cands):
                raise ValueError(f"count constraint {rule}: decision {e} or its candidates {cands} are not in the "
                                 "space")
        if seen & set(decisions):
            raise ValueError(f"count constraint {rule}: decisions {sorted(seen & set(decisions))} are also in "
                             "another one; a search's rules must not overlap")
        seen |= set(decisions)
        if not 0 <= rule.minimum <= rule.maximum or rule.minimum > len(decisions):
            raise ValueError(f"count constraint {rule}: no assignment of its {len(decisions)} decisions counts "
                             f"between {rule.minimum} and {rule.maximum}")
    if any(space.decisions[e].requires is not None or e in space.controllers for e in seen):
        raise ValueError("count constraints of a search cannot include conditional or controlling decisions")
    return rules


def sample_obeying(space: SearchSpace, rules: tuple[CountConstraint, ...], rng: np.random.Generator,
                   count: int) -> np.ndarray:
    """(count, E) random architectures: uniform per decision, then per rule a count drawn uniformly in its
    bounds, that many of its decisions (at random) on a random counted candidate, the others on a random
    uncounted one (a decision without uncounted candidates stays counted)."""
    sizes = np.array(space.sizes)
    archs = (rng.random((count, space.num_decisions)) * sizes[None, :]).astype(np.int64)
    for rule in rules:
        width = len(rule.decisions)
        wanted = rng.integers(rule.minimum, min(rule.maximum, width) + 1, size=count)
        order = np.argsort(rng.random((count, width)), axis=1).argsort(axis=1)  # a random rank per decision
        counted = order < wanted[:, None]
        for i, (e, cands) in enumerate(zip(rule.decisions, rule.candidates, strict=True)):
            inside = np.array(sorted(cands), dtype=np.int64)
            outside = np.setdiff1d(np.arange(sizes[e]), inside)
            pick_in = inside[rng.integers(len(inside), size=count)] if len(inside) else archs[:, e]
            pick_out = outside[rng.integers(len(outside), size=count)] if len(outside) else pick_in
            archs[:, e] = np.where(counted[:, i], pick_in, pick_out)
    return archs


def check_under_rules(space: SearchSpace, costs: Mapping[str, CostTable], budgets: Sequence[Mapping[str, float]],
                       rules: Sequence[CountConstraint]) -> None:
    """Refuse a budget no architecture obeying ``rules`` meets (exact: the cheapest per cost, one at a time)."""
    sizes = np.array(space.sizes) + np.array([d.requires is not None for d in space.decisions], dtype=np.int64)
    offsets, total = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64), int(sizes.sum())
    for name, table in costs.items():
        unary = np.zeros(total)
        matrix = table.matrix(space)
        for e in range(space.num_decisions):
            unary[offsets[e]: offsets[e] + space.sizes[e]] = -matrix[e, : space.sizes[e]]
        found = maximise_pairwise(space, unary, np.zeros((total, total)), offsets, {}, [{}], count_constraints=rules,
                                  time_limit_s=None)[0]
        smallest = table.fixed - found.value
        for budget in budgets:
            if name in budget and budget[name] < smallest - 1e-9:
                raise InfeasibleBudgetError(f"budget known before the search: {name} <= {budget[name]:g} is below "
                                            f"the smallest {name} of any architecture obeying the search's rules "
                                            f"({smallest:g}); raise it to at least that")
