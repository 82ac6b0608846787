"""DARTS ENG: both readings of N against brute force, Table 4's ordering, one call for many budgets with
per-budget infeasibility, big cell option sets, and a failed call that leaves earlier outputs untouched."""

import argparse
import itertools

import numpy as np
import pytest

from ddp_core import CategoricalDistribution, InfeasibleBudgetError, write_json_atomic
from ddp_vision.darts import derivation
from ddp_vision.darts.costs import EvalNetworkSpec, eval_cost_tables
from ddp_vision.darts.derivation import EngAnswer, generate_genotypes
from ddp_vision.darts.generate import cli, parse_budget, run_generation
from ddp_vision.darts.genotypes import cell_edges
from ddp_vision.darts.operations import PRIMITIVES
from ddp_vision.darts.space import DartsSupernetConfig, build_search_space

SPEC = EvalNetworkSpec(channels=4, layers=5, num_classes=3, in_channels=1, image_size=8)
NONPARAM = {k for k, name in enumerate(PRIMITIVES) if name in ("max_pool_3x3", "avg_pool_3x3", "skip_connect")}


def pruned_state(space, seed, nonparam_live=1, second=0.0):
    """Random θ, one live param op and ``nonparam_live`` live nonparam ops per edge (never only `none`), one
    more nonparam op on a ``second`` share of the edges."""
    rng = np.random.default_rng(seed)
    theta = rng.random((space.num_decisions, len(PRIMITIVES)))
    live = np.zeros_like(theta, dtype=bool)
    for e in range(space.num_decisions):
        live[e, rng.integers(0, 4)] = True
        extra = nonparam_live + int(rng.random() < second)
        live[e, rng.choice(sorted(NONPARAM), size=extra, replace=False)] = True
    return theta, live


def cell_options(space, theta, live, tables, steps, offset):
    """(θ sum, params, flops, nonparam count, height) of every genotype of one cell."""
    options = []
    for structure in itertools.product(*[itertools.combinations(range(n + 2), 2) for n in range(steps)]):
        depth = [0, 0]
        for pair in structure:
            depth.append(1 + max(depth[j] for j in pair))
        kept = [offset + cell_edges(steps).index((n, j)) for n, pair in enumerate(structure) for j in pair]
        for ops in itertools.product(*[[k for k in np.flatnonzero(live[e]) if PRIMITIVES[k] != "none"] for e in kept]):
            pairs = list(zip(kept, ops, strict=True))
            options.append((sum(theta[e, k] for e, k in pairs), sum(tables["params_m"].per_candidate[e][k] for e, k in pairs),
                            sum(tables["flops_m"].per_candidate[e][k] for e, k in pairs),
                            sum(k in NONPARAM for _, k in pairs), max(depth[2:])))
    return np.array(options)


def brute_force(normal, reduce, tables, budget, rule, cells):
    value = normal[:, None, 0] + reduce[None, :, 0]
    ok = np.ones(value.shape, dtype=bool)
    for column, key in ((1, "params_m"), (2, "flops_m")):
        if key in budget:
            ok &= normal[:, None, column] + reduce[None, :, column] + tables[key].fixed <= budget[key] + 1e-9
    if "nonparam_ops" in budget:
        n = budget["nonparam_ops"]
        meets = (lambda c: c == n) if rule == "exactly" else (lambda c: c <= n)
        ok &= meets(normal[:, None, 3])
        if cells == "both":
            ok &= meets(reduce[None, :, 3])
    if "cell_height" in budget:
        ok &= (normal[:, None, 4] <= budget["cell_height"]) & (reduce[None, :, 4] <= budget["cell_height"])
    return float(np.where(ok, value, -np.inf).max()) if ok.any() else None


@pytest.mark.parametrize("rule,cells", [("exactly", "normal"), ("exactly", "both"), ("at_most", "normal")])
def test_every_reading_of_n_is_exact_against_brute_force(rule, cells):
    steps = 3
    space = build_search_space(DartsSupernetConfig(steps=steps))
    theta, live = pruned_state(space, {"normal": 0, "both": 1}[cells] + 2 * (rule == "at_most"), second=0.3)
    tables = eval_cost_tables(space, SPEC, steps)
    normal = cell_options(space, theta, live, tables, steps, 0)
    reduce = cell_options(space, theta, live, tables, steps, len(cell_edges(steps)))
    free = generate_genotypes(space, theta, live, tables, [{}], steps)[0]
    params, flops = free.costs["params_m"], free.costs["flops_m"]
    budgets = [{"nonparam_ops": n} for n in range(0, 7)] + [
        {"nonparam_ops": 2, "params_m": params * 0.9}, {"nonparam_ops": 1, "cell_height": 1},
        {"nonparam_ops": 3, "params_m": params * 0.95, "flops_m": flops * 0.9}, {"params_m": params * 0.8},
        {"nonparam_ops": 1, "params_m": tables["params_m"].fixed * 1.0001}]
    answers = generate_genotypes(space, theta, live, tables, budgets, steps, nonparam_rule=rule,
                                 nonparam_cells=cells, on_infeasible="report")
    feasible = 0
    for budget, answer in zip(budgets, answers, strict=True):
        best = brute_force(normal, reduce, tables, budget, rule, cells)
        if best is None:
            assert not answer.feasible, budget
            continue
        feasible += 1
        assert answer.feasible and answer.proven_optimal, budget
        assert answer.expectation * 4 * steps == pytest.approx(best, abs=1e-9), budget
        if "nonparam_ops" in budget:
            counts = [answer.per_cell["normal"]["nonparam_ops"]] + (
                [answer.per_cell["reduce"]["nonparam_ops"]] if cells == "both" else [])
            assert all((c == budget["nonparam_ops"]) if rule == "exactly" else (c <= budget["nonparam_ops"])
                       for c in counts)
    assert feasible >= 7 and feasible < len(budgets)


def test_table_4_parameters_fall_as_n_rises():
    """Paper Table 4: N = 2 / 4 / 6 give 3.57 / 3.16 / 2.83M params (exactly N in the normal cell)."""
    space = build_search_space()
    tables = eval_cost_tables(space, EvalNetworkSpec(), 4)  # DARTS' CIFAR network: 20 cells, 36 channels
    for seed in range(3):
        theta, live = pruned_state(space, 10 + seed)
        exact = generate_genotypes(space, theta, live, tables, [{"nonparam_ops": n} for n in (2, 4, 6)])
        params = [a.costs["params_m"] for a in exact]
        assert params[0] > params[1] > params[2], params
        assert [a.per_cell["normal"]["nonparam_ops"] for a in exact] == [2, 4, 6]
        free, at_most = generate_genotypes(space, theta, live, tables, [{}, {"nonparam_ops": 6}],
                                           nonparam_rule="at_most")
        # "at most 6" leaves θ's choice alone whenever it already has <= 6: the repository's old reading
        if free.per_cell["normal"]["nonparam_ops"] <= 6:
            assert at_most.genotype == free.genotype
        assert at_most.expectation >= exact[2].expectation - 1e-12


def test_one_call_answers_many_budgets_enumerates_once_and_reports_each_infeasible_one(monkeypatch):
    space = build_search_space()
    theta, live = pruned_state(space, 5, nonparam_live=3)
    tables = eval_cost_tables(space, SPEC, 4)
    calls = []
    original = derivation.enumerate_cell_options
    monkeypatch.setattr(derivation, "enumerate_cell_options", lambda *a, **k: calls.append(1) or original(*a, **k))
    free = generate_genotypes(space, theta, live, tables, [{}])[0]
    calls.clear()
    budgets = [{"params_m": b} for b in np.linspace(0.5, 1.0, 40) * free.costs["params_m"]]
    budgets += [{"params_m": 1e-4}, {"params_m": free.costs["params_m"], "flops_m": 1e-3}, {"nonparam_ops": 4},
                {"cell_height": 0}]
    answers = generate_genotypes(space, theta, live, tables, budgets, on_infeasible="report")
    # params / FLOPs budgets alone are solved over node groups and N alone in closed form; only the infeasible
    # height's message enumerates cell options, once per cell type for the whole list, never once per budget
    assert len(calls) == 2
    tiny, joint, four, flat = answers[-4:]
    assert not tiny.feasible and tiny.smallest["params_m"] >= tables["params_m"].fixed > 0  # pools cost nothing
    assert f"smallest achievable params_m is {tiny.smallest['params_m']:g}" in tiny.message
    assert not joint.feasible and "smallest achievable flops_m" in joint.message
    assert isinstance(four, EngAnswer) and four.per_cell["normal"]["nonparam_ops"] == 4
    assert not flat.feasible and "smallest achievable cell_height is 1" in flat.message
    for budget, answer in zip(budgets[:40], answers[:40], strict=True):
        assert not answer.feasible or answer.costs["params_m"] <= budget["params_m"] + 1e-9
    with pytest.raises(InfeasibleBudgetError, match="smallest achievable params_m"):
        generate_genotypes(space, theta, live, tables, budgets[-4:])


def test_params_and_flops_budgets_on_the_full_space_never_raise():
    """Every op live: each cell has thousands of non-dominated options (the old cache key broke at 256)."""
    space = build_search_space()
    dist = CategoricalDistribution.uniform(space)
    theta = np.random.default_rng(0).random(dist.theta.shape)
    tables = eval_cost_tables(space, SPEC, 4)
    free = generate_genotypes(space, theta, dist.live, tables, [{}])[0]
    budgets = [{"params_m": free.costs["params_m"] * f, "flops_m": free.costs["flops_m"] * g}
               for f, g in ((0.8, 0.8), (0.7, 0.9), (0.9, 0.6))] + [{"nonparam_ops": 3, "params_m": 0.05}]
    answers = generate_genotypes(space, theta, dist.live, tables, budgets, on_infeasible="report")
    for budget, answer in zip(budgets, answers, strict=True):
        if answer.feasible:
            assert answer.proven_optimal and all(answer.costs[k] <= v + 1e-9 for k, v in budget.items()
                                                 if k != "nonparam_ops")


def fake_run(tmp_path, seed=3):
    space = build_search_space(DartsSupernetConfig(channels=4, layers=5, in_channels=1, num_classes=3, image_size=8))
    dist = CategoricalDistribution.uniform(space)
    dist.theta, dist.live = pruned_state(space, seed)
    write_json_atomic(tmp_path / "space.json", space.to_dict())
    write_json_atomic(tmp_path / "state.json", {"distribution": dist.state_dict()})
    return tmp_path


def test_a_failed_call_leaves_earlier_outputs_untouched(tmp_path, capsys):
    run_dir = fake_run(tmp_path)
    first = run_generation(run_dir, [{}, {"nonparam_ops": 2}], draw=False)
    assert first["written"] and len(first["answers"]) == 2
    before = {name: (run_dir / name).read_bytes() for name in ("eng.json", "eng.txt", "genotype.json")}
    failed = run_generation(run_dir, [{"params_m": 1e-4}], draw=False)
    assert not failed["written"] and failed["answers"] == []
    assert failed["infeasible"][0]["smallest"]["params_m"] > 0  # not the budget minus the fixed part
    assert {name: (run_dir / name).read_bytes() for name in before} == before
    assert cli(run_dir, ["--budget", "params_m=0.0001", "--no-draw"]) == 2
    err = capsys.readouterr().err
    assert "smallest achievable params_m" in err and "left as they were" in err
    assert {name: (run_dir / name).read_bytes() for name in before} == before
    assert cli(run_dir, ["--budget", "nonparam_ops=3", "--nonparam-count", "at-most", "--nonparam-cells", "both",
                         "--no-draw"]) == 0
    out = capsys.readouterr().out
    assert "nonparam_ops <= 3 (each cell)" in out


@pytest.mark.parametrize("text", ["params_m=nan", "flops_m=inf", "params_m=-1", "params_m=0", "nonparam_ops=2.5",
                                  "cell_height=0"])
def test_bad_budgets_are_one_clear_error(text):
    with pytest.raises(argparse.ArgumentTypeError, match="must be"):
        parse_budget(text)


def test_bad_budget_flags_are_one_line_and_exit_2(tmp_path, capsys):
    run_dir = fake_run(tmp_path)
    for flags in (["--budget", "params_m=nan"], ["--budget", "flops_m=-3"], ["--time-limit", "0"]):
        with pytest.raises(SystemExit) as stop:
            status = cli(run_dir, flags)
            raise SystemExit(status)
        assert stop.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:"), err
    assert not (run_dir / "eng.json").exists()


def test_a_second_call_leaves_no_stale_cell_drawings(tmp_path):
    run_dir = fake_run(tmp_path)
    run_generation(run_dir, [{}, {"nonparam_ops": 2}, {"nonparam_ops": 4}])
    assert sorted(p.name for p in run_dir.glob("eng_cells_*.png")) == [f"eng_cells_{i}.png" for i in range(3)]
    run_generation(run_dir, [{"nonparam_ops": 3}])
    assert [p.name for p in run_dir.glob("eng_cells_*.png")] == ["eng_cells_0.png"]  # one answer, one drawing
    run_generation(run_dir, [{}], draw=False)
    assert not list(run_dir.glob("eng_cells_*.png"))  # drawings of other genotypes than eng.json's are gone
