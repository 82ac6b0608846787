"""ENG is exact: it equals brute force on random instances, with conditions and several budgets."""

import time

import numpy as np
import pytest

from ddp_core import (
    CategoricalDistribution,
    CostTable,
    Decision,
    InfeasibleBudgetError,
    Requires,
    SearchSpace,
    expectation,
    generate,
    pareto_front,
    solve_groups,
)


def random_instance(rng, conditional=False):
    sizes = rng.integers(1, 5, size=int(rng.integers(2, 6)))
    decisions = [Decision(f"d{i}", [f"c{k}" for k in range(s)]) for i, s in enumerate(sizes)]
    if conditional:
        decisions = [Decision("depth", ["1", "2", "3"])] + [
            Decision(d.name, d.candidates, requires=Requires("depth", [str(j) for j in range(i + 1, 4)]))
            if i < 3 else d
            for i, d in enumerate(decisions)
        ]
    space = SearchSpace(decisions)
    dist = CategoricalDistribution.uniform(space)
    dist.theta = rng.random(dist.theta.shape) * dist.live
    dist.live &= rng.random(dist.live.shape) < 0.85
    dist.live[np.arange(space.num_decisions), np.argmax(dist.live | space.full_mask(), axis=1)] = True
    costs = {
        name: CostTable(name, float(rng.random() * 3),
                        [rng.integers(0, 10, size=len(d.candidates)).astype(float) for d in space.decisions])
        for name in ("flops", "params")
    }
    return space, dist, costs


def brute_force(space, dist, costs, budgets):
    best = None
    for arch in space.all_architectures(dist.live):
        if all(costs[n](space, arch) <= b + 1e-9 for n, b in budgets.items()):
            value = expectation(space, dist, arch)
            if best is None or value > best + 1e-12:
                best = value
    return best


@pytest.mark.parametrize("conditional", [False, True])
def test_generate_equals_brute_force(conditional):
    rng = np.random.default_rng(7 if conditional else 3)
    checked = infeasible = 0
    for _ in range(60):
        space, dist, costs = random_instance(rng, conditional)
        budgets = {"flops": float(rng.integers(2, 30)), "params": float(rng.integers(2, 30))}
        if rng.random() < 0.3:
            budgets.pop("params")
        expected = brute_force(space, dist, costs, budgets)
        if expected is None:
            with pytest.raises(InfeasibleBudgetError):
                generate(space, dist, costs, budgets)
            infeasible += 1
            continue
        answer = generate(space, dist, costs, budgets)
        assert answer.expectation == pytest.approx(expected, abs=1e-12)
        for name, bound in budgets.items():
            assert answer.costs[name] <= bound + 1e-9
        assert all(dist.live[e, k] for e, k in enumerate(answer.architecture) if space.active_mask(answer.architecture)[e])
        checked += 1
    assert checked >= 25 and infeasible > 0


def test_infeasible_budget_names_smallest_cost():
    space = SearchSpace([Decision("a", ["x", "y"]), Decision("b", ["x", "y"])])
    dist = CategoricalDistribution.uniform(space)
    costs = {"flops_m": CostTable("flops_m", 10.0, [[1.0, 5.0], [2.0, 3.0]])}
    with pytest.raises(InfeasibleBudgetError, match="smallest achievable flops_m is 13"):
        generate(space, dist, costs, {"flops_m": 12.0})
    with pytest.raises(KeyError, match="unknown costs"):
        generate(space, dist, costs, {"latency_ms": 12.0})


def test_non_additive_constraint_and_many_budgets():
    space = SearchSpace([Decision(f"d{i}", ["a", "b", "c"]) for i in range(4)])
    dist = CategoricalDistribution.uniform(space)
    dist.theta = np.array([[0.6, 0.3, 0.1]] * 4)
    costs = {"flops": CostTable("flops", 0.0, [[3.0, 2.0, 1.0]] * 4)}
    answers = generate(space, dist, costs, [{"flops": b} for b in (12, 8, 4)])
    assert [a.costs["flops"] for a in answers] == [12, 8, 4]
    assert answers[0].architecture == (0, 0, 0, 0)
    # at most one "a": a constraint that is not a sum
    capped = generate(space, dist, costs, {"flops": 12}, constraints=[lambda arch: sum(k == 0 for k in arch) <= 1])
    assert sum(k == 0 for k in capped.architecture) == 1
    front = pareto_front(space, dist, costs, "flops", points=9)
    values = [r.expectation for r in front]
    assert values == sorted(values) and front[0].costs["flops"] == 4 and front[-1].costs["flops"] == 12


def test_solve_groups_exact_and_fast_on_large_spaces():
    rng = np.random.default_rng(0)
    for groups, options in ((21, 7), (28, 8)):
        values = [rng.random(options) for _ in range(groups)]
        costs = [rng.random((options, 1)) * 100 for _ in range(groups)]
        low = sum(c.min() for c in costs)
        high = sum(c.max() for c in costs)
        start = time.perf_counter()
        for budget in np.linspace(low, high, 100):
            choice, value = solve_groups(values, costs, [budget])
            assert sum(costs[g][k, 0] for g, k in enumerate(choice)) <= budget + 1e-6
            assert value == pytest.approx(sum(values[g][k] for g, k in enumerate(choice)))
        assert time.perf_counter() - start < 20  # loose here; BENCHMARKS.md has the measured figure
    # exactness against a small exhaustive case with two constraints
    values = [rng.random(3) for _ in range(6)]
    costs = [rng.random((3, 2)) for _ in range(6)]
    import itertools

    best = max(
        (sum(values[g][k] for g, k in enumerate(c)), c)
        for c in itertools.product(range(3), repeat=6)
        if all(sum(costs[g][k, j] for g, k in enumerate(c)) <= 2.5 for j in range(2))
    )
    choice, value = solve_groups(values, costs, [2.5, 2.5])
    assert value == pytest.approx(best[0])


def test_a_list_reports_each_infeasible_budget_and_answers_the_rest():
    space = SearchSpace([Decision("a", ["x", "y"]), Decision("b", ["x", "y"])])
    dist = CategoricalDistribution.uniform(space)
    dist.theta = np.array([[0.7, 0.3], [0.4, 0.6]])
    costs = {"flops_m": CostTable("flops_m", 10.0, [[5.0, 1.0], [2.0, 3.0]]),
             "params_m": CostTable("params_m", 1.0, [[1.0, 2.0], [2.0, 1.0]])}
    requests = [{"flops_m": 12.0}, {"flops_m": 18.0}, {"flops_m": 14.0, "params_m": 3.0}, {"params_m": 4.0}]
    low, high, joint, fine = generate(space, dist, costs, requests, on_infeasible="report")
    assert not low.feasible and low.smallest == {"flops_m": 13.0}  # fixed part included
    assert "smallest achievable flops_m is 13" in low.message
    assert high.feasible and high.architecture == (0, 1) and high.proven_optimal
    assert not joint.feasible and joint.smallest == {"flops_m": 18.0, "params_m": 4.0}
    assert "smallest achievable params_m with flops_m <= 14 is 4" in joint.message
    assert fine.feasible and fine.costs["params_m"] <= 4.0
    assert low.to_dict()["infeasible"] and high.to_dict()["proven_optimal"]
    with pytest.raises(InfeasibleBudgetError, match="smallest achievable flops_m is 13"):
        generate(space, dist, costs, requests)  # the default for lists stays "raise"
    for bad in (float("nan"), float("inf"), "many"):
        with pytest.raises(ValueError, match="budget flops_m="):
            generate(space, dist, costs, {"flops_m": bad})


def test_conditional_spaces_report_the_smallest_cost_over_every_depth():
    space = SearchSpace([Decision("depth", ["1", "2"]), Decision("l0", ["s", "b"]),
                         Decision("l1", ["s", "b"], requires=Requires("depth", ["2"]))])
    dist = CategoricalDistribution.uniform(space)
    costs = {"flops_m": CostTable("flops_m", 5.0, [[0.0, 0.0], [1.0, 4.0], [1.0, 4.0]])}
    answers = generate(space, dist, costs, [{"flops_m": 5.5}, {"flops_m": 6.0}, {"flops_m": 100.0}],
                       on_infeasible="report")
    assert not answers[0].feasible and answers[0].smallest == {"flops_m": 6.0}  # depth 1, small layer
    assert answers[1].feasible and answers[1].costs["flops_m"] == 6.0
    assert answers[2].feasible
