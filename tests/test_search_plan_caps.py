"""Issue 18 item 6: each search flag has a cap, and so does their product. The evaluations a whole search plans
(T x the round sizes of every stage) past a million are one ``error:`` line naming the flags and the fix, exit 2,
before anything loads or is written; a legal plan far above the default's is one ``warning:`` line."""

import io
import sys
import time
from pathlib import Path

import pytest

from ddp_core import SearchConfig, run_cli
from ddp_core.cli import MAX_EVALUATIONS, check_planned_evaluations
from ddp_core.tabular import macro_space

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
HUGE_PLAN = ["--no-prune", "--stages", "10000", "--rounds-per-stage", "10000"]  # each flag legal, 3e8 in all


def error_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_the_plan_of_a_search_is_capped_and_a_huge_one_warned_about():
    space = macro_space()
    quiet = io.StringIO()
    assert check_planned_evaluations(space, SearchConfig(), quiet) == 15  # T=3 x (3 + 2) on NAS-Bench-Macro
    assert check_planned_evaluations(space, SearchConfig(rounds_per_stage=300), quiet) == 1500  # 100x: fine
    assert quiet.getvalue() == ""
    # --max-evaluations is an explicit budget: never warned about, whatever its size
    assert check_planned_evaluations(space, SearchConfig(max_evaluations=MAX_EVALUATIONS), quiet) <= MAX_EVALUATIONS
    assert quiet.getvalue() == ""
    warned = io.StringIO()
    assert check_planned_evaluations(space, SearchConfig(rounds_per_stage=10000), warned) == 50000
    lines = warned.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: --rounds-per-stage 10000 plans 50,000 evaluations")
    assert "3,333x the default's 15" in lines[0] and "--max-evaluations" in lines[0]
    with pytest.raises(ValueError, match=r"--rounds-per-stage 10000 with --no-prune --stages 10000 plans "
                                         r"300,000,000 evaluations .* lower --rounds-per-stage or --stages"):
        check_planned_evaluations(space, SearchConfig(prune=False, stages=10000, rounds_per_stage=10000))


def test_search_tabular_refuses_a_huge_plan_in_one_line(tmp_path, capsys):
    from search_tabular import main

    started = time.perf_counter()
    run_dir = tmp_path / "run"
    assert run_cli(main, [*HUGE_PLAN, "--run-dir", str(run_dir), "--quiet", "--report-to", "none"]) == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and lines[0].startswith("error: --rounds-per-stage 10000 with --no-prune --stages 10000 "
                                                   "plans 300,000,000 evaluations"), lines
    assert not (run_dir / "state.json").exists()
    assert time.perf_counter() - started < 30  # it used to run for days


def test_search_tabular_warns_about_a_legal_but_huge_plan(tmp_path, capsys, monkeypatch):
    """T=10000 (50,000 evaluations, ~25 min) is legal: the warning comes first, then the search runs as asked
    (stopped here at its first evaluation)."""
    import search_tabular

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):
        raise Stop

    monkeypatch.setattr(search_tabular, "NasBenchMacro", stop)
    with pytest.raises(Stop):
        search_tabular.main(["--rounds-per-stage", "10000", "--run-dir", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert err.startswith("warning: --rounds-per-stage 10000 plans 50,000 evaluations"), err


def test_supernet_search_refuses_a_huge_plan_before_training(tmp_path, capsys):
    """The vision tools check it where the cosine schedule's length is computed (total_units), before the
    supernet is built or trained."""
    from ddp_vision.mobilenet.search import main

    run_dir = tmp_path / "run"
    started = time.perf_counter()
    assert run_cli(main, ["--dataset", "synthetic", *HUGE_PLAN, "--run-dir", str(run_dir), "--quiet",
                          "--report-to", "none", "--cpu"]) == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and "--no-prune --stages 10000 plans" in lines[0] and "lower --rounds-per-stage" in lines[0]
    assert not (run_dir / "state.json").exists()
    assert time.perf_counter() - started < 60


def test_stage_depths_must_name_every_stage(capsys):
    """Seven depths for six stages used to end in "stage_widths, stage_depths and stage_strides must have the same
    length", naming no flag."""
    from ddp_vision.mobilenet.search import build_parser

    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["--stage-depths", "4,4,4,4,4,1,4"])
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 1
    assert err[0].startswith("error: --stage-depths takes one depth for each of the 6 stages"), err


HUGE = str(10**40)
# (parser factory, required arguments, flag, value, expected): values the parsers took before; each ran for
# minutes (--layers 100000 builds a 100000-cell supernet) or died in "Overflow when unpacking long long".
PARSER_CAPS = [
    ("ddp_vision.darts.search:build_parser", [], "--layers", "100000", "--layers must be >= 3 and <= 200"),
    ("ddp_vision.darts.search:build_parser", [], "--channels", HUGE, "--channels must be >= 2 and <= 4096"),
    ("ddp_vision.darts.search:build_parser", [], "--threads", HUGE, "--threads must be >= 1 and <= 4096"),
    ("ddp_vision.darts.search:build_parser", [], "--workers", HUGE, "--workers must be >= 0 and <= 256"),
    ("ddp_vision.darts.training:build_parser", [], "--seed", HUGE, "--seed must be >= 0 and <= 4.29497e+09"),
    ("ddp_vision.darts.training:build_parser", [], "--layers", "100000", "--layers must be >= 3 and <= 200"),
    ("ddp_vision.darts.training:build_parser", [], "--image-size", HUGE, "--image-size must be >= 1 and <= 4096"),
    ("ddp_vision.darts.training:build_parser", [], "--cutout", HUGE, "--cutout must be >= 0 and <= 4096"),
    ("ddp_vision.darts.training:build_parser", [], "--threads", HUGE, "--threads must be >= 1 and <= 4096"),
    ("train_mobilenet:build_parser", ["--config", "n.json", "--output-dir", "o"], "--seed", HUGE, "--seed must be"),
    ("train_mobilenet:build_parser", ["--config", "n.json", "--output-dir", "o"], "--workers", HUGE,
     "--workers must be >= 0 and <= 256"),
    ("measure_latency:build_parser", [], "--threads", HUGE, "--threads must be >= 1 and <= 4096"),
    # these three ended in a C++ traceback (exit 1) building or timing the network
    ("measure_latency:build_parser", [], "--num-classes", HUGE, "--num-classes must be >= 1 and <= 100000"),
    ("measure_latency:build_parser", [], "--batch", HUGE, "--batch must be >= 1 and <= 4096"),
    ("measure_latency:build_parser", [], "--width-multiplier", "1e30", "--width-multiplier must be > 0 and <= 8"),
    ("measure_latency:build_parser", [], "--repeats", HUGE, "--repeats must be >= 1 and <= 100000"),
    ("ddp_vision.export_cli:build_parser", ["--config", "n.json"], "--image-size", HUGE, "--image-size must be"),
    ("ddp_vision.mobilenet.search:build_parser", [], "--threads", HUGE, "--threads must be >= 1 and <= 4096"),
    ("ddp_vision.darts.search:build_parser", [], "--steps-per-unit", HUGE, "--steps-per-unit must be >= 1 and <= 1e+06"),
    ("ddp_vision.darts.training:build_parser", [], "--epochs", HUGE, "--epochs must be >= 1 and <= 100000"),
    ("train_mobilenet:build_parser", ["--config", "n.json", "--output-dir", "o"], "--steps-per-epoch", HUGE,
     "--steps-per-epoch must be >= 1 and <= 1e+06"),
]


@pytest.mark.parametrize(("factory", "required", "flag", "value", "expected"), PARSER_CAPS,
                         ids=[f"{c[0].split(':')[0].split('.')[-1]} {c[2]}" for c in PARSER_CAPS])
def test_huge_sizes_seeds_and_threads_are_one_error_line(factory, required, flag, value, expected, capsys):
    import importlib

    module_name, function = factory.split(":")
    parser = getattr(importlib.import_module(module_name), function)()
    with pytest.raises(SystemExit) as stop:
        parser.parse_args([*required, flag, value])
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 1 and err[0].startswith("error: ") and expected in err[0], err
