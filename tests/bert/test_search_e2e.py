"""The search command in process on a tiny random BERT: exact resume, settings that must match on resume, one-line
errors for bad run directories and data, regression and three-way tasks."""

import json
import shutil

import pytest
import torch

from ddp_bert import evaluator as evaluator_module
from ddp_bert.search_cli import cli as search_cli
from ddp_bert.search_cli import main as search_main


def tiny_search_args(model, data_dir, run_dir):
    return ["--task", "rte", "--model", model, "--data-dir", data_dir, "--run-dir", str(run_dir), "--cpu",
            "--max-length", "16", "--batch-size", "8", "--eval-batch-size", "16", "--steps-per-unit", "2",
            "--rounds-per-stage", "1", "--importance-batches", "1", "--warmup-steps", "2", "--lr", "1e-3",
            "--lr-warmup-steps", "0", "--distill-weight", "0.5", "--report-to", "none", "--threads", "1"]


def read_state(run_dir):
    return json.loads((run_dir / "state.json").read_text())


def one_error_line(capsys) -> str:
    """The one ``error: ...`` line (a progress bar left open by a simulated crash may precede it on its line)."""
    err = capsys.readouterr().err
    lines = [line[line.index("error: "):] for line in err.splitlines() if "error: " in line]
    assert len(lines) == 1, err[-2000:]
    return lines[0]


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory, tiny_bert_dir, glue_dir):
    run_dir = tmp_path_factory.mktemp("straight")
    assert search_main(tiny_search_args(tiny_bert_dir, glue_dir, run_dir) + ["--checkpoint-every", "2"]) == 0
    return run_dir


def test_interrupted_search_resumes_exactly(straight_run, tiny_bert_dir, glue_dir, tmp_path, monkeypatch, capsys):
    interrupted = tmp_path / "interrupted"
    args = tiny_search_args(tiny_bert_dir, glue_dir, interrupted) + ["--checkpoint-every", "2"]
    original_score = evaluator_module.BertSupernetEvaluator.score
    calls = {"count": 0}

    def crashing_score(self, architecture):
        calls["count"] += 1
        if calls["count"] == 4:
            raise KeyboardInterrupt("simulated crash")
        return original_score(self, architecture)

    monkeypatch.setattr(evaluator_module.BertSupernetEvaluator, "score", crashing_score)
    with pytest.raises(KeyboardInterrupt):
        search_main(args)
    monkeypatch.setattr(evaluator_module.BertSupernetEvaluator, "score", original_score)
    # --checkpoint-every 2: the third score was not saved, the second was
    assert read_state(interrupted)["counters"]["steps"] == 2
    assert search_cli(args) == 2
    assert "already holds a search: pass --resume" in one_error_line(capsys)
    assert search_main(args + ["--resume", str(interrupted)]) == 0

    a, b = read_state(straight_run), read_state(interrupted)
    assert a["counters"]["finished"] and b["counters"]["finished"]
    assert (straight_run / "records.jsonl").read_text() == (interrupted / "records.jsonl").read_text()
    assert a["distribution"] == b["distribution"]
    assert a["description"] == b["description"] and b["description"]["--lr"] == 1e-3
    weights_a = torch.load(straight_run / "checkpoints" / a["checkpoint"] / "bert_evaluator.pt", weights_only=True)
    weights_b = torch.load(interrupted / "checkpoints" / b["checkpoint"] / "bert_evaluator.pt", weights_only=True)
    # Same data order, dropout and Adam state; reloaded optimizer state can round 1 ulp differently.
    for name, tensor in weights_a["model"].items():
        assert torch.allclose(tensor, weights_b["model"][name], rtol=0, atol=1e-6), name
    assert weights_a["stream"] == weights_b["stream"]
    # the log holds one line per recorded evaluation (the ones after the last checkpoint were dropped)
    log = [json.loads(line) for line in (interrupted / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log if e["kind"] == "sample"] == list(range(1, b["counters"]["steps"] + 1))
    result = json.loads((straight_run / "search_result.json").read_text())
    summary = json.loads((straight_run / "summary.json").read_text())
    assert result["architecture"] == summary["architecture"]  # the answer (joint: best evaluated)
    assert result["shape"]["depth"] in (2, 3, 4) and result["params_m"] <= result["teacher_params_m"]
    space = json.loads((straight_run / "space.json").read_text())
    assert space["min_live"] == 2  # the default: two live candidates per decision are left for ENG
    assert set(summary["live_counts"].values()) == {2}


def test_resume_with_other_training_settings_is_one_error(straight_run, tiny_bert_dir, glue_dir, capsys):
    before = {name: (straight_run / name).read_bytes() for name in ("state.json", "summary.json", "space.json")}
    args = tiny_search_args(tiny_bert_dir, glue_dir, straight_run)
    changed = list(args)
    changed[changed.index("--lr") + 1] = "5e-3"
    changed[changed.index("--max-length") + 1] = "20"
    assert search_cli(changed + ["--resume", str(straight_run)]) == 2
    line = one_error_line(capsys)
    assert "--lr: saved 0.001, now 0.005" in line and "--max-length: saved 16, now 20" in line
    assert search_cli(args + ["--resume", str(straight_run), "--theta-momentum", "0.5"]) == 2
    assert "--theta-momentum" in one_error_line(capsys)
    assert {name: (straight_run / name).read_bytes() for name in before} == before
    # what may differ: threads, trackers, checkpoint frequency (resuming a finished run only reports it)
    same = args + ["--resume", str(straight_run), "--threads", "2", "--checkpoint-every", "3"]
    assert search_cli(same) == 0
    assert "search finished" in capsys.readouterr().out


def test_broken_run_directories_and_data_are_one_line(straight_run, tiny_bert_dir, glue_dir, tmp_path, capsys):
    args = tiny_search_args(tiny_bert_dir, glue_dir, tmp_path / "unused")
    broken = tmp_path / "broken"
    shutil.copytree(straight_run, broken)
    checkpoint = broken / "checkpoints" / read_state(broken)["checkpoint"]
    resume = args + ["--resume", str(broken)]

    (checkpoint / "rng-rank0.pt").unlink()
    assert search_cli(resume) == 2
    assert "rng-rank0.pt is missing" in one_error_line(capsys)
    weights = checkpoint / "bert_evaluator.pt"
    weights.write_bytes(weights.read_bytes()[:1000])
    assert search_cli(resume) == 2
    assert "bert_evaluator.pt does not match the sha256" in one_error_line(capsys)  # checked before it is read
    with pytest.raises(Exception, match="does not match the sha256"):  # --debug: the traceback instead
        search_cli(resume + ["--debug"])
    capsys.readouterr()
    shutil.rmtree(checkpoint)
    assert search_cli(resume) == 2
    assert "is missing but state.json names it" in one_error_line(capsys)
    (broken / "state.json").write_text("{not json")
    assert search_cli(resume) == 2
    assert "state.json is not valid JSON" in one_error_line(capsys)

    assert search_cli(args[:-2] + ["--data-dir", str(tmp_path / "no_glue"), "--run-dir", str(tmp_path / "r")]) == 2
    line = one_error_line(capsys)
    assert "--data-dir" in line and "is not a directory" in line
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    bad_dir = args + ["--run-dir", str(blocker / "run")]
    assert search_cli(bad_dir) == 2
    assert "Not a directory" in one_error_line(capsys)
    with pytest.raises(SystemExit) as exit_info:  # argparse: its usage and one error line, exit 2
        search_cli(args + ["--lr", "nan"])
    assert exit_info.value.code == 2 and "--lr must be a finite number" in capsys.readouterr().err


@pytest.mark.parametrize("task", ["stsb", "mnli"])
def test_tiny_search_on_regression_and_three_way_tasks(task, tiny_bert_dir, glue_dir, tmp_path, capsys):
    run_dir = tmp_path / task
    args = tiny_search_args(tiny_bert_dir, glue_dir, run_dir)
    args[args.index("rte")] = task
    teacher = []
    if task == "mnli":  # soft targets from a separate 3-way classifier
        from transformers import BertForSequenceClassification

        BertForSequenceClassification.from_pretrained(tiny_bert_dir, num_labels=3).save_pretrained(tmp_path / "t")
        teacher = ["--teacher-model", str(tmp_path / "t")]
        bad = tiny_search_args(tiny_bert_dir, glue_dir, tmp_path / "bad")
        bad[bad.index("rte")] = task
        assert search_cli(bad + ["--teacher-model", tiny_bert_dir]) == 2  # a 2-way head for a 3-way task
        assert "needs 3" in one_error_line(capsys)
    space_flags = ["--depths", "2,4", "--ffn-widths", "16,64", "--heads", "2,4", "--min-live", "1"]
    assert search_main(args + space_flags + teacher) == 0
    result = json.loads((run_dir / "search_result.json").read_text())
    expected = {"stsb": {"pearson", "spearmanr"}, "mnli": {"accuracy"}}[task]
    assert set(result["score_split_metrics"]) == expected
    assert result["search_metric"] in expected
    space = json.loads((run_dir / "space.json").read_text())
    assert space["metadata"]["num_labels"] == (1 if task == "stsb" else 3)
    assert space["min_live"] == 1
    assert not (run_dir / "logs").exists()  # --report-to none


def test_a_diverging_search_stops_with_one_clear_line(tiny_bert_dir, glue_dir, tmp_path, monkeypatch, capsys):
    def nan_loss(logits, labels):
        return logits.sum() * float("nan")

    monkeypatch.setattr(evaluator_module, "task_loss", nan_loss)
    assert search_cli(tiny_search_args(tiny_bert_dir, glue_dir, tmp_path / "run")) == 2
    line = one_error_line(capsys)
    assert "training diverged: the loss is nan" in line and "lower --lr" in line
