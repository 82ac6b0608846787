"""The MiniLM search tool end to end under `accelerate launch --cpu`: progress bar, summary and TensorBoard logs,
kill -9 and --resume, ENG (budget lists, infeasible budgets, live-only vs full space, Pareto front), export,
reload and fine-tuning."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from ddp_bert.finetune_cli import main as finetune_main
from ddp_bert.generate import cli as generate_cli
from ddp_core import load_run

REPO = Path(__file__).resolve().parents[2]
PYTHON_BIN = Path(sys.executable).parent
LAUNCH = [str(PYTHON_BIN / "accelerate"), "launch", "--cpu", "--num_processes", "1", "--num_machines", "1",
          "--mixed_precision", "no", "--dynamo_backend", "no", "tools/search_bert.py"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
       "PATH": f"{PYTHON_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}

pytestmark = pytest.mark.slow


def minilm_args(model, data_dir, run_dir):
    return ["--task", "rte", "--model", model, "--data-dir", data_dir, "--run-dir", str(run_dir),
            "--max-length", "24", "--batch-size", "8", "--steps-per-unit", "1", "--rounds-per-stage", "1",
            "--importance-batches", "1", "--score-fraction", "0.25", "--max-score-examples", "16"]


def run(command, timeout):
    completed = subprocess.run(command, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return completed


def read_state(run_dir):
    return json.loads((run_dir / "state.json").read_text())


@dataclass
class MinilmRun:
    run_dir: Path
    export_dir: Path
    seconds: float  # wall time of the whole command: the unit the other timeouts scale with
    stdout: str
    stderr: str


@pytest.fixture(scope="module")
def minilm_run(tmp_path_factory, minilm_path, glue_dir, startup_seconds):
    """A MiniLM search (TensorBoard on, the default), then ENG, Pareto front and export in process."""
    run_dir = tmp_path_factory.mktemp("minilm_run")
    started = time.perf_counter()
    # here the run took 20-85 s (by load) and the import 6.4 s: 40x leaves room for a loaded machine
    completed = run(LAUNCH + minilm_args(minilm_path, glue_dir, run_dir), timeout=40 * startup_seconds)
    seconds = time.perf_counter() - started
    export_dir = run_dir / "export"
    space = json.loads((run_dir / "space.json").read_text())
    assert space["metadata"]["generator"] == "ddp_bert.generate:cli"
    assert generate_cli(run_dir, ["--params-m", "18", "--export-dir", str(export_dir), "--pareto", "5"]) == 0
    return MinilmRun(run_dir, export_dir, seconds, completed.stdout, completed.stderr)


def test_one_progress_bar_a_summary_and_tensorboard_scalars(minilm_run):
    run_dir = minilm_run.run_dir
    steps = read_state(run_dir)["counters"]["steps"]
    bars = [part for part in re.split(r"[\r\n]", minilm_run.stderr) if part.startswith("search:")]
    assert bars and "100%" in bars[-1] and f" {steps}/{steps} " in bars[-1], bars[-3:]
    assert not any(part.startswith(("Map", "Loading weights", "tokenizing")) for part in
                   re.split(r"[\r\n]", minilm_run.stderr))
    out = minilm_run.stdout
    assert f"search finished: {steps} evaluations" in out and f"run directory: {run_dir}" in out
    assert f"next: python tools/generate.py {run_dir} --budget params_m=" in out
    assert not any(line.startswith("{") for line in out.splitlines())  # no raw JSON line

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = sorted((run_dir / "logs" / "search").glob("events.out.tfevents.*"))
    assert events
    accumulator = EventAccumulator(str(events[0]))
    accumulator.Reload()
    scalars = accumulator.Tags()["scalars"]
    assert {"search/score", "search/loss", "search/accuracy", "search/pruned"} <= set(scalars)
    assert [event.step for event in accumulator.Scalars("search/score")] == list(range(1, steps + 1))


def test_kill_9_mid_search_then_resume_matches_the_uninterrupted_run(minilm_run, minilm_path, glue_dir, tmp_path):
    reference = minilm_run.run_dir
    total = read_state(reference)["counters"]["steps"]
    run_dir = tmp_path / "killed"
    command = LAUNCH + minilm_args(minilm_path, glue_dir, run_dir) + ["--report-to", "none"]
    with open(tmp_path / "killed.log", "w") as log:
        process = subprocess.Popen(command, cwd=REPO, env=ENV, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 5 * minilm_run.seconds
    samples = 0
    while process.poll() is None and time.monotonic() < deadline and samples < total // 2 + 1:
        time.sleep(0.1)
        log_file = run_dir / "log.jsonl"
        samples = log_file.read_text().count('"kind": "sample"') if log_file.exists() else 0
    os.killpg(process.pid, signal.SIGKILL)  # the launcher and the search it started
    process.wait()
    assert process.returncode == -signal.SIGKILL, (tmp_path / "killed.log").read_text()[-2000:]
    assert samples > total // 2, f"only {samples} of {total} evaluations in {5 * minilm_run.seconds:.0f} s"
    saved = read_state(run_dir)["counters"]["steps"]
    assert 0 < saved < total  # --checkpoint-every 4: the run restarts from its last checkpoint

    resumed = run(command + ["--resume", str(run_dir)], timeout=5 * minilm_run.seconds)
    assert f"search finished: {total} evaluations" in resumed.stdout
    assert not (run_dir / "logs").exists()  # --report-to none
    a, b = read_state(reference), read_state(run_dir)
    assert b["counters"]["finished"] and b["counters"]["steps"] == total
    assert (reference / "records.jsonl").read_text() == (run_dir / "records.jsonl").read_text()
    assert a["distribution"] == b["distribution"]
    weights_a = torch.load(reference / "checkpoints" / a["checkpoint"] / "bert_evaluator.pt", weights_only=True)
    weights_b = torch.load(run_dir / "checkpoints" / b["checkpoint"] / "bert_evaluator.pt", weights_only=True)
    for name, tensor in weights_a["model"].items():
        assert torch.allclose(tensor, weights_b["model"][name], rtol=0, atol=1e-6), name


def test_search_generates_a_reloadable_model_on_the_drawn_front(minilm_run):
    run_dir, export_dir = minilm_run.run_dir, minilm_run.export_dir
    for name in ("space.json", "state.json", "summary.json", "records.jsonl", "log.jsonl", "theta_history.png",
                 "search_result.json", "eng.json", "pareto_params.png", "teacher/config.json"):
        assert (run_dir / name).exists(), name
    eng = json.loads((run_dir / "eng.json").read_text())
    # the recommended network (the model's ENG) is chosen over the whole space, not only the live candidates
    assert eng["costs"]["params_m"] <= 18.0 and eng["eng"] == "model" and not eng["live_only"]
    assert load_run(run_dir).space.validate(eng["architecture"]) == tuple(eng["architecture"])
    assert eng["export"]["reload_max_abs_diff"] == 0.0
    assert eng["export"]["supernet_max_abs_diff"] < 1e-4
    assert eng["export"]["parameters"] == pytest.approx(eng["costs"]["params_m"] * 1e6, abs=1)
    # the answer is a point of the exact front that the PNG draws (a step function through the points)
    front = json.loads((run_dir / "pareto_params.json").read_text())
    below = [point["predicted_score"] for point in front if point["costs"]["params_m"] <= eng["costs"]["params_m"]]
    assert max(below) == pytest.approx(eng["predicted_score"], abs=1e-12)  # the model's front: predicted scores
    assert eng["architecture"] in [point["architecture"] for point in front]
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
                 str(export_dir)], timeout=minilm_run.seconds)
    assert check.stdout.startswith("CompressedBertForSequenceClassification (1, 2) not_entailment")


def test_finetune_reports_the_dev_metric(minilm_run, glue_dir, tmp_path):
    results_path = tmp_path / "results.json"
    assert finetune_main(["--model", str(minilm_run.export_dir), "--task", "rte", "--data-dir", glue_dir,
                          "--max-steps", "3", "--batch-size", "8", "--max-length", "24", "--cpu",
                          "--results", str(results_path)]) == 0
    results = json.loads(results_path.read_text())
    assert results["dev_split"] == "validation" and results["dev_examples"] == 24
    assert 0.0 <= results["metrics"]["accuracy"] <= 1.0 and results["steps"] == 3


def test_eng_budget_lists_report_infeasible_budgets_in_place(minilm_run, tmp_path, capsys):
    run_dir = minilm_run.run_dir
    output = tmp_path / "eng_list.json"
    assert generate_cli(run_dir, ["--params-m", "1,18,30", "--output", str(output)]) == 0
    answers = json.loads(output.read_text())["answers"]
    assert answers[0]["infeasible"] and answers[0]["smallest"]["params_m"] > 1
    assert "smallest achievable params_m" in answers[0]["message"]
    assert [a["costs"]["params_m"] <= b for a, b in zip(answers[1:], (18, 30), strict=True)] == [True, True]
    # the model's answers maximise its estimate: a looser budget never gets a lower one (θ's E[α] may drop)
    assert answers[1]["estimate"] <= answers[2]["estimate"] + 1e-12
    out = capsys.readouterr().out
    assert "ENG params_m <= 1: infeasible" in out and "ENG params_m <= 18: depth" in out
    # one infeasible budget alone: one error line naming the smallest achievable size; the model's ENG already
    # answers over the whole space, so only θ's live-only ENG suggests --full-space
    assert generate_cli(run_dir, ["--budget", "params_m=1", "--output", str(output)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "smallest achievable params_m" in error[0] and "--full-space" not in error[0]
    assert generate_cli(run_dir, ["--budget", "params_m=1", "--eng", "theta", "--output", str(output)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "smallest achievable params_m" in error[0] and "--full-space" in error[0]
    with pytest.raises(SystemExit) as exit_info:  # argparse: one model per export
        generate_cli(run_dir, ["--params-m", "1,18", "--export-dir", str(tmp_path / "x")])
    assert exit_info.value.code == 2 and "give one --budget" in capsys.readouterr().err


def test_generate_latency_budget_is_met_or_reported_infeasible(minilm_run, tmp_path, capsys):
    from ddp_bert.latency import load_latency_table
    from ddp_core import generate

    run_dir = minilm_run.run_dir
    table_path = tmp_path / "latency.json"
    output = tmp_path / "eng_latency.json"
    args = ["--params-m", "30", "--full-space", "--latency-table", str(table_path), "--latency-seq-len", "16",
            "--output", str(output)]
    assert generate_cli(run_dir, args + ["--latency-ms", "1000"]) == 0
    table = json.loads(table_path.read_text())
    assert table["name"] == "latency_ms" and table["measured_on"]["seq_len"] == 16
    heads = table["measured_on"]["attention_ms"]
    assert set(heads) == {"4", "8", "12"} and all(value > 0 for value in heads.values())
    loose = json.loads(output.read_text())
    assert loose["costs"]["latency_ms"] <= 1000 and not loose["live_only"]
    # the smallest latency any sub-network has, from the same (now saved and reused) table
    run = load_run(run_dir)
    costs = {"latency_ms": load_latency_table(table_path, run.space)}
    smallest = generate(run.space, run.distribution, costs, [{"latency_ms": 1e-9}], live_only=False,
                        on_infeasible="report")[0].smallest["latency_ms"]
    assert generate_cli(run_dir, args + ["--latency-ms", str(smallest * 1.0001)]) == 0
    assert json.loads(output.read_text())["costs"]["latency_ms"] <= smallest * 1.0001
    capsys.readouterr()
    assert generate_cli(run_dir, args + ["--latency-ms", str(smallest * 0.999)]) == 2
    assert "smallest achievable latency_ms" in capsys.readouterr().err


def test_the_search_knows_its_parameter_costs_and_takes_budgets_before_it_starts(minilm_run, minilm_path, glue_dir,
                                                                                  tmp_path):
    """The search is given the space's parameter cost table (it spreads part of its targets over the range, saved
    with the run); ``--budget params_m=`` is a budget known before the search, an infeasible one one line."""
    state = read_state(minilm_run.run_dir)
    assert set(state["budget_costs"]) == {"params_m"}
    assert json.loads((minilm_run.run_dir / "config.json").read_text()).get("budgets") is None
    command = [str(PYTHON_BIN / "python"), "tools/search_bert.py",
               *minilm_args(minilm_path, glue_dir, tmp_path / "told"), "--report-to", "none", "--budget", "params_m=1"]
    completed = subprocess.run(command, cwd=REPO, env=ENV, capture_output=True, text=True,
                               timeout=5 * minilm_run.seconds)
    errors = [line for line in completed.stderr.splitlines() if line.startswith("error:")]
    assert completed.returncode == 2, completed.stderr[-2000:]
    assert len(errors) == 1 and "budget known before the search" in errors[0] and \
        "smallest achievable params_m" in errors[0], completed.stderr[-2000:]
    bad = subprocess.run(command[:-1] + ["flops_m=3"], cwd=REPO, env=ENV, capture_output=True, text=True,
                         timeout=5 * minilm_run.seconds)
    assert bad.returncode == 2 and "flops_m" in bad.stderr and "params_m" in bad.stderr, bad.stderr[-2000:]
