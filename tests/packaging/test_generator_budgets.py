"""One budget grammar and one infeasible-budget behaviour in every generator behind tools/generate.py.

For every kind (DARTS, MobileNet, NAS-Bench-Macro supernet and tabular, BERT), in process through the
registry's ``main`` (what ``tools/generate.py`` runs): ``--budget`` is the grammar; a budget no network meets is
reported with the smallest achievable cost while the other budgets are answered (exit 0); a call where none can
be met is exit 2 with error lines; the old spellings give the same answers plus one ``deprecated:`` line.
"""

from __future__ import annotations

import json
import pathlib
import zlib

import numpy as np
import pytest

from ddp_core import CategoricalDistribution, DDPSearch, SearchConfig, write_json_atomic
from ddp_core import generators as registry


class HashScores:
    """Fast stand-in for a supernet: a fixed pseudo-random score per architecture."""

    higher_is_better = True

    def train(self, architecture) -> None:
        pass

    def score(self, architecture) -> float:
        return zlib.crc32(repr([int(k) for k in architecture]).encode()) % 1000 / 1000


def searched(space, run_dir: pathlib.Path) -> pathlib.Path:
    DDPSearch(space, HashScores(), SearchConfig(rounds_per_stage=1), run_dir=run_dir).run()
    return run_dir


def darts(run_dir):
    """θ written directly (a DARTS search takes a minute here): one param and one nonparam op live per edge."""
    from ddp_vision.darts.operations import NONPARAMETRIC_OPS, PARAMETRIC_OPS, PRIMITIVES
    from ddp_vision.darts.space import DartsSupernetConfig, build_search_space

    space = build_search_space(DartsSupernetConfig(channels=4, layers=5, in_channels=1, num_classes=3, image_size=8))
    distribution = CategoricalDistribution.uniform(space)
    distribution.theta = np.random.default_rng(0).random((space.num_decisions, len(PRIMITIVES)))
    distribution.live = np.zeros_like(distribution.theta, dtype=bool)
    for edge in range(space.num_decisions):
        distribution.live[edge, PRIMITIVES.index(PARAMETRIC_OPS[edge % len(PARAMETRIC_OPS)])] = True
        distribution.live[edge, PRIMITIVES.index(NONPARAMETRIC_OPS[edge % 3])] = True  # never `none`
    run_dir.mkdir(parents=True)
    write_json_atomic(run_dir / "space.json", space.to_dict())
    write_json_atomic(run_dir / "state.json", {"distribution": distribution.state_dict()})
    return run_dir


def mobilenet(run_dir):
    from ddp_vision.mobilenet.space import MobileNetSpaceConfig, mobilenet_space

    config = MobileNetSpaceConfig(num_classes=10, resolution=32, width_multiplier=0.5, kernels=(3, 5),
                                  stage_depths=(1, 1, 1, 1, 2, 1))
    return searched(mobilenet_space(config).search_space(), run_dir)


def macro_supernet(run_dir):
    from ddp_vision.macro.space import macro_space

    return searched(macro_space().search_space(), run_dir)


def macro_tabular(run_dir):
    from ddp_core.tabular import macro_space

    return searched(macro_space(), run_dir)


def bert(run_dir):
    from ddp_bert.space import TeacherShape, build_search_space

    teacher = TeacherShape(num_layers=2, hidden_size=32, num_heads=4, intermediate_size=64, vocab_size=100,
                           max_position_embeddings=32, type_vocab_size=2)
    return searched(build_search_space(teacher), run_dir)


def answered(run_dir: pathlib.Path, kind: str) -> tuple[list[dict], list[dict]]:
    """(answered budgets, infeasible entries) as the kind's generator wrote them."""
    if kind == "darts":
        report = json.loads((run_dir / "eng.json").read_text())
        return [a["budgets"] for a in report["answers"]], report["infeasible"]
    if kind == "tabular":
        entries = json.loads((run_dir / "generated.json").read_text())
    elif kind == "bert":
        report = json.loads((run_dir / "eng.json").read_text())
        entries = report.get("answers", [report])  # one budget: the answer itself
    else:
        entries = json.loads((run_dir / "generated" / "eng.json").read_text())["answers"]
    return [e["budgets"] for e in entries if not e.get("infeasible")], [e for e in entries if e.get("infeasible")]


# kind -> (run builder, extra flags, the alias this kind used to spell params_m with)
KINDS = {
    "darts": (darts, ["--no-draw"], "--params-m"),
    "mobilenet": (mobilenet, ["--points", "4"], "--params"),
    "macro-supernet": (macro_supernet, ["--points", "4"], "--params"),
    "tabular": (macro_tabular, [], "--params-m"),
    "bert": (bert, [], "--params-m"),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, pathlib.Path]:
    root = tmp_path_factory.mktemp("runs")
    return {kind: make(root / kind) for kind, (make, *_) in KINDS.items()}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_an_infeasible_budget_is_reported_and_the_others_answered(kind, runs, capsys):
    run_dir, flags = runs[kind], KINDS[kind][1]
    assert registry.main([str(run_dir), "--budget", "params_m=1e-6", "--budget", "params_m=1e6", *flags]) == 0
    out = capsys.readouterr().out
    met, unmet = answered(run_dir, kind)
    assert met == [{"params_m": 1e6}]
    assert [u["budgets"] for u in unmet] == [{"params_m": 1e-6}] and unmet[0]["smallest"]["params_m"] > 1e-6
    assert "infeasible" in out and "smallest achievable params_m" in out


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_call_where_no_budget_can_be_met_is_exit_2_with_error_lines(kind, runs, capsys):
    run_dir, flags = runs[kind], KINDS[kind][1]
    assert registry.main([str(run_dir), "--budget", "params_m=1e-6", "--budget", "params_m=2e-6", *flags]) == 2
    err = capsys.readouterr().err
    assert err.strip() and all(line.startswith("error: ") for line in err.strip().splitlines()), err
    assert "smallest achievable params_m" in err and "Traceback" not in err


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_old_spelling_gives_the_same_answers_and_one_deprecation_line(kind, runs, capsys):
    run_dir, flags, alias = runs[kind], KINDS[kind][1], KINDS[kind][2]
    assert registry.main([str(run_dir), "--budget", "params_m=1e6", *flags]) == 0
    new = answered(run_dir, kind)
    assert capsys.readouterr().err == ""
    for spelling in {alias, "--params-m", "--params"}:  # every tool accepts both old spellings of params_m
        assert registry.main([str(run_dir), spelling, "1e6", *flags]) == 0
        err = capsys.readouterr().err
        assert answered(run_dir, kind) == new
        assert err.count("\n") == 1 and err.startswith(f"deprecated: {spelling} is the old spelling of --budget "
                                                       "params_m=1e+06"), err


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_an_unknown_budget_key_is_one_line_naming_the_known_ones(kind, runs, capsys):
    run_dir, flags = runs[kind], KINDS[kind][1]
    with pytest.raises(SystemExit) as stop:
        registry.main([str(run_dir), "--budget", "params=3", *flags])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and "did you mean params_m?" in err, err
