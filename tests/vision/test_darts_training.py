import json

import pytest
import torch

from ddp_core import run_cli
from ddp_vision.artifacts import load_network, read_artifact
from ddp_vision.darts.genotypes import PUBLISHED_GENOTYPES, format_genotype, genotype_to_dict
from ddp_vision.darts.training import load_genotype, main
from ddp_vision.registry import create_model


def test_load_genotype_from_name_text_json_file_and_run_dir(tmp_path):
    pdarts = PUBLISHED_GENOTYPES["PDARTS"]
    assert load_genotype("PDARTS") == load_genotype(format_genotype(pdarts))
    (tmp_path / "g.txt").write_text(format_genotype(pdarts))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "genotype.json").write_text(json.dumps({"genotype": genotype_to_dict(pdarts)}))
    assert load_genotype(str(tmp_path / "g.txt")) == load_genotype(str(tmp_path / "run")) == load_genotype("PDARTS")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="generate.py"):
        load_genotype(str(tmp_path / "empty"))


ARGV = ["--genotype", "DARTS_V2", "--dataset", "synthetic", "--epochs", "2", "--channels", "4", "--layers", "3",
        "--cutout", "2", "--quiet", "--threads", "1", "--report-to", "none"]


def test_training_writes_a_safetensors_network_with_its_config_and_resumes(tmp_path, capsys):
    out = tmp_path / "train"
    assert main([*ARGV, "--output-dir", str(out)]) == 0
    # the next step exports a DARTS network (it used to suggest export_mobilenet.py; issue 16 item 12)
    stdout = capsys.readouterr().out
    assert f"next: python tools/export_network.py --train-dir {out} --format onnx" in stdout
    assert "export_mobilenet" not in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]
    assert 0.0 <= metrics["final_test_accuracy"] <= 1.0 and metrics["params_m"] > 0
    assert (out / "training_curves.png").stat().st_size > 0
    assert not (out / "model.pt").exists() and not (out / "logs").exists()
    artifact = read_artifact(out)
    assert artifact.model == "ddpnas_darts_cifar" and artifact.input_size == (3, 8, 8)
    assert artifact.mean == (0.5, 0.5, 0.5) and artifact.std == (0.3, 0.3, 0.3) and artifact.num_classes == 4
    assert artifact.architecture["genotype"] == format_genotype(PUBLISHED_GENOTYPES["DARTS_V2"])
    network, _ = load_network(out)  # through the registry, weights from safetensors (auxiliary head dropped)
    same = create_model("ddpnas_darts_cifar", **artifact.arguments)
    same.load_state_dict(network.state_dict())
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(network(x), same.eval()(x))
    # resuming a finished run with the same flags trains nothing more and keeps the history
    assert run_cli(main, [*ARGV, "--resume", str(out)]) == 0
    assert len(json.loads((out / "metrics.json").read_text())["history"]) == 2
    capsys.readouterr()
    # other settings on resume: one error naming the flag; a fresh start on the same directory needs --resume
    assert run_cli(main, [*ARGV, "--resume", str(out), "--learning-rate", "0.5"]) == 2
    assert "--learning-rate: saved 0.025, now 0.5" in capsys.readouterr().err
    assert run_cli(main, [*ARGV, "--output-dir", str(out)]) == 2
    assert f"--resume {out}" in capsys.readouterr().err


def test_bad_training_flags_are_one_line_errors(capsys):
    with pytest.raises(SystemExit) as stop:
        main([*ARGV, "--drop-path", "nan"])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and err.count("\n") == 0 and "--drop-path must be a finite number" in err
