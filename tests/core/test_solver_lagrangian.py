"""Two budgets or more on problems with enough choices for the Lagrangian path (more than solver.SMALL): exact
against brute force with two and three budgets, ties, infeasible rows (also those only the exact probe can
decide), a predicate and a time limit; the dual's bound is a bound and its first answers meet the budgets."""

import itertools

import numpy as np
import pytest

from ddp_core import lagrangian
from ddp_core.solver import FEW_ROWS, SMALL, WIDE, GroupProblem


def brute(values, costs, offset):
    choices = np.stack(np.unravel_index(np.arange(np.prod([len(v) for v in values])), [len(v) for v in values]),
                       axis=1)
    total = sum(values[g][choices[:, g]] for g in range(len(values)))
    spent = offset + sum(costs[g][choices[:, g]] for g in range(len(values)))
    return total, spent, choices


def instance(rng, width, ties):
    groups, options = 6, 7  # 117,649 choices
    assert options ** groups > SMALL
    if ties:  # integer values and costs: many equal totals and equal costs
        values = [rng.integers(0, 4, options).astype(float) for _ in range(groups)]
        costs = [rng.integers(0, 4, (options, width)).astype(float) for _ in range(groups)]
    else:
        values = [rng.random(options) for _ in range(groups)]
        costs = [rng.random((options, width)) * 10 for _ in range(groups)]
    return values, costs, rng.random(width) * 3


@pytest.mark.parametrize("width,ties", [(2, False), (2, True), (3, False), (3, True)])
def test_lagrangian_path_equals_brute_force(width, ties):
    rng = np.random.default_rng(width * 10 + ties)
    feasible = infeasible = 0
    for _ in range(6):
        values, costs, offset = instance(rng, width, ties)
        total, spent, choices = brute(values, costs, offset)
        low, high = spent.min(axis=0), spent.max(axis=0)
        rows = low + rng.uniform(-0.05, 0.7, (10, width)) * (high - low)
        rows[0] = low  # exactly the cheapest in every cost: usually only the probe can decide it
        rows[1, 0] = np.inf  # one budget fewer
        answers = GroupProblem(values, costs, [f"c{j}" for j in range(width)], offset).solve_many(rows)
        for row, answer in zip(rows, answers, strict=True):
            meets = np.all(spent <= row + 1e-9, axis=1)
            assert answer.proven_optimal
            if not meets.any():
                assert not answer.feasible and answer.message.startswith("no architecture has")
                budgeted = np.flatnonzero(np.isfinite(row))
                for j in budgeted:
                    others = row.copy()
                    others[j] = np.inf
                    with_others = np.all(spent <= others + 1e-9, axis=1)
                    truth = spent[with_others, j].min() if with_others.any() else spent[:, j].min()
                    assert answer.smallest[j] == pytest.approx(truth, abs=1e-9)
                infeasible += 1
                continue
            assert answer.value == pytest.approx(total[meets].max(), abs=1e-9)
            picked = np.array(answer.choice)
            assert np.all(offset + sum(costs[g][k] for g, k in enumerate(picked)) <= row + 1e-9)
            feasible += 1
    assert feasible >= 20 and infeasible >= 3, (feasible, infeasible)


def test_predicate_and_time_limit_on_the_lagrangian_path():
    rng = np.random.default_rng(5)
    values, costs, offset = instance(rng, 2, False)
    total, spent, choices = brute(values, costs, offset)
    low, high = spent.min(axis=0), spent.max(axis=0)
    rows = low + np.array([[0.3, 0.4], [0.5, 0.2], [0.6, 0.6]]) * (high - low)

    def accept(choice):  # non-additive: no two neighbouring groups take the same option
        return all(a != b for a, b in itertools.pairwise(choice))

    allowed = np.array([accept(tuple(c)) for c in choices])
    for row, answer in zip(rows, GroupProblem(values, costs, offset=offset, accept=accept).solve_many(rows),
                           strict=True):
        meets = np.all(spent <= row + 1e-9, axis=1) & allowed
        assert answer.proven_optimal and accept(answer.choice)
        assert answer.value == pytest.approx(total[meets].max(), abs=1e-9)
    hurried = GroupProblem(values, costs, offset=offset).solve_many(rows, time_limit_s=0.0)
    for row, answer in zip(rows, hurried, strict=True):  # the first answers meet the budgets, flagged unproven
        assert answer.feasible and np.all(answer.costs <= row + 1e-9)
        assert answer.value <= total[np.all(spent <= row + 1e-9, axis=1)].max() + 1e-9


def test_dual_bounds_the_optimum_proves_infeasibility_and_repairs_to_a_feasible_choice():
    rng = np.random.default_rng(9)
    values, costs, offset = instance(rng, 2, False)
    total, spent, _ = brute(values, costs, np.zeros(2))
    table, spend = lagrangian.padded(values, costs, [0, 1])
    low, high = spent.min(axis=0), spent.max(axis=0)
    limit = low + rng.uniform(0.1, 0.9, (20, 2)) * (high - low)
    limit[0] = low - 1.0  # below the cheapest: the dual bound falls below every choice's value
    lam, bound, picks, known = lagrangian.dual(table, spend, limit)
    assert np.all(lam >= 0)
    assert bound[0] < total.min()
    for r in range(1, len(limit)):
        meets = np.all(spent <= limit[r], axis=1)
        assert not meets.any() or bound[r] >= total[meets].max() - 1e-9
        repaired = lagrangian.repair(table, spend, limit[r], np.argmax(table - spend @ lam[r], axis=1))
        if repaired is not None:
            assert np.all(spend[np.arange(len(table)), repaired].sum(axis=0) <= limit[r] + 1e-12)
        if np.isfinite(known[r]):
            assert known[r] == pytest.approx(table[np.arange(len(table)), picks[r]].sum())
    # the reduced cost of an optimal choice's options never exceed the gap between the bound and its value
    r = next(r for r in range(1, len(limit)) if np.all(spent <= limit[r], axis=1).any())
    best = np.flatnonzero(np.all(spent <= limit[r], axis=1))[np.argmax(total[np.all(spent <= limit[r], axis=1)])]
    choice = np.array(np.unravel_index(best, [7] * 6))
    reduced = lagrangian.reduced_costs(table, spend, lam[r:r + 1])[0]
    assert reduced[np.arange(6), choice].sum() <= bound[r] - total[best] + 1e-6


@pytest.mark.parametrize("ties", [False, True])
def test_one_budget_on_a_wide_problem_takes_the_lagrangian_path_for_a_few_rows(ties):
    """A few one-budget rows on a problem with many options skip building the frontier: the same answers."""
    rng = np.random.default_rng(40 + ties)
    sizes = [400, 130, 5]
    assert sum(sizes) >= WIDE
    if ties:
        values = [rng.integers(0, 5, n).astype(float) for n in sizes]
        costs = [rng.integers(0, 5, (n, 1)).astype(float) for n in sizes]
    else:
        values = [rng.random(n) for n in sizes]
        costs = [rng.random((n, 1)) * 10 for n in sizes]
    total, spent, _ = brute(values, costs, np.zeros(1))
    low, high = spent.min(), spent.max()
    rows = (low + rng.uniform(0.0, 0.6, (FEW_ROWS, 1)) * (high - low))
    few = GroupProblem(values, costs)
    answers = few.solve_many(rows)
    assert not few._plain  # no frontier was built
    walked = GroupProblem(values, costs).solve_many(np.r_[rows, rows])  # many rows: the frontier walk
    for row, answer, walk in zip(rows, answers, walked[:len(rows)], strict=True):
        expected = total[spent[:, 0] <= row[0] + 1e-9].max()
        assert answer.proven_optimal and answer.value == pytest.approx(expected, abs=1e-9)
        assert walk.value == pytest.approx(expected, abs=1e-9)
