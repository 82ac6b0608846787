"""The recommended DARTS genotype (issue 15, "One answer in the tools"): one genotype per budget under the DARTS
cell rule, with its how line; the alternatives kept in eng.json; never worse by the run's estimate than the best
evaluated genotype that meets the budget; ``--eng theta`` gives the previous output (the exact DARTS ENG on θ).

A search with fixed pseudo-random scores (no supernet: ENG needs none) over a small DARTS space.
"""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest

from ddp_core import DDPSearch, SearchConfig
from ddp_core.eng import generate_recommended
from ddp_core.records import PerformanceRecord
from ddp_vision.darts.costs import eval_cost_tables
from ddp_vision.darts.derivation import darts_derivation, generate_genotypes
from ddp_vision.darts.generate import cli, default_spec
from ddp_vision.darts.genotypes import cell_edges, genotype_from_dict, genotype_to_dict, parse_genotype
from ddp_vision.darts.recommendation import cell_facts, genotype_of, nonparam_constraints, rule_constraints
from ddp_vision.darts.space import CELL_TYPES, DartsSupernetConfig, build_search_space, decision_name

STEPS = 4


class HashScores:
    higher_is_better = True

    def train(self, architecture) -> None:
        pass

    def score(self, architecture) -> float:
        return zlib.crc32(repr([int(k) for k in architecture]).encode()) % 1000 / 1000


def small_space():
    return build_search_space(DartsSupernetConfig(channels=4, layers=5, in_channels=1, num_classes=3, image_size=8))


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("darts") / "run"
    result = DDPSearch(small_space(), HashScores(), SearchConfig(rounds_per_stage=1), run_dir=run_dir).run()
    return run_dir, result


def meets_the_rule(space, architecture) -> bool:
    for cell in CELL_TYPES:
        for node in range(STEPS):
            kept = [j for e, (n, j) in enumerate(cell_edges(STEPS)) if n == node
                    and space.decisions[space.decision_index(decision_name(cell, e))].candidates[
                        architecture[space.decision_index(decision_name(cell, e))]].name != "none"]
            if len(kept) != 2:
                return False
    return True


def test_one_recommended_genotype_per_budget_with_its_how_line_and_the_alternatives(searched, capsys):
    run_dir, result = searched
    space = result.space
    costs = eval_cost_tables(space, default_spec(space), STEPS)
    theta_only = generate_genotypes(space, result.distribution.theta, result.distribution.live, costs, [{}], STEPS)[0]
    loose = round(theta_only.costs["params_m"] * 0.95, 4)
    flags = ["--budget", "none", "--budget", f"params_m={loose}", "--budget", "nonparam_ops=3",
             "--budget", "nonparam_ops=2,cell_height=2", "--budget", "params_m=0.0001", "--no-draw"]
    assert cli(run_dir, flags) == 0
    out = capsys.readouterr().out
    report = json.loads((run_dir / "eng.json").read_text())
    assert report["eng"] == "model"
    answers = {json.dumps(a["budgets"], sort_keys=True): a for a in report["answers"]}
    assert len(answers) == 4 and out.count("ENG [") == 5 and out.count("  how: ") == 4
    assert "DARTS rule:" not in out  # θ's rule genotype is an alternative now, not a second answer
    rule = rule_constraints(space, STEPS)
    for budget in ({}, {"params_m": loose}, {"nonparam_ops": 3.0}):
        answer = answers[json.dumps(budget, sort_keys=True)]
        architecture = tuple(answer["architecture"])
        assert meets_the_rule(space, architecture)
        assert genotype_to_dict(genotype_of(space, architecture, STEPS)) == answer["genotype"]
        assert parse_genotype(answer["genotype_text"]) == genotype_from_dict(answer["genotype"])
        assert answer["source"] in ("model", "evaluated") and answer["how"].endswith("two non-none inputs per node")
        assert out.count(answer["how"]) >= 1
        extra = [] if "nonparam_ops" not in budget else nonparam_constraints(space, STEPS, 3, "exactly", "normal")
        expected = result.generate(costs, [{k: v for k, v in budget.items() if k in costs}],
                                   count_constraints=[*rule, *extra])[0]
        assert architecture == expected.architecture and answer["proven_optimal"]
        assert {"theta", "best_evaluated"} <= set(answer["alternatives"])
        assert answer["alternatives"]["theta"]["source"] == "theta"
        for name, bound in budget.items():
            assert answer["costs"][name] <= bound + 1e-9
    assert answers[json.dumps({"nonparam_ops": 3.0})]["per_cell"]["normal"]["nonparam_ops"] == 3
    height = answers[json.dumps({"cell_height": 2.0, "nonparam_ops": 2.0}, sort_keys=True)]
    assert height["source"] == "theta" and "cell_height" in height["how"] and height["costs"]["cell_height"] <= 2
    (infeasible,) = report["infeasible"]
    assert infeasible["budgets"] == {"params_m": 0.0001} and infeasible["smallest"]["params_m"] > 0.0001
    assert "smallest achievable params_m" in out
    first = report["answers"][0]
    assert json.loads((run_dir / "genotype.json").read_text())["genotype"] == first["genotype"]  # what train trains


def test_eng_theta_reproduces_the_exact_darts_eng_on_theta(searched, capsys):
    run_dir, result = searched
    space = result.space
    costs = eval_cost_tables(space, default_spec(space), STEPS)
    requests = [{}, {"nonparam_ops": 3.0}]
    assert cli(run_dir, ["--budget", "none", "--budget", "nonparam_ops=3", "--no-draw", "--eng", "theta"]) == 0
    out = capsys.readouterr().out
    report = json.loads((run_dir / "eng.json").read_text())
    expected = generate_genotypes(space, result.distribution.theta, result.distribution.live, costs, requests, STEPS)
    assert report["eng"] == "theta"
    assert [a["genotype"] for a in report["answers"]] == [genotype_to_dict(e.genotype) for e in expected]
    assert [a["expectation"] for a in report["answers"]] == [e.expectation for e in expected]
    derived = darts_derivation(space, result.distribution.theta, result.distribution.live, STEPS)
    assert json.loads((run_dir / "genotype.json").read_text())["genotype"] == genotype_to_dict(derived)
    assert "DARTS rule:" in out and out.count("how: Eq. 10 on θ") == 2


@pytest.mark.parametrize("seed", range(3))
def test_never_worse_than_the_best_evaluated_genotype_meeting_the_budget(seed):
    """Records that hold genotypes (rare in a real search): the answer's estimate is at least theirs."""
    space = small_space()
    rng = np.random.default_rng(seed)
    costs = eval_cost_tables(space, default_spec(space), STEPS)
    rule = rule_constraints(space, STEPS)
    record = PerformanceRecord(space)
    genotypes = []
    for i in range(60):
        architecture = []
        for _ in CELL_TYPES:
            for node in range(STEPS):
                edges = [e for e, (n, _) in enumerate(cell_edges(STEPS)) if n == node]
                kept = set(rng.choice(edges, 2, replace=False).tolist())
                architecture += [int(rng.integers(7)) if e in kept else 7 for e in edges]  # 7: none
        genotypes.append(tuple(architecture))
        record.add(i // 20, i, genotypes[-1], float(rng.random()))
    for _ in range(40):  # and paths that break the rule
        record.add(2, 99, tuple(int(k) for k in rng.integers(0, 8, space.num_decisions)), float(rng.random()))
    assert space.decisions[0].candidates[7].name == "none" and meets_the_rule(space, genotypes[0])
    spent = [costs["params_m"](space, a) for a in genotypes]
    budgets = [{}, {"params_m": float(np.quantile(spent, 0.3))}]
    from ddp_core.joint import ModelCache

    model = ModelCache(space, True).get(record, force=True)
    keys, estimates, _ = model.estimates()
    answers = generate_recommended(space, record, _uniform(space), costs, budgets, higher_is_better=True,
                                   count_constraints=rule)
    for budget, answer in zip(budgets, answers, strict=True):
        feasible = [e for k, e in zip(keys, estimates, strict=True) if meets_the_rule(space, k)
                    and costs["params_m"](space, k) <= budget.get("params_m", np.inf) + 1e-9]
        assert feasible and answer.estimate >= max(feasible) - 1e-9
        assert meets_the_rule(space, answer.architecture)
        assert answer.alternatives["best_evaluated"]["estimate"] == pytest.approx(max(feasible))
        facts = cell_facts(genotype_of(space, answer.architecture, STEPS), STEPS)
        assert all(1 <= f["cell_height"] <= STEPS for f in facts.values())


def _uniform(space):
    from ddp_core import CategoricalDistribution

    return CategoricalDistribution.uniform(space)
