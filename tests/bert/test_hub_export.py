"""Exports are ordinary Hub models: remote code + auto_map, a consistent config, a model card, --push-to-hub.

The done-when check runs a fresh interpreter that can import torch and transformers but no ddp package and
loads a MiniLM-based export with ``trust_remote_code=True``, through the Auto classes and ``pipeline``.
"""

import inspect
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import huggingface_hub
import pytest
import torch
from huggingface_hub import HfApi, ModelCard
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import ddp_bert.hub_access
import ddp_bert.hub_code
from ddp_bert.compressed import CompressedBertForSequenceClassification
from ddp_bert.finetune_cli import main as finetune_main
from ddp_bert.generate import cli as generate_cli
from ddp_bert.search_cli import main as search_main

HUB_CODE_FILES = ("configuration_ddp_compressed_bert.py", "modeling_ddp_compressed_bert.py")
PAIRS = (["A man is playing a guitar.", "The cat sleeps on the mat."],
         ["A person plays an instrument.", "A dog is barking loudly."])

# Runs with `python -I -S`: no site processing (no .pth files, so no editable ddp installs), the main venv's
# site-packages appended by hand, and a meta-path finder refusing every ddp_* module in case one is installed
# there as a plain package. If the export needed ddp_bert, loading it here would fail.
WITHOUT_DDP = r'''
import importlib.abc, json, sys
site_packages, export_dir, tampered_dir = sys.argv[1:4]
sys.path.append(site_packages)

class RefuseDdpPackages(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0].startswith("ddp_"):
            raise ModuleNotFoundError(f"No module named {name!r} (refused: exports must not need it)", name=name)
        return None

sys.meta_path.insert(0, RefuseDdpPackages())
try:
    import ddp_bert  # noqa: F401
    raise SystemExit("ddp_bert is importable: the check would prove nothing")
except ModuleNotFoundError:
    pass
import torch
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer, pipeline

model = AutoModelForSequenceClassification.from_pretrained(export_dir, trust_remote_code=True).eval()
tokenizer = AutoTokenizer.from_pretrained(export_dir, trust_remote_code=True)  # it reads config.json too
first, second = json.loads(sys.argv[4])
batch = tokenizer(first, second, padding=True, return_tensors="pt")
with torch.no_grad():
    logits = model(**batch).logits.tolist()
classifier = pipeline("text-classification", model=export_dir, trust_remote_code=True)
predictions = classifier([{"text": a, "text_pair": b} for a, b in zip(first, second)])
encoder = AutoModel.from_pretrained(export_dir, trust_remote_code=True)
try:
    AutoModelForSequenceClassification.from_pretrained(tampered_dir, trust_remote_code=True)
    tampered = "loaded"
except ImportError as error:
    tampered = str(error)
print(json.dumps({
    "class": type(model).__name__, "module": type(model).__module__, "logits": logits,
    "parameters": sum(p.numel() for p in model.parameters()), "predictions": predictions,
    "labels": model.config.id2label, "encoder": type(encoder).__name__, "tampered": tampered,
    "ddp_modules": sorted(name for name in sys.modules if name.startswith("ddp_")),
}))
'''


@pytest.fixture(scope="module")
def minilm_export(tmp_path_factory, minilm_path, glue_dir):
    """A short MiniLM search (in process), then ENG under 15M parameters exported with tools/generate.py's cli."""
    run_dir = tmp_path_factory.mktemp("hub_run")
    assert search_main(["--task", "rte", "--model", minilm_path, "--data-dir", glue_dir, "--run-dir", str(run_dir),
                        "--cpu", "--max-length", "16", "--batch-size", "8", "--eval-batch-size", "16",
                        "--steps-per-unit", "1", "--rounds-per-stage", "1", "--importance-batches", "1",
                        "--max-score-examples", "8", "--lr-warmup-steps", "0"]) == 0
    export_dir = run_dir / "minilm-rte-15m"
    # --full-space: 15M is below every live sub-network when the search keeps two large candidates per layer
    assert generate_cli(run_dir, ["--params-m", "15", "--full-space", "--export-dir", str(export_dir)]) == 0
    return run_dir, export_dir, json.loads((run_dir / "eng.json").read_text())


def test_export_loads_and_classifies_without_ddp_packages(minilm_export, tmp_path):
    run_dir, export_dir, eng = minilm_export
    tampered = tmp_path / "tampered-export"  # the same export whose code imports ddp_bert: must not load
    shutil.copytree(export_dir, tampered)
    modeling = tampered / "modeling_ddp_compressed_bert.py"
    modeling.write_text("import ddp_bert  # noqa: F401\n" + modeling.read_text())
    site_packages = sysconfig.get_paths()["purelib"]
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(HF_MODULES_CACHE=str(tmp_path / "modules"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-c", WITHOUT_DDP, site_packages, str(export_dir), str(tampered),
         json.dumps(PAIRS)],
        env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert completed.returncode == 0, completed.stderr[-4000:]
    seen = json.loads(completed.stdout.strip().splitlines()[-1])
    assert seen["ddp_modules"] == []
    assert seen["class"] == "CompressedBertForSequenceClassification"
    assert seen["module"].startswith("transformers_modules"), seen["module"]  # the copied file, not ddp_bert
    assert seen["encoder"] == "CompressedBertModel"
    # ENG's prediction (exact cost tables) equals the parameters of the model loaded from remote code.
    assert seen["parameters"] == round(eng["costs"]["params_m"] * 1e6) == eng["export"]["parameters"]
    assert {p["label"] for p in seen["predictions"]} <= {"entailment", "not_entailment"}
    assert all(0.0 <= p["score"] <= 1.0 for p in seen["predictions"])
    assert "ddp_bert" in seen["tampered"] and "not found" in seen["tampered"]
    # The remote code computes what ddp_bert's native classes compute.
    native = AutoModelForSequenceClassification.from_pretrained(export_dir).eval()
    assert isinstance(native, CompressedBertForSequenceClassification)
    tokenizer = AutoTokenizer.from_pretrained(export_dir)
    with torch.no_grad():
        expected = native(**tokenizer(*PAIRS, padding=True, return_tensors="pt")).logits
    assert torch.allclose(torch.tensor(seen["logits"]), expected, atol=1e-6)


def test_export_directory_is_a_consistent_hub_model(minilm_export):
    _, export_dir, eng = minilm_export
    config = json.loads((export_dir / "config.json").read_text())
    shape = eng["shape"]
    assert config["model_type"] == "ddp_compressed_bert"
    assert "num_attention_heads" not in config and "intermediate_size" not in config  # no uniform teacher sizes
    assert config["num_hidden_layers"] == shape["depth"] == len(config["layer_num_heads"])
    assert config["layer_num_heads"] == shape["num_heads"]
    assert config["layer_intermediate_sizes"] == shape["intermediate_sizes"]
    assert config["attention_head_size"] == 384 // 12  # MiniLM's head width
    assert config["auto_map"] == {
        "AutoConfig": "configuration_ddp_compressed_bert.CompressedBertConfig",
        "AutoModel": "modeling_ddp_compressed_bert.CompressedBertModel",
        "AutoModelForSequenceClassification": "modeling_ddp_compressed_bert.CompressedBertForSequenceClassification",
    }
    # One source of truth: the shipped files are ddp_bert's own modeling code, byte for byte.
    package_dir = Path(ddp_bert.hub_code.__file__).parent
    for name in HUB_CODE_FILES:
        assert (export_dir / name).read_bytes() == (package_dir / name).read_bytes(), name
    assert CompressedBertForSequenceClassification.__module__ == "ddp_bert.hub_code.modeling_ddp_compressed_bert"
    for name in ("model.safetensors", "tokenizer.json", "README.md"):
        assert (export_dir / name).exists(), name


def test_model_card_front_matter_describes_the_export(minilm_export):
    run_dir, export_dir, eng = minilm_export
    card = ModelCard.load(export_dir / "README.md")
    data = card.data.to_dict()
    assert data["library_name"] == "transformers" and data["pipeline_tag"] == "text-classification"
    assert "ddpnas" in data["tags"] and "custom_code" in data["tags"]
    assert "base_model" not in data  # the teacher was a local directory, not a hub name
    block = data["ddpnas"]
    assert block["teacher"] == "model (local directory)" and block["task"] == "rte"  # the wheel's model/ folder
    assert block["glue"] == "local copy (--data-dir)" and "data_dir" not in block["search"]
    assert block["budget"] == {"params_m": 15.0}
    assert block["params"] == eng["export"]["parameters"] and block["costs"]["params_m"] <= 15.0
    assert block["architecture"]["layer_num_heads"] == eng["shape"]["num_heads"]
    # the score the search's model predicts for the export (model ENG), apart from θ's E[α], which is no score
    assert block["predicted_score"] == pytest.approx(eng["predicted_score"], abs=1e-6)
    assert block["theta_expectation"] == pytest.approx(eng["expectation"], abs=1e-6)
    search = block["search"]
    assert search["rounds_per_stage"] == 1 and search["steps_per_unit"] == 1 and search["max_length"] == 16
    assert search["heads_choices"] == [4, 8, 12] and search["depth_choices"] == [3, 4, 5, 6]
    assert "trust_remote_code=True" in card.text and "| layer | heads | FFN width |" in card.text


def _checked_against(method):
    """A stand-in for an HfApi method that records its call and fails on arguments the real one lacks."""
    calls = []
    signature = inspect.signature(method)

    def fake(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        calls.append({**bound.arguments, "token_of_api": self.token})
        if method.__name__ == "create_repo":
            return huggingface_hub.RepoUrl(f"https://huggingface.co/{bound.arguments['repo_id']}")
        files = sorted(os.listdir(bound.arguments["folder_path"]))
        calls[-1]["files"] = files
        return huggingface_hub.CommitInfo(commit_url="https://huggingface.co/me/m/commit/abc", commit_message="m",
                                          commit_description="", oid="abc")

    return fake, calls


def test_push_to_hub_creates_the_repository_and_uploads_the_export(minilm_export, tmp_path, monkeypatch, capsys):
    run_dir, _, _ = minilm_export
    create_repo, created = _checked_against(HfApi.create_repo)
    upload_folder, uploaded = _checked_against(HfApi.upload_folder)
    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    # this machine cannot reach the Hub: let the reachability check pass (the stand-ins above answer instead)
    monkeypatch.setattr(ddp_bert.hub_access, "hub_unreachable_reason", lambda timeout_s=3.0: None)
    export_dir = tmp_path / "pushed"
    assert generate_cli(run_dir, ["--params-m", "15", "--full-space", "--export-dir", str(export_dir),
                                  "--push-to-hub", "me/minilm-rte",
                                  "--hub-token", "hf_test", "--private", "--output", str(tmp_path / "eng.json")]) == 0
    assert len(created) == 1 and len(uploaded) == 1
    assert created[0]["repo_id"] == "me/minilm-rte" and created[0]["private"] is True
    assert created[0]["exist_ok"] is True and created[0]["token_of_api"] == "hf_test"
    assert uploaded[0]["repo_id"] == "me/minilm-rte" and uploaded[0]["folder_path"] == str(export_dir)
    assert {"config.json", "model.safetensors", "README.md", *HUB_CODE_FILES} <= set(uploaded[0]["files"])
    assert 'model="me/minilm-rte"' in (export_dir / "README.md").read_text()
    assert json.loads((tmp_path / "eng.json").read_text())["export"]["pushed_to"].endswith("/commit/abc")
    assert "uploaded" in capsys.readouterr().out


def test_push_to_hub_offline_fails_before_exporting(minilm_export, tmp_path, monkeypatch, capsys):
    run_dir, _, _ = minilm_export
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    assert generate_cli(run_dir, ["--export-dir", str(tmp_path / "never"), "--push-to-hub", "me/m"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "HF_HUB_OFFLINE" in error and "--push-to-hub" in error
    assert not (tmp_path / "never").exists()


def test_trainer_fine_tunes_the_export_and_records_dev_results(minilm_export, glue_dir, tmp_path):
    _, export_dir, eng = minilm_export
    output_dir = tmp_path / "fine-tuned"
    assert finetune_main(["--model", str(export_dir), "--task", "rte", "--data-dir", glue_dir, "--max-steps", "2",
                          "--batch-size", "8", "--max-length", "16", "--cpu", "--logging-steps", "1",
                          "--output-dir", str(output_dir)]) == 0
    results = json.loads((output_dir / "results.json").read_text())
    assert results["steps"] == 2 and results["dev_examples"] == 24 and results["dev_split"] == "validation"
    assert set(results["metrics"]) == {"accuracy"} and 0.0 <= results["metrics"]["accuracy"] <= 1.0
    assert results["final_train_loss"] is not None and results["params_m"] == pytest.approx(eng["costs"]["params_m"])
    # save_pretrained of the fine-tuned model carries the remote code and auto_map along.
    for name in HUB_CODE_FILES:
        assert (output_dir / name).read_bytes() == (export_dir / name).read_bytes()
    assert not (output_dir / "training_args.bin").exists()
    config = json.loads((output_dir / "config.json").read_text())
    assert set(config["auto_map"]) == {"AutoConfig", "AutoModel", "AutoModelForSequenceClassification"}
    assert "num_attention_heads" not in config
    card = ModelCard.load(output_dir / "README.md")
    result = card.data.eval_results[0]
    assert (result.dataset_config, result.dataset_split, result.metric_type) == ("rte", "validation", "accuracy")
    assert result.metric_value == pytest.approx(results["metrics"]["accuracy"])
    assert card.data.to_dict()["ddpnas"]["fine_tuning"]["steps"] == 2  # the export's ddpnas block is kept
    assert card.data.to_dict()["ddpnas"]["params"] == eng["export"]["parameters"]
