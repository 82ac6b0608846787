"""Offline or unreachable Hub: the BERT commands fail in a second with one line; model cards for hub teachers."""

import os
import subprocess
import sys
import time
from pathlib import Path

import huggingface_hub
import pytest
from huggingface_hub import ModelCard

from ddp_bert import hub_access
from ddp_bert.hub_access import SourceUnavailableError, check_hub_sources
from ddp_bert.model_card import ExportDescription, export_card, fine_tuned_card
from ddp_bert.search_cli import cli as search_cli

REPO = Path(__file__).resolve().parents[2]
# The requirement: the offline failure comes within 10 s. The work is a Python start-up plus huggingface_hub
# (about 0.4 s of CPU here), so 10 s leaves a wide margin on a busy machine; the subprocess timeout only keeps
# a regression (a minute of retries) from hanging the suite.
FAIL_FAST_S = 10.0
UNREACHABLE = {"HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0",
               "HF_ENDPOINT": "http://127.0.0.1:9"}  # the discard port: connection refused at once


def run_tool(script, args, tmp_path, extra_env):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(HF_HOME=str(tmp_path / "hf-home"), **extra_env)  # an empty cache: nothing can be read offline
    start = time.perf_counter()
    completed = subprocess.run([sys.executable, f"tools/{script}", *args], cwd=REPO, env=env, capture_output=True,
                               text=True, timeout=300, stdin=subprocess.DEVNULL)
    return completed, time.perf_counter() - start


@pytest.mark.parametrize("network", ["HF_HUB_OFFLINE=1", "unreachable"])
def test_search_with_the_default_hub_model_fails_fast_with_one_line(network, tmp_path):
    extra = {"HF_HUB_OFFLINE": "1"} if network == "HF_HUB_OFFLINE=1" else UNREACHABLE
    completed, seconds = run_tool("search_bert.py", ["--task", "rte"], tmp_path, extra)
    assert completed.returncode == 2, completed.stderr[-3000:]
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr[-3000:]
    assert lines[0].startswith("error: ") and "--model LOCAL_DIR" in lines[0] and "--data-dir" in lines[0]
    assert "bert-base-uncased" in lines[0]
    assert ("HF_HUB_OFFLINE=1" if network == "HF_HUB_OFFLINE=1" else "127.0.0.1:9 is unreachable") in lines[0]
    assert seconds < FAIL_FAST_S, f"took {seconds:.1f} s"


def test_debug_shows_the_traceback(tmp_path):
    completed, _ = run_tool("search_bert.py", ["--task", "rte", "--debug"], tmp_path, {"HF_HUB_OFFLINE": "1"})
    assert completed.returncode != 0
    assert "Traceback" in completed.stderr and "SourceUnavailableError" in completed.stderr


def test_finetune_with_a_hub_model_offline_fails_fast(tmp_path, glue_dir):
    completed, seconds = run_tool("finetune_bert.py", ["--model", "someone/bert-rte", "--task", "rte",
                                                       "--data-dir", glue_dir], tmp_path, {"HF_HUB_OFFLINE": "1"})
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and "--model LOCAL_DIR instead of 'someone/bert-rte'" in lines[0]
    assert "--data-dir DIR" not in lines[0]  # the data is local: only the model is named
    assert seconds < FAIL_FAST_S


def test_search_in_process_gives_the_same_one_line(tmp_path, monkeypatch, capsys, glue_dir):
    """`accelerate launch -m ddp_bert.search_cli` runs cli() directly: same check, same message."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    assert search_cli(["--task", "rte", "--model", "no-such-owner/no-such-bert", "--data-dir", glue_dir,
                       "--run-dir", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "--model LOCAL_DIR" in error
    assert not (tmp_path / "run").exists()


def test_cached_sources_switch_to_offline_mode_instead_of_failing(tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    snapshot = cache / "models--someone--bert" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (cache / "models--someone--bert" / "refs").mkdir()
    (cache / "models--someone--bert" / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hub_access, "hub_unreachable_reason", lambda: "the test says so")
    for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.setenv(variable, "0")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    import datasets.config

    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setattr(datasets.config, name, False)
    with pytest.raises(SourceUnavailableError, match="--data-dir DIR") as error:
        check_hub_sources("someone/bert", None, "rte")  # the model is cached, GLUE is not
    assert "--model" not in str(error.value)
    check_hub_sources("someone/bert", tmp_path, "rte")  # everything at hand: no error, offline from now on
    assert huggingface_hub.constants.HF_HUB_OFFLINE and os.environ["HF_HUB_OFFLINE"] == "1"
    assert datasets.config.HF_DATASETS_OFFLINE


def test_bad_local_paths_are_named(tmp_path):
    with pytest.raises(SourceUnavailableError, match="--model /no/such/dir: no such directory"):
        check_hub_sources("/no/such/dir", tmp_path, "rte")
    with pytest.raises(SourceUnavailableError, match="--data-dir .* is not a directory"):
        check_hub_sources(str(tmp_path), tmp_path / "missing", "rte")


def test_cards_name_a_hub_teacher_and_gain_dev_results(tmp_path):
    description = ExportDescription(
        teacher="google-bert/bert-base-uncased", task="mrpc", depth=2, layer_num_heads=[12, 4],
        layer_intermediate_sizes=[3072, 512], parameters=66_000_000, teacher_parameters=109_483_778,
        budgets={"params_m": 67.0}, costs={"params_m": 66.0}, predicted_score=0.8,
        search={"rounds_per_stage": 3}, search_metrics={"f1": 0.85, "accuracy": 0.8},
        search_metrics_when="after the search")
    card = export_card(description, repo_id="me/bert-mrpc-67m")
    data = card.data.to_dict()
    assert data["base_model"] == "google-bert/bert-base-uncased" and data["datasets"] == ["nyu-mll/glue"]
    assert data["ddpnas"]["teacher"] == "google-bert/bert-base-uncased"
    assert data["ddpnas"]["search_metrics"] == {"f1": 0.85, "accuracy": 0.8}
    assert "not the dev set" in data["ddpnas"]["search_metrics_split"]
    assert 'model="me/bert-mrpc-67m"' in card.text and "| 1 | 4 | 512 |" in card.text
    card.save(tmp_path / "README.md")
    tuned = fine_tuned_card(str(tmp_path), "mrpc", "validation", {"f1": 0.87, "accuracy": 0.83}, {"steps": 10})
    results = {(r.metric_type, r.metric_value, r.dataset_split) for r in tuned.data.eval_results}
    assert results == {("f1", 0.87, "validation"), ("accuracy", 0.83, "validation")}
    reloaded = ModelCard(str(tuned))  # the YAML round-trips
    assert reloaded.data.to_dict()["ddpnas"]["budget"] == {"params_m": 67.0}
    assert "## Dev-set results after fine-tuning" in reloaded.text


def test_finetune_push_is_checked_before_training(tmp_path, glue_dir, monkeypatch, capsys):
    from ddp_bert.finetune_cli import cli as finetune_cli
    from ddp_bert.finetune_cli import main as finetune_main

    args = ["--model", str(tmp_path), "--task", "rte", "--data-dir", glue_dir, "--push-to-hub", "me/m"]
    with pytest.raises(SystemExit) as exit_info:
        finetune_main(args)  # no --output-dir: nothing to upload
    assert exit_info.value.code == 2 and "--push-to-hub needs --output-dir" in capsys.readouterr().err
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    assert finetune_cli(args + ["--output-dir", str(tmp_path / "out")]) == 2  # the tool's entry point: one line
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "HF_HUB_OFFLINE=1" in error and "me/m" in error
    assert not (tmp_path / "out").exists()
