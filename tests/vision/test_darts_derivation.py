import itertools

import numpy as np
import pytest

from ddp_core import CategoricalDistribution, InfeasibleBudgetError
from ddp_vision.darts.costs import EvalNetworkSpec, eval_cost_tables
from ddp_vision.darts.derivation import darts_derivation, generate_genotypes, pareto_mask
from ddp_vision.darts.genotypes import cell_edges
from ddp_vision.darts.operations import PRIMITIVES
from ddp_vision.darts.space import DartsSupernetConfig, build_search_space

SPEC = EvalNetworkSpec(channels=4, layers=5, num_classes=3, in_channels=1, image_size=8)


def pruned_state(space, seed):
    """Random θ with one live param and one live nonparam op per edge (sometimes `none`)."""
    rng = np.random.default_rng(seed)
    dist = CategoricalDistribution.uniform(space)
    theta = rng.random(dist.theta.shape)
    live = np.zeros_like(dist.live)
    for e in range(space.num_decisions):
        live[e, rng.integers(0, 4)] = True
        live[e, rng.integers(4, 8)] = True
    return theta, live


def brute_force(space, theta, live, tables, budget, steps):
    """Every cell graph of both cells, every pair: the best total θ within the budget."""
    per_cell = []
    for offset in (0, len(cell_edges(steps))):
        options = []
        for structure in itertools.product(*[itertools.combinations(range(n + 2), 2) for n in range(steps)]):
            depth = [0, 0]
            for pair in structure:
                depth.append(1 + max(depth[j] for j in pair))
            kept = [offset + cell_edges(steps).index((n, j)) for n, pair in enumerate(structure) for j in pair]
            choices = [[k for k in np.flatnonzero(live[e]) if PRIMITIVES[k] != "none"] for e in kept]
            for ops in itertools.product(*choices):
                options.append((
                    sum(theta[e, k] for e, k in zip(kept, ops, strict=True)),
                    sum(tables["params_m"].per_candidate[e][k] for e, k in zip(kept, ops, strict=True)),
                    sum(tables["flops_m"].per_candidate[e][k] for e, k in zip(kept, ops, strict=True)),
                    sum(k >= 4 for k in ops),
                    max(depth[2:]),
                ))
        per_cell.append(np.array(options))
    normal, reduce = per_cell
    value = normal[:, None, 0] + reduce[None, :, 0]
    ok = np.ones(value.shape, dtype=bool)
    for column, key, fixed in ((1, "params_m", tables["params_m"].fixed), (2, "flops_m", tables["flops_m"].fixed)):
        if key in budget:
            ok &= normal[:, None, column] + reduce[None, :, column] + fixed <= budget[key] + 1e-9
    for column, key in ((3, "nonparam_ops"), (4, "cell_height")):
        if key in budget:
            ok &= (normal[:, None, column] <= budget[key]) & (reduce[None, :, column] <= budget[key])
    return float(np.where(ok, value, -np.inf).max())


@pytest.mark.parametrize("seed", [0, 1])
def test_eng_is_exact_against_brute_force_on_a_small_pruned_space(seed):
    steps = 3
    space = build_search_space(DartsSupernetConfig(steps=steps))
    theta, live = pruned_state(space, seed)
    tables = eval_cost_tables(space, SPEC, steps)
    unconstrained = generate_genotypes(space, theta, live, tables, [{}], steps)[0]
    params = unconstrained.costs["params_m"]
    budgets = [
        {"params_m": params * 0.8},
        {"flops_m": unconstrained.costs["flops_m"] * 0.7, "params_m": params * 0.9},
        {"nonparam_ops": 2},
        {"nonparam_ops": 3, "cell_height": 1},
        {"cell_height": 2, "params_m": params * 0.85},
    ]
    answers = generate_genotypes(space, theta, live, tables, budgets, steps,
                                 nonparam_rule="at_most", nonparam_cells="both")
    for budget, answer in zip(budgets, answers, strict=True):
        best = brute_force(space, theta, live, tables, budget, steps)
        assert answer.expectation * 4 * steps == pytest.approx(best, abs=1e-9), budget
        for key, limit in budget.items():
            assert answer.costs[key] <= limit + 1e-9, (key, answer.costs)
        assert answer.expectation <= unconstrained.expectation + 1e-12


def test_unconstrained_eng_is_the_darts_rule_and_costs_match_the_network():
    space = build_search_space()
    theta, live = pruned_state(space, 3)
    tables = eval_cost_tables(space, SPEC, 4)
    answer = generate_genotypes(space, theta, live, tables, [{}])[0]
    assert answer.genotype == darts_derivation(space, theta, live)
    from ddp_vision.darts.costs import network_costs

    built = network_costs(SPEC.build(answer.genotype), SPEC.image_size, SPEC.in_channels)
    assert answer.costs["params_m"] == pytest.approx(built["params_m"], abs=1e-9)
    assert answer.costs["flops_m"] == pytest.approx(built["flops_m"], abs=1e-9)
    # kept edges are live and never `none`
    for offset, cell in ((0, answer.genotype.normal), (14, answer.genotype.reduce)):
        for position, (op, j) in enumerate(cell):
            e = offset + cell_edges(4).index((position // 2, j))
            assert op != "none" and live[e, PRIMITIVES.index(op)]


def test_darts_rule_keeps_the_two_strongest_inputs():
    space = build_search_space()
    dist = CategoricalDistribution.uniform(space)
    theta = np.full(dist.theta.shape, 0.1)
    # normal node 3 (edges 9..13 read inputs 0..4): make inputs 4 and 1 strongest via dil_conv_5x5 / skip
    theta[9 + 4, PRIMITIVES.index("dil_conv_5x5")] = 0.9
    theta[9 + 1, PRIMITIVES.index("skip_connect")] = 0.8
    theta[9 + 2, PRIMITIVES.index("none")] = 0.95  # `none` never counts
    genotype = darts_derivation(space, theta, dist.live)
    assert genotype.normal[6:8] == [("skip_connect", 1), ("dil_conv_5x5", 4)]


def test_infeasible_budgets_name_the_smallest_achievable_cost():
    space = build_search_space()
    theta, live = pruned_state(space, 4)
    tables = eval_cost_tables(space, SPEC, 4)
    with pytest.raises(InfeasibleBudgetError, match="smallest achievable params_m"):
        generate_genotypes(space, theta, live, tables, [{"params_m": 1e-4}])
    with pytest.raises(InfeasibleBudgetError, match="smallest achievable cell_height is 1"):
        generate_genotypes(space, theta, live, tables, [{"cell_height": 0}])
    with pytest.raises(ValueError, match="unknown budget keys"):
        generate_genotypes(space, theta, live, tables, [{"latency_ms": 3}])


def test_pareto_mask_keeps_exactly_the_non_dominated_points():
    rng = np.random.default_rng(0)
    values, costs = rng.random(300), rng.random((300, 2))
    keep = pareto_mask(values, costs)
    for i in range(300):
        dominated = any(
            values[j] >= values[i] and np.all(costs[j] <= costs[i]) and (values[j] > values[i] or np.any(costs[j] < costs[i]))
            for j in range(300)
        )
        assert keep[i] == (not dominated)


@pytest.mark.parametrize("rule", ["exactly", "at_most"])
@pytest.mark.parametrize("cells", ["normal", "both"])
def test_requests_without_costs_in_closed_form_match_the_enumeration(rule, cells):
    """N / H requests take the closed form over input structures; the enumerating path (pinned against brute
    force above) must give the same optimum, and infeasibility must agree."""
    from ddp_vision.darts import derivation

    steps = 3
    space = build_search_space(DartsSupernetConfig(steps=steps))
    tables = eval_cost_tables(space, SPEC, steps)
    for seed in (3,):
        theta, live = pruned_state(space, seed)
        live[:, 7] = True  # `none` live: never part of a genotype
        budgets = [{}, {"cell_height": 1}] + [{"nonparam_ops": n} for n in (0, 1, 4, 6)] + [
            {"nonparam_ops": n, "cell_height": h} for n in (2, 5) for h in (1, 2)]
        answers = generate_genotypes(space, theta, live, tables, budgets, steps, nonparam_rule=rule,
                                     nonparam_cells=cells, on_infeasible="report")
        edges = {c: derivation._edge_tables(space, np.where(live, theta, 0.0), live, c, steps, tables)
                 for c in ("normal", "reduce")}
        fixed = np.array([tables[n].fixed for n in ("params_m", "flops_m")])
        for budget, answer in zip(budgets, answers, strict=True):
            reference: list = [None]
            derivation._solve_kind(space, edges, [budget], [0], reference, (), "nonparam_ops" in budget, fixed,
                                   steps, rule, cells, None)
            assert answer.feasible == reference[0].feasible, budget
            if answer.feasible:
                assert answer.expectation == pytest.approx(reference[0].expectation, abs=1e-12), budget
                if "cell_height" in budget:
                    assert answer.costs["cell_height"] <= budget["cell_height"]
                if "nonparam_ops" in budget:
                    counts = [answer.per_cell["normal"]["nonparam_ops"]] + (
                        [answer.per_cell["reduce"]["nonparam_ops"]] if cells == "both" else [])
                    n = budget["nonparam_ops"]
                    assert all(c == n if rule == "exactly" else c <= n for c in counts), (budget, counts)
