import json

import pytest
import torch

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


def test_training_smoke_run_writes_metrics_model_and_resumes(tmp_path):
    out = tmp_path / "train"
    argv = ["--genotype", "DARTS_V2", "--dataset", "synthetic", "--epochs", "2", "--channels", "4", "--layers", "3",
            "--cutout", "2", "--output-dir", str(out), "--no-progress", "--threads", "1"]
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]
    assert 0.0 <= metrics["final_test_accuracy"] <= 1.0 and metrics["params_m"] > 0
    assert (out / "training_curves.png").stat().st_size > 0
    saved = torch.load(out / "model.pt", weights_only=False)
    network = create_model("ddpnas_darts_cifar", genotype=saved["genotype"], channels=4, layers=3, num_classes=4,
                           auxiliary=True)
    network.load_state_dict(saved["model"])
    # resuming a finished run trains nothing more and keeps the history
    assert main(["--resume", str(out)]) == 0
    assert len(json.loads((out / "metrics.json").read_text())["history"]) == 2
