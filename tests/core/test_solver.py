"""The ENG solver: exact against brute force for any number of budgets, per-row infeasibility, groups of any
size, a time limit that returns the best answer so far."""

import itertools
import time

import numpy as np
import pytest

from ddp_core import InfeasibleBudgetError, solve_groups
from ddp_core.solver import GroupProblem


def brute(values, costs, offset):
    """Every choice: (value, costs including the offset, choice)."""
    choices = np.array(list(itertools.product(*[range(len(v)) for v in values])))
    total = sum(values[g][choices[:, g]] for g in range(len(values)))
    spent = offset + sum(costs[g][choices[:, g]] for g in range(len(values)))
    return total, spent, choices


def brute_answer(total, spent, row, accept=None, choices=None):
    ok = np.all(spent <= row + 1e-9, axis=1)
    if accept is not None:
        ok &= np.array([accept(tuple(int(k) for k in c)) for c in choices])
    return total[ok].max() if ok.any() else None


def random_problem(rng, integer_costs):
    groups = int(rng.integers(1, 6))
    width = int(rng.integers(0, 4))
    values = [rng.random(int(rng.integers(1, 6))) for _ in range(groups)]
    if integer_costs:  # ties everywhere
        costs = [rng.integers(0, 6, size=(len(v), width)).astype(float) for v in values]
    else:
        costs = [rng.random((len(v), width)) * 10 for v in values]
    offset = rng.random(width) * 3
    return values, costs, offset


@pytest.mark.parametrize("integer_costs", [False, True])
def test_every_row_equals_brute_force_with_zero_to_three_budgets(integer_costs):
    rng = np.random.default_rng(11 if integer_costs else 5)
    checked = {0: 0, 1: 0, 2: 0, 3: 0}
    infeasible = 0
    for _ in range(80):
        values, costs, offset = random_problem(rng, integer_costs)
        width = len(offset)
        total, spent, choices = brute(values, costs, offset)
        low, high = spent.min(axis=0), spent.max(axis=0)
        rows = low - 0.5 + rng.random((12, width)) * (high - low + 1.0)
        rows[rng.random(rows.shape) < 0.25] = np.inf  # some costs not budgeted in some rows
        answers = GroupProblem(values, costs, [f"c{j}" for j in range(width)], offset).solve_many(rows)
        for row, answer in zip(rows, answers, strict=True):
            expected = brute_answer(total, spent, row)
            assert answer.proven_optimal
            budgeted = [j for j in range(width) if np.isfinite(row[j])]
            if expected is None:
                assert not answer.feasible and answer.message.startswith("no architecture has")
                for j in budgeted:  # the smallest cost j reachable while meeting the others, offset included
                    others = row.copy()
                    others[j] = np.inf
                    meets = np.all(spent <= others + 1e-9, axis=1)
                    truth = spent[meets, j].min() if meets.any() else spent[:, j].min()  # else: on its own
                    assert answer.smallest[j] == pytest.approx(truth, abs=1e-9)
                    assert f"smallest achievable c{j}" in answer.message
                infeasible += 1
                continue
            assert answer.value == pytest.approx(expected, abs=1e-9)
            picked = choices[(choices == answer.choice).all(axis=1)][0]
            assert np.all(offset + sum(costs[g][k] for g, k in enumerate(picked)) <= row + 1e-9)
            assert answer.costs == pytest.approx(offset + sum(costs[g][k] for g, k in enumerate(picked)))
            checked[len(budgeted)] += 1
    assert min(checked.values()) >= 20 and infeasible >= 20, (checked, infeasible)


def test_accept_predicate_is_exact_and_names_its_cost():
    rng = np.random.default_rng(3)
    for _ in range(20):
        values = [rng.random(4) for _ in range(4)]
        costs = [rng.random((4, 2)) for _ in range(4)]
        total, spent, choices = brute(values, costs, np.zeros(2))

        def accept(choice):
            return sum(k == 0 for k in choice) <= 1 and choice[0] != choice[1]

        for row in (np.array([2.0, 2.0]), np.array([1.5, np.inf]), np.array([np.inf, np.inf])):
            expected = brute_answer(total, spent, row, accept, choices)
            answer = GroupProblem(values, costs, accept=accept).solve(row)
            if expected is None:
                assert not answer.feasible
            else:
                assert accept(answer.choice) and answer.value == pytest.approx(expected, abs=1e-12)
    # the budget alone is reachable, the predicate makes it infeasible: the message says what is reachable
    values = [np.array([1.0, 0.0]), np.array([1.0, 0.0])]
    costs = [np.array([[0.0], [5.0]]), np.array([[0.0], [5.0]])]
    answer = GroupProblem(values, costs, ["flops"], accept=lambda c: c != (0, 0)).solve([4.0])
    assert not answer.feasible and "smallest achievable flops is 5" in answer.message


def test_one_call_answers_a_list_and_reports_each_infeasible_row_with_the_fixed_part():
    values = [np.array([0.9, 0.5, 0.1]), np.array([0.8, 0.45, 0.2])]
    costs = [np.array([[5.0, 1.0], [3.0, 2.0], [1.0, 3.0]]), np.array([[4.0, 1.0], [2.0, 2.0], [1.0, 4.0]])]
    problem = GroupProblem(values, costs, ["flops_m", "params_m"], offset=[100.0, 10.0])
    rows = [[109.0, np.inf], [101.0, np.inf], [105.0, 12.0], [102.0, 15.0], [107.0, 15.0], [np.inf, np.inf]]
    first, alone, joint, other_joint, good, free = problem.solve_many(rows)
    assert first.feasible and first.choice == (0, 0) and first.costs[0] == 109.0
    assert not alone.feasible and alone.smallest[0] == 102.0  # 100 fixed + 1 + 1, not the budget minus the fixed part
    assert alone.message == ("no architecture has flops_m <= 101: the smallest achievable flops_m is 102; "
                             "raise the budget to at least that")
    assert not joint.feasible and "smallest achievable flops_m with params_m <= 12 is 109" in joint.message
    assert "smallest achievable params_m with flops_m <= 105 is 14" in joint.message
    assert not other_joint.feasible  # flops <= 102 forces (2, 2), whose params are 17
    assert other_joint.smallest.tolist() == [103.0, 17.0]
    assert good.choice == (0, 1) and good.costs.tolist() == [107.0, 13.0] and good.proven_optimal
    assert free.choice == (0, 0)
    with pytest.raises(InfeasibleBudgetError, match="smallest achievable flops_m is 102"):
        solve_groups(values, costs, [101.0, np.inf], ["flops_m", "params_m"], offset=[100.0, 10.0])
    with pytest.raises(ValueError, match="NaN"):
        problem.solve([np.nan, 1.0])


@pytest.mark.parametrize("options", [300, 5000])
def test_groups_of_any_size_never_raise_and_stay_exact(options):
    """The old cache key was bytes(shape) and failed from 256 options on."""
    rng = np.random.default_rng(options)
    values = [rng.random(options), rng.random(6), rng.random(5)]
    costs = [rng.random((options, 2)) * 10, rng.random((6, 2)) * 10, rng.random((5, 2)) * 10]
    total, spent, _ = brute(values, costs, np.zeros(2))
    low, high = spent.min(axis=0), spent.max(axis=0)
    rows = [low + f * (high - low) for f in (0.02, 0.1, 0.3, 0.6, 1.0)] + [[low[0] + 2.0, np.inf]]
    for row, answer in zip(rows, GroupProblem(values, costs).solve_many(rows), strict=True):
        expected = brute_answer(total, spent, np.asarray(row))
        assert answer.proven_optimal
        assert (answer.value if answer.feasible else None) == pytest.approx(expected, abs=1e-9)
    choice, value = solve_groups(values, [c[:, :1] for c in costs], [float(low[0] + 3.0)])
    assert value == pytest.approx(brute_answer(total, spent[:, :1], np.array([low[0] + 3.0])), abs=1e-9)
    big = GroupProblem([rng.random(options), rng.random(options)],
                       [rng.random((options, 2)), rng.random((options, 2))]).solve([0.6, 0.6])
    assert big.feasible and big.proven_optimal


def random_tables(rng, groups, options):
    values = list(rng.dirichlet(np.ones(options), size=groups))
    costs = list(np.stack([rng.uniform(1, 30, (groups, options)), rng.uniform(1, 30, (groups, options))], axis=2))
    return values, costs


def test_time_limit_returns_the_best_answer_so_far_flagged():
    rng = np.random.default_rng(4)
    values, costs = random_tables(rng, 28, 8)
    low = sum(c.min(axis=0) for c in costs)
    top = sum(c[np.argmax(v)] for v, c in zip(values, costs, strict=True))
    rows = low + np.array([[0.5, 0.5], [0.3, 0.7]]) * (top - low)
    hurried = GroupProblem(values, costs).solve_many(rows, time_limit_s=0.0)
    exact = GroupProblem(values, costs).solve_many(rows)
    for quick, slow, row in zip(hurried, exact, rows, strict=True):
        assert not quick.proven_optimal and slow.proven_optimal
        assert quick.feasible and np.all(quick.costs <= row + 1e-9)  # the dive's answer meets the budgets
        assert quick.value <= slow.value + 1e-12


def test_two_binding_budgets_on_random_tables_take_a_fraction_of_a_second():
    """The issue: min-of-single-budget bounds stalled for minutes. Scaled by a reference workload."""
    reference = time.perf_counter()
    np.sort(np.random.default_rng(0).random(1_000_000))
    reference = time.perf_counter() - reference
    for seed, (groups, options) in enumerate([(28, 8), (21, 7), (28, 8)]):
        rng = np.random.default_rng(100 + seed)
        values, costs = random_tables(rng, groups, options)
        low = sum(c.min(axis=0) for c in costs)
        top = sum(c[np.argmax(v)] for v, c in zip(values, costs, strict=True))
        rows = low + rng.uniform(0.05, 0.95, (100, 2)) * (top - low)
        start = time.perf_counter()
        answers = GroupProblem(values, costs).solve_many(rows)
        elapsed = time.perf_counter() - start
        assert all(a.proven_optimal for a in answers)
        bound_one = [a for a in answers if a.feasible]
        assert len(bound_one) > 50
        assert elapsed < 100 * reference + 2.0, (elapsed, reference)
