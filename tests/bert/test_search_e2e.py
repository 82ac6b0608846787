"""End to end: search (in process and under `accelerate launch --cpu`), resume, ENG, export, reload, fine-tune."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ddp_bert import evaluator as evaluator_module
from ddp_bert.finetune_cli import main as finetune_main
from ddp_bert.generate import cli as generate_cli
from ddp_bert.search_cli import main as search_main

REPO = Path(__file__).resolve().parents[2]
PYTHON_BIN = Path(sys.executable).parent


def tiny_search_args(model, data_dir, run_dir):
    return ["--task", "rte", "--model", model, "--data-dir", data_dir, "--run-dir", str(run_dir), "--cpu",
            "--max-length", "16", "--batch-size", "8", "--eval-batch-size", "16", "--steps-per-unit", "2",
            "--rounds-per-stage", "1", "--importance-batches", "1", "--warmup-steps", "2", "--lr", "1e-3",
            "--lr-warmup-steps", "0", "--distill-weight", "0.5"]


def read_state(run_dir):
    return json.loads((run_dir / "state.json").read_text())


def test_interrupted_search_resumes_exactly(tiny_bert_dir, glue_dir, tmp_path, monkeypatch):
    straight = tmp_path / "straight"
    assert search_main(tiny_search_args(tiny_bert_dir, glue_dir, straight)) == 0

    interrupted = tmp_path / "interrupted"
    original_score = evaluator_module.BertSupernetEvaluator.score
    calls = {"count": 0}

    def crashing_score(self, architecture):
        calls["count"] += 1
        if calls["count"] == 4:
            raise KeyboardInterrupt("simulated crash")
        return original_score(self, architecture)

    monkeypatch.setattr(evaluator_module.BertSupernetEvaluator, "score", crashing_score)
    with pytest.raises(KeyboardInterrupt):
        search_main(tiny_search_args(tiny_bert_dir, glue_dir, interrupted))
    monkeypatch.setattr(evaluator_module.BertSupernetEvaluator, "score", original_score)
    assert read_state(interrupted)["counters"]["steps"] == 3
    with pytest.raises(SystemExit, match="--resume"):
        search_main(tiny_search_args(tiny_bert_dir, glue_dir, interrupted))
    assert search_main(tiny_search_args(tiny_bert_dir, glue_dir, interrupted) + ["--resume", str(interrupted)]) == 0

    a, b = read_state(straight), read_state(interrupted)
    assert a["counters"]["finished"] and b["counters"]["finished"]
    assert a["record"] == b["record"]
    assert a["distribution"] == b["distribution"]
    weights_a = torch.load(straight / "checkpoints" / a["checkpoint"] / "bert_evaluator.pt", weights_only=True)
    weights_b = torch.load(interrupted / "checkpoints" / b["checkpoint"] / "bert_evaluator.pt", weights_only=True)
    # Same data order, dropout and Adam state; reloaded optimizer state can round 1 ulp differently.
    for name, tensor in weights_a["model"].items():
        assert torch.allclose(tensor, weights_b["model"][name], rtol=0, atol=1e-6), name
    assert weights_a["stream"] == weights_b["stream"]
    result = json.loads((straight / "search_result.json").read_text())
    assert result["params_m"] < result["teacher_params_m"] or result["shape"]["depth"] == 4


def run(command, extra_env=None, **kwargs):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PATH": f"{PYTHON_BIN}{os.pathsep}{os.environ.get('PATH', '')}", **(extra_env or {})}
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, **kwargs)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return completed


@pytest.fixture(scope="module")
def minilm_run(tmp_path_factory, minilm_path, glue_dir):
    """A MiniLM search launched with `accelerate launch --cpu`, then ENG and export through tools/generate.py."""
    run_dir = tmp_path_factory.mktemp("minilm_run")
    run([str(PYTHON_BIN / "accelerate"), "launch", "--cpu", "--num_processes", "1", "--num_machines", "1",
         "--mixed_precision", "no", "--dynamo_backend", "no", "tools/search_bert.py",
         "--task", "rte", "--model", minilm_path, "--data-dir", glue_dir, "--run-dir", str(run_dir),
         "--max-length", "24", "--batch-size", "8", "--steps-per-unit", "1", "--rounds-per-stage", "1",
         "--importance-batches", "1", "--max-score-examples", "8"])
    export_dir = run_dir / "export"
    # tools/generate.py dispatches to the generator named in space.json; call it in process to save a start-up.
    space = json.loads((run_dir / "space.json").read_text())
    assert space["metadata"]["generator"] == "ddp_bert.generate:cli"
    assert generate_cli(run_dir, ["--params-m", "15", "--export-dir", str(export_dir), "--pareto", "5"]) == 0
    return run_dir, export_dir


@pytest.mark.slow
def test_accelerate_search_generates_a_reloadable_model(minilm_run):
    run_dir, export_dir = minilm_run
    for name in ("space.json", "state.json", "summary.json", "log.jsonl", "theta_history.png",
                 "search_result.json", "eng.json", "pareto_params.png", "teacher/config.json"):
        assert (run_dir / name).exists(), name
    eng = json.loads((run_dir / "eng.json").read_text())
    assert eng["costs"]["params_m"] <= 15.0
    assert eng["export"]["reload_max_abs_diff"] == 0.0
    assert eng["export"]["supernet_max_abs_diff"] < 1e-4
    assert eng["export"]["parameters"] == pytest.approx(eng["costs"]["params_m"] * 1e6, abs=1)
    log_lines = (run_dir / "log.jsonl").read_text().splitlines()
    assert sum(json.loads(line)["kind"] == "sample" for line in log_lines) == read_state(run_dir)["counters"]["steps"]
    # A fresh interpreter: importing ddp_bert is all transformers needs to load the compressed model.
    check = run([sys.executable, "-c",
                 "import sys, ddp_bert, torch\n"
                 "from transformers import AutoModelForSequenceClassification, AutoTokenizer\n"
                 "m = AutoModelForSequenceClassification.from_pretrained(sys.argv[1]).eval()\n"
                 "t = AutoTokenizer.from_pretrained(sys.argv[1])\n"
                 "x = t(['a cat'], ['a dog'], return_tensors='pt')\n"
                 "print(type(m).__name__, tuple(m(**x).logits.shape), m.config.id2label[1])\n",
                 str(export_dir)])
    assert check.stdout.startswith("CompressedBertForSequenceClassification (1, 2) not_entailment")


@pytest.mark.slow
def test_finetune_reports_the_dev_metric(minilm_run, glue_dir, tmp_path):
    _, export_dir = minilm_run
    results_path = tmp_path / "results.json"
    assert finetune_main(["--model", str(export_dir), "--task", "rte", "--data-dir", glue_dir, "--max-steps", "3",
                          "--batch-size", "8", "--max-length", "24", "--cpu", "--results", str(results_path)]) == 0
    results = json.loads(results_path.read_text())
    assert results["dev_split"] == "validation" and results["dev_examples"] == 24
    assert 0.0 <= results["metrics"]["accuracy"] <= 1.0 and results["steps"] == 3


@pytest.mark.slow
def test_generate_latency_budget_and_infeasible_budgets(minilm_run, tmp_path):
    run_dir, _ = minilm_run
    table_path = tmp_path / "latency.json"
    output = tmp_path / "eng_latency.json"
    args = ["--params-m", "20", "--latency-table", str(table_path), "--latency-seq-len", "16", "--output", str(output)]
    assert generate_cli(run_dir, args + ["--latency-ms", "1000"]) == 0
    table = json.loads(table_path.read_text())
    assert table["name"] == "latency_ms" and table["measured_on"]["seq_len"] == 16
    heads = table["measured_on"]["attention_ms"]
    assert set(heads) == {"4", "8", "12"} and all(value > 0 for value in heads.values())
    loose = json.loads(output.read_text())
    assert loose["costs"]["latency_ms"] <= 1000 and loose["costs"]["params_m"] <= 20
    # The table now exists and is reused; a budget just above the cheapest one forces a smaller network.
    tight_budget = loose["costs"]["latency_ms"] * 0.8
    try:
        generate_cli(run_dir, args + ["--latency-ms", str(tight_budget)])
    except SystemExit as error:  # infeasible: the message names the smallest achievable latency
        assert "smallest achievable latency_ms" in str(error)
    else:
        assert json.loads(output.read_text())["costs"]["latency_ms"] <= tight_budget
    with pytest.raises(SystemExit, match="smallest achievable params_m"):
        generate_cli(run_dir, ["--params-m", "1", "--output", str(output)])


@pytest.mark.parametrize("task", ["stsb", "mnli"])
def test_tiny_search_on_regression_and_three_way_tasks(task, tiny_bert_dir, glue_dir, tmp_path):
    run_dir = tmp_path / task
    args = tiny_search_args(tiny_bert_dir, glue_dir, run_dir)
    args[args.index("rte")] = task
    teacher = []
    if task == "mnli":  # soft targets from a separate 3-way classifier
        from transformers import BertForSequenceClassification

        BertForSequenceClassification.from_pretrained(tiny_bert_dir, num_labels=3).save_pretrained(tmp_path / "t")
        teacher = ["--teacher-model", str(tmp_path / "t")]
        with pytest.raises(SystemExit, match="needs 3"):
            bad = tiny_search_args(tiny_bert_dir, glue_dir, tmp_path / "bad")
            bad[bad.index("rte")] = task
            search_main(bad + ["--teacher-model", tiny_bert_dir])  # a 2-way head for a 3-way task
    assert search_main(args + ["--depths", "2,4", "--ffn-widths", "16,64", "--heads", "2,4"] + teacher) == 0
    result = json.loads((run_dir / "search_result.json").read_text())
    expected = {"stsb": {"pearson", "spearmanr"}, "mnli": {"accuracy"}}[task]
    assert set(result["score_split_metrics"]) == expected
    assert result["search_metric"] in expected
    space = json.loads((run_dir / "space.json").read_text())
    assert space["metadata"]["num_labels"] == (1 if task == "stsb" else 3)


@pytest.mark.slow
def test_two_cpu_processes_search_together(tiny_bert_dir, glue_dir, tmp_path):
    """Distributed data parallel on gloo: both processes must sample the same sub-networks or DDP would fail."""
    run_dir = tmp_path / "two_processes"
    launch = [str(PYTHON_BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
              "--mixed_precision", "no", "--dynamo_backend", "no", "tools/search_bert.py"]
    args = tiny_search_args(tiny_bert_dir, glue_dir, run_dir) + ["--depths", "2,4", "--ffn-widths", "16,64",
                                                                "--heads", "2,4"]
    run(launch + args, extra_env={"ACCELERATE_USE_CPU": "true"})
    state = read_state(run_dir)
    assert state["counters"]["finished"]
    lines = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    # Only the main process logs: one line per trained sub-network, not one per process.
    assert sum(line["kind"] == "sample" for line in lines) == state["counters"]["steps"]
