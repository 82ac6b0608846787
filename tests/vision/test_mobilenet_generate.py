"""ENG over layer-wise spaces: exact against brute force, the command line end to end, latency tables."""

from __future__ import annotations

import itertools
import json
import pathlib

import numpy as np
import pytest

from ddp_core import CategoricalDistribution, DDPSearch, InfeasibleBudgetError, SearchConfig, generate
from ddp_vision.mobilenet.config import NetworkConfig
from ddp_vision.mobilenet.costs import network_cost
from ddp_vision.mobilenet.generate import budget_requests, cli
from ddp_vision.mobilenet.latency import load_latency_table, measure_latency_table, save_latency_table
from ddp_vision.mobilenet.space import MobileNetSpaceConfig, mobilenet_space

SMALL = MobileNetSpaceConfig(num_classes=10, resolution=32, width_multiplier=0.5, kernels=(3, 5),
                             stage_depths=(1, 1, 1, 1, 2, 1))


def random_distribution(space, seed: int, prune_fraction: float = 0.3) -> CategoricalDistribution:
    rng = np.random.default_rng(seed)
    full = space.full_mask()
    live = full & (rng.random(full.shape) > prune_fraction)
    live[np.arange(space.num_decisions), rng.integers(0, space.sizes)] = True  # at least one live each
    theta = np.where(live, rng.random(full.shape), 0.0)
    theta /= theta.sum(axis=1, keepdims=True)
    return CategoricalDistribution(theta, np.zeros_like(theta), live)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eng_is_exact_against_brute_force(seed):
    layerwise = mobilenet_space(SMALL)
    space = layerwise.search_space()
    costs = layerwise.cost_tables()
    distribution = random_distribution(space, seed)
    options = [np.flatnonzero(row) for row in distribution.live]
    archs = np.array(list(itertools.product(*options)))
    rows = np.arange(space.num_decisions)
    values = distribution.theta[rows, archs].mean(axis=1)
    flops = costs["flops_m"].fixed + costs["flops_m"].matrix(space)[rows, archs].sum(axis=1)
    params = costs["params_m"].fixed + costs["params_m"].matrix(space)[rows, archs].sum(axis=1)
    budgets = [{"flops_m": float(np.quantile(flops, q))} for q in (0.05, 0.3, 0.7, 1.0)]
    budgets.append({"flops_m": float(np.quantile(flops, 0.6)), "params_m": float(np.quantile(params, 0.4))})
    answers = generate(space, distribution, costs, budgets)
    for budget, answer in zip(budgets, answers, strict=True):
        feasible = np.ones(len(archs), dtype=bool)
        for name, bound in budget.items():
            feasible &= {"flops_m": flops, "params_m": params}[name] <= bound + 1e-9
        assert answer.expectation == pytest.approx(values[feasible].max(), abs=1e-12)
        for name, bound in budget.items():
            assert answer.costs[name] <= bound + 1e-9
        # the reported cost is the cost of the network the answer builds
        built = network_cost(layerwise.network_config(answer.architecture))
        assert answer.costs["flops_m"] == pytest.approx(built.flops_m, rel=1e-12)


def test_infeasible_budget_names_the_smallest_cost():
    layerwise = mobilenet_space(SMALL)
    space = layerwise.search_space()
    with pytest.raises(InfeasibleBudgetError, match="smallest achievable flops_m"):
        generate(space, CategoricalDistribution.uniform(space), layerwise.cost_tables(), {"flops_m": 0.01})


def test_budget_lists_pair_or_broadcast():
    assert budget_requests({"flops_m": [600, 400], "params_m": [5]}) == [
        {"flops_m": 600.0, "params_m": 5.0}, {"flops_m": 400.0, "params_m": 5.0}]
    with pytest.raises(ValueError, match="different lengths"):
        budget_requests({"flops_m": [600, 400], "params_m": [5, 4, 3]})


class ThetaEvaluator:
    """A fast stand-in for a supernet: larger kernels score higher, so the search has a signal."""

    higher_is_better = True

    def __init__(self, space) -> None:
        self.space = space

    def train(self, architecture) -> None:
        pass

    def score(self, architecture) -> float:
        names = self.space.describe(architecture).values()
        return float(np.mean([0.5 if n == "zero" else int(n[2]) / 10 + int(n[-1]) / 100 for n in names]))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> pathlib.Path:
    layerwise = mobilenet_space(SMALL)
    space = layerwise.search_space()
    run = tmp_path_factory.mktemp("run")
    DDPSearch(space, ThetaEvaluator(space), SearchConfig(rounds_per_stage=1), run_dir=run).run()
    return run


def test_generate_cli_writes_networks_json_and_pareto_png(run_dir, capsys):
    layerwise = mobilenet_space(SMALL)
    table = measure_latency_table(layerwise, "cpu", batch_size=1, repeats=3, warmup=1, progress=False)
    save_latency_table(run_dir / "latency.json", table)
    assert load_latency_table(run_dir / "latency.json", layerwise)["batch_size"] == 1
    flops = layerwise.cost_tables()["flops_m"]
    low = flops.fixed + sum(row.min() for row in flops.per_candidate)
    high = flops.fixed + sum(row.max() for row in flops.per_candidate)
    budgets = [round(low + f * (high - low), 4) for f in (0.9, 0.5, 0.1)]
    status = cli(run_dir, ["--flops", ",".join(map(str, budgets)), "--latency-ms", "1000", "--latency-table",
                           str(run_dir / "latency.json"), "--full-space", "--stage", "1"])
    assert status == 0, capsys.readouterr().err
    out = run_dir / "generated"
    result = json.loads((out / "eng.json").read_text())
    assert [a["budgets"]["flops_m"] for a in result["answers"]] == budgets
    for answer in result["answers"]:
        config = NetworkConfig.load(answer["network_path"])
        cost = network_cost(config)
        assert cost.flops_m == pytest.approx(answer["costs"]["flops_m"]) and cost.flops_m <= answer["budgets"]["flops_m"]
        assert cost.params_m == pytest.approx(answer["costs"]["params_m"])
    expectations = [a["expectation"] for a in result["answers"]]
    assert expectations == sorted(expectations, reverse=True)  # a looser budget never gives a worse answer
    front = result["pareto"]["points"]
    assert all(a["costs"]["flops_m"] < b["costs"]["flops_m"] and a["expectation"] < b["expectation"]
               for a, b in itertools.pairwise(front))
    assert (out / "pareto_flops_m.png").stat().st_size > 10_000


def test_generate_cli_reports_bad_requests(run_dir, capsys):
    assert cli(run_dir, ["--flops", "0.001"]) == 2
    assert "smallest achievable" in capsys.readouterr().err
    assert cli(run_dir, ["--latency-ms", "5"]) == 2
    assert "--latency-table" in capsys.readouterr().err
    assert cli(run_dir / "missing", ["--flops", "1"]) == 2
    assert cli(run_dir, []) == 2


def test_finished_search_falls_back_to_the_full_space_under_theta(run_dir, capsys):
    state = json.loads((run_dir / "state.json").read_text())
    assert max(sum(row) for row in state["distribution"]["live"]) == 1  # the fixture's search finished
    assert cli(run_dir, ["--flops", "100", "--output-dir", str(run_dir / "fallback"), "--eng", "theta"]) == 0
    assert "searched the full space" in capsys.readouterr().out
    result = json.loads((run_dir / "fallback" / "eng.json").read_text())
    assert result["full_space"] and len(result["pareto"]["points"]) > 1


def test_one_hundred_budgets_on_the_full_space_are_feasible_and_monotone():
    layerwise = mobilenet_space()  # the paper's 21 decisions at 224 px
    space = layerwise.search_space()
    distribution = random_distribution(space, seed=5, prune_fraction=0.0)
    budgets = np.linspace(650, 200, 100)
    answers = generate(space, distribution, layerwise.cost_tables(), [{"flops_m": float(b)} for b in budgets])
    assert all(a.costs["flops_m"] <= b + 1e-9 for a, b in zip(answers, budgets, strict=True))
    values = [a.expectation for a in answers]
    assert all(x >= y - 1e-12 for x, y in itertools.pairwise(values))  # tighter budget, never a better answer
    unconstrained = distribution.theta.max(axis=1).mean()
    assert values[0] <= unconstrained + 1e-12


def budgets_between(fractions) -> str:
    flops = mobilenet_space(SMALL).cost_tables()["flops_m"]
    low = flops.fixed + sum(row.min() for row in flops.per_candidate)
    high = flops.fixed + sum(row.max() for row in flops.per_candidate)
    return ",".join(f"{low + f * (high - low):.5f}" for f in fractions)


def test_the_drawn_front_is_engs_answers_and_holds_every_requested_one(run_dir):
    out = run_dir / "front"
    # few sweep points, so the requested budgets fall between them and must be added to the front
    assert cli(run_dir, ["--flops", budgets_between((0.83, 0.37)), "--full-space", "--output-dir", str(out),
                         "--points", "4", "--eng", "theta"]) == 0
    result = json.loads((out / "eng.json").read_text())
    front = {tuple(p["architecture"]): p for p in result["pareto"]["points"]}
    for answer in result["answers"]:  # a requested budget's answer is a point of the drawn front, exactly
        point = front[tuple(answer["architecture"])]
        assert point["expectation"] == answer["expectation"] and point["costs"] == answer["costs"]
    # each point is ENG's exact optimum under its own cost as the budget
    layerwise = mobilenet_space(SMALL)
    from ddp_vision.mobilenet.generate import load_layerwise_run

    space, _, distribution = load_layerwise_run(run_dir)
    for point in result["pareto"]["points"]:
        best = generate(space, distribution, layerwise.cost_tables(), {"flops_m": point["costs"]["flops_m"]},
                        live_only=False)
        assert best.expectation == pytest.approx(point["expectation"], abs=1e-12)


def test_a_second_call_leaves_no_stale_outputs(run_dir):
    out = run_dir / "twice"
    assert cli(run_dir, ["--flops", budgets_between((0.9, 0.5)), "--full-space", "--output-dir", str(out)]) == 0
    assert cli(run_dir, ["--params", "100", "--full-space", "--output-dir", str(out)]) == 0
    listed = [pathlib.Path(a["network_path"]).name for a in json.loads((out / "eng.json").read_text())["answers"]]
    assert sorted(p.name for p in out.iterdir()) == sorted([*listed, "eng.json", "pareto_params_m.png"])


@pytest.mark.parametrize("argv", [["--flops", "nan"], ["--flops", "100,inf"], ["--params", "-1"], ["--points", "0"]])
def test_bad_budgets_are_one_line_errors(run_dir, argv, capsys):
    with pytest.raises(SystemExit) as stop:
        cli(run_dir, argv)
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and err.count("\n") == 0 and err.startswith("error: --"), err


def test_min_live_run_answers_inside_the_live_space_and_falls_back_per_budget(tmp_path, capsys):
    layerwise = mobilenet_space(SMALL)
    space = layerwise.search_space(min_live=2)
    run = tmp_path / "run"
    DDPSearch(space, ThetaEvaluator(space), SearchConfig(rounds_per_stage=1), run_dir=run).run()
    live = np.array(json.loads((run / "state.json").read_text())["distribution"]["live"])
    assert live.sum(axis=1).min() == 2  # two live candidates per block
    # the evaluator prefers large kernels, so the cheapest candidates were pruned: the tightest budget cannot be
    # met inside the live space and is answered over the full one; the loose budget stays inside
    low, high = budgets_between((0.02, 0.98)).split(",")
    assert cli(run, ["--flops", f"{high},{low}", "--eng", "theta"]) == 0
    answers = json.loads((run / "generated" / "eng.json").read_text())["answers"]
    assert answers[0]["space"] == "live" and all(live[e, k] for e, k in enumerate(answers[0]["architecture"]))
    assert answers[1]["space"].startswith("full (") and answers[1]["costs"]["flops_m"] <= float(low)
    assert "the live candidates cannot meet it" in capsys.readouterr().out


def test_the_default_prints_one_recommended_network_per_budget_and_keeps_the_alternatives(tmp_path, capsys):
    """Issue 15: by default each budget gets the search's recommended network (``SearchResult.generate``), one
    table row and one ``how:`` line; eng.json keeps the θ answer and the best evaluated network; ``--eng theta``
    gives what the generator printed before (Eq. 10 on θ)."""
    from ddp_vision.mobilenet.generate import eng_answers

    layerwise = mobilenet_space(SMALL)
    space = layerwise.search_space()
    run = tmp_path / "run"
    result = DDPSearch(space, ThetaEvaluator(space), SearchConfig(rounds_per_stage=2), run_dir=run).run()
    low, high = (float(b) for b in budgets_between((0.2, 0.7)).split(","))
    requests = [{"flops_m": high}, {"flops_m": low, "params_m": 100.0}, {"flops_m": 1e-4}]
    flags = ["--budget", f"flops_m={high}", "--budget", f"flops_m={low},params_m=100", "--budget", "flops_m=1e-4",
             "--points", "6"]
    assert cli(run, flags) == 0
    out = capsys.readouterr().out
    report = json.loads((run / "generated" / "eng.json").read_text())
    expected = result.generate(layerwise.cost_tables(), requests)
    assert report["eng"] == "model"
    answers = report["answers"]
    for entry, answer in zip(answers[:2], expected[:2], strict=True):
        assert entry["architecture"] == list(answer.architecture) and entry["how"] == answer.how
        assert entry["source"] in ("model", "evaluated") and entry["space"] == "full"
        assert out.count(f"how: {answer.how}") == 1 and out.count(entry["network_path"]) == 1
        alternatives = entry["alternatives"]
        assert {"theta", "best_evaluated"} <= set(alternatives) and "network" in alternatives["theta"]
        best = alternatives["best_evaluated"]
        if best is not None:  # never worse, by the run's estimate, than the best evaluated network under it
            assert entry["estimate"] >= best["estimate"] - 1e-12
            assert all(best["costs"][k] <= v + 1e-9 for k, v in entry["budgets"].items())
    assert answers[2]["infeasible"] and "smallest achievable flops_m" in answers[2]["message"]
    assert out.count("how: ") == 2 and out.count("infeasible: ") == 1
    assert (run / "generated" / "pareto_flops_m.png").stat().st_size > 10_000
    thetas, _ = eng_answers(result.space, result.distribution, layerwise.cost_tables(), requests)
    assert [a["alternatives"]["theta"]["architecture"] for a in answers[:2]] == [list(t.architecture)
                                                                                 for t in thetas[:2]]
    assert cli(run, [*flags, "--eng", "theta"]) == 0
    out = capsys.readouterr().out
    report = json.loads((run / "generated" / "eng.json").read_text())
    assert report["eng"] == "theta"
    assert [a["architecture"] for a in report["answers"][:2]] == [list(t.architecture) for t in thetas[:2]]
    assert [a["expectation"] for a in report["answers"][:2]] == [t.expectation for t in thetas[:2]]
    assert out.count("how: Eq. 10") == 2


def test_stage_goes_with_theta_only(run_dir, capsys):
    assert cli(run_dir, ["--budget", "flops_m=100", "--stage", "1", "--eng", "model"]) == 2
    assert "--stage" in capsys.readouterr().err
