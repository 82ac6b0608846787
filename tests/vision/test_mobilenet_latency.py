"""Latency lookup tables: measurement, the JSON format, and refusal of a table measured for another space."""

from __future__ import annotations

import importlib.util
import json
import pathlib

import pytest
import torch

from ddp_vision.mobilenet.latency import (
    load_latency_table,
    measure_latency_table,
    save_latency_table,
    time_module_ms,
)
from ddp_vision.mobilenet.space import MobileNetSpaceConfig, mobilenet_space

REPO = pathlib.Path(__file__).resolve().parents[2]
TINY = MobileNetSpaceConfig(num_classes=10, resolution=16, width_multiplier=0.25, stage_depths=(1, 1, 1, 1, 2, 1))


def test_table_shape_and_zero_blocks_cost_nothing():
    space = mobilenet_space(TINY)
    table = measure_latency_table(space, "cpu", batch_size=2, repeats=2, warmup=1, progress=False)
    assert [len(r) for r in table["per_candidate_ms"]] == [len(r) for r in space.choices]
    for row, choices in zip(table["per_candidate_ms"], space.choices, strict=True):
        for ms, (name, _) in zip(row, choices, strict=True):
            assert (ms == 0.0) == (name == "zero") and ms >= 0.0
    assert table["fixed_ms"] == pytest.approx(sum(table["parts_ms"].values()))
    assert table["batch_size"] == 2 and table["statistic"] == "mean"
    # what a reader needs to reuse the table: device, threads and batch it was measured with
    assert table["device"] == "cpu" and table["threads"] == torch.get_num_threads() >= 1
    assert table["method"].startswith("in context")


def test_a_table_for_another_space_is_refused(tmp_path):
    space = mobilenet_space(TINY)
    table = measure_latency_table(space, "cpu", repeats=1, warmup=0, progress=False)
    save_latency_table(tmp_path / "t.json", table)
    other = mobilenet_space(MobileNetSpaceConfig(**{**TINY.to_dict(), "resolution": 32}))
    with pytest.raises(ValueError, match="different space"):
        load_latency_table(tmp_path / "t.json", other)
    (tmp_path / "bad.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="not a latency table"):
        load_latency_table(tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError, match="measure_latency"):
        load_latency_table(tmp_path / "missing.json")


def test_timing_rejects_bad_repeats():
    with pytest.raises(ValueError, match="repeats"):
        time_module_ms(torch.nn.Identity(), torch.zeros(1), repeats=0)


def test_measure_latency_command_line(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("measure_latency", REPO / "tools/measure_latency.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    output = tmp_path / "lut.json"
    status = tool.main(["--resolution", "16", "--width-multiplier", "0.25", "--num-classes", "10", "--repeats", "1",
                        "--warmup", "0", "--check", "1", "--output", str(output),
                        "--tolerance", "1000"])  # one untimed-warm-up-free pass: shape only, accuracy is tested below
    assert status == 0
    table = json.loads(output.read_text())
    assert len(table["per_candidate_ms"]) == 21 and len(table["check"]) == 1
    assert "table predicts" in capsys.readouterr().out


def _tool():
    spec = importlib.util.spec_from_file_location("measure_latency", REPO / "tools/measure_latency.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_check_fails_loudly_past_the_tolerance_on_a_doctored_table(tmp_path, capsys):
    """A table whose numbers are 10x too large (as a block-by-block table on a busy machine was) is an error
    line, exit status 2, naming the table and the size of the miss; an honest one on the same space passes."""
    from ddp_core import run_cli

    tool = _tool()
    output = tmp_path / "lut.json"
    flags = ["--resolution", "16", "--width-multiplier", "0.25", "--num-classes", "10", "--repeats", "3",
             "--warmup", "1", "--check", "1"]
    assert tool.main([*flags, "--output", str(output), "--tolerance", "10"]) == 0
    table = json.loads(output.read_text())
    assert table["threads"] == 1 and table["batch_size"] == 1 and table["check_tolerance"] == 10
    doctored = dict(table, fixed_ms=table["fixed_ms"] * 10,
                    per_candidate_ms=[[ms * 10 for ms in row] for row in table["per_candidate_ms"]])
    (tmp_path / "doctored.json").write_text(json.dumps(doctored))
    capsys.readouterr()
    assert run_cli(tool.main, ["--table", str(tmp_path / "doctored.json"), "--check", "1", "--repeats", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {tmp_path / 'doctored.json'}: the table predicts ")
    assert "off, tolerance 25%" in err[0]
    # a new table past its tolerance is not written where ENG would pick it up
    assert run_cli(tool.main, [*flags, "--output", str(tmp_path / "strict.json"), "--tolerance", "1e-9"]) == 2
    assert not (tmp_path / "strict.json").exists() and (tmp_path / "strict.rejected.json").exists()
