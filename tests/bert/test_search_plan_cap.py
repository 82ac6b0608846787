"""Issue 18 item 6 for the BERT search: T x stages past ddp-core's cap on planned evaluations is one error line
naming the flags, exit 2, before the importance warm-up or any training, and nothing is written as a run."""

import time

from ddp_bert.search_cli import cli as search_cli


def test_a_huge_plan_is_one_error_before_training(tiny_bert_dir, glue_dir, tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = ["--task", "rte", "--model", tiny_bert_dir, "--data-dir", glue_dir, "--run-dir", str(run_dir), "--cpu",
            "--max-length", "16", "--batch-size", "8", "--report-to", "none", "--threads", "1",
            "--no-prune", "--stages", "10000", "--rounds-per-stage", "10000"]
    started = time.perf_counter()
    assert search_cli(args) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "--rounds-per-stage 10000 with --no-prune --stages 10000 plans" in lines[0], lines
    assert not (run_dir / "state.json").exists()
    assert time.perf_counter() - started < 120
