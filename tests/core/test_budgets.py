"""The budget grammar every ENG command line shares (ddp_core.budgets) and budgets suggested from the space."""

from __future__ import annotations

import argparse
import io
import itertools

import numpy as np
import pytest

from ddp_core import CategoricalDistribution, CostTable, Decision, SearchSpace, generate
from ddp_core.budgets import (
    achievable_range,
    add_budget_arguments,
    budget_flags,
    parse_budget,
    requests_from_args,
    suggest_budgets,
)
from ddp_core.cli import OneLineArgumentParser

KEYS = ("flops_m", "params_m", "latency_ms")


def parser() -> argparse.ArgumentParser:
    built = OneLineArgumentParser(prog="generate.py RUN_DIR")
    add_budget_arguments(built, KEYS)
    return built


def requests(argv: list[str], combine: str = "pair") -> tuple[list[dict], str]:
    stream = io.StringIO()
    return requests_from_args(parser().parse_args(argv), combine, KEYS, stream=stream), stream.getvalue()


def test_one_budget_flag_is_one_request_and_repeating_it_makes_several():
    found, warned = requests(["--budget", "flops_m=400", "--budget", "params_m=3.0,latency_ms=12", "--budget", "none"])
    assert found == [{"flops_m": 400.0}, {"params_m": 3.0, "latency_ms": 12.0}, {}] and warned == ""
    assert budget_flags(found) == "--budget flops_m=400 --budget params_m=3,latency_ms=12 --budget none"


@pytest.mark.parametrize("combine, expected", [
    ("pair", [{"flops_m": 600.0, "params_m": 5.0}, {"flops_m": 400.0, "params_m": 5.0}]),
    ("separate", [{"flops_m": 600.0}, {"flops_m": 400.0}, {"params_m": 5.0}]),
])
def test_old_spellings_keep_their_meaning_and_print_one_deprecation_line(combine, expected):
    found, warned = requests(["--flops", "600,400", "--params-m", "5"], combine)
    assert found == expected
    assert warned.count("\n") == 1 and warned.startswith("deprecated: --flops, --params-m")
    assert budget_flags(expected) in warned  # the line gives the --budget flags to write instead


@pytest.mark.parametrize("text, fix", [
    ("flops=400", "did you mean flops_m?"), ("flops_m=abc", "needs a number"), ("flops_m=0", "positive"),
    ("params_m=nan", "positive finite"), ("flops_m=1,flops_m=2", "twice"), ("400", "KEY=VALUE"),
])
def test_a_bad_budget_is_one_error_line_naming_the_flag(text, fix, capsys):
    with pytest.raises(SystemExit) as stop:
        parser().parse_args(["--budget", text])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and err.startswith("error: --budget") and fix in err, err


def test_whole_number_keys():
    assert parse_budget("nonparam_ops=0,cell_height=2", ("nonparam_ops", "cell_height"),
                        {"nonparam_ops": 0, "cell_height": 1}) == {"nonparam_ops": 0.0, "cell_height": 2.0}
    with pytest.raises(ValueError, match="whole number >= 1"):
        parse_budget("cell_height=0", ("cell_height",), {"cell_height": 1})


def small_space(seed: int) -> tuple[SearchSpace, CategoricalDistribution, CostTable]:
    rng = np.random.default_rng(seed)
    space = SearchSpace([Decision(f"d{i}", [f"c{k}" for k in range(4)]) for i in range(5)])
    theta = rng.random((5, 4))
    theta /= theta.sum(axis=1, keepdims=True)
    distribution = CategoricalDistribution(theta, np.zeros_like(theta), space.full_mask())
    table = CostTable("flops_m", 10.0, [rng.uniform(1, 20, 4) for _ in range(5)])
    return space, distribution, table


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_achievable_range_is_the_cheapest_and_dearest_network_of_the_space(seed):
    space, _, table = small_space(seed)
    every = [table(space, a) for a in itertools.product(range(4), repeat=5)]
    assert achievable_range(space, table) == pytest.approx((min(every), max(every)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_suggested_budgets_span_the_range_and_give_distinct_networks(seed):
    space, distribution, table = small_space(seed)
    low, high = achievable_range(space, table)

    def answer(budgets):
        return generate(space, distribution, {"flops_m": table}, [{"flops_m": b} for b in budgets],
                        live_only=False, on_infeasible="report")

    suggested = suggest_budgets(answer, low, high, count=3)
    assert len(suggested) == 3 and suggested == sorted(suggested, reverse=True)
    assert all(low <= b <= high * 1.001 for b in suggested)
    networks = {a.architecture for a in answer(suggested)}
    assert len(networks) == 3  # three budgets, three different networks
    # the cheapest suggestion is near the bottom of the range, the dearest near the top of what changes the answer
    unconstrained = generate(space, distribution, {"flops_m": table}, {}, live_only=False).costs["flops_m"]
    assert suggested[-1] < low + 0.34 * (unconstrained - low) and suggested[0] > low + 0.66 * (unconstrained - low)
