"""What tools/finetune_bert.py leaves behind (issue 16, items 3, 12, 13): a card naming the data actually used,
TensorBoard events under the run's logs/, a final training loss however short the run, and --report-to
accepting every accelerate tracker with one error line when its package is missing."""

import json
import pathlib

import pytest
from huggingface_hub import ModelCard

from ddp_bert.finetune_cli import main as finetune_main
from ddp_core.cli import REPORT_TO, TRACKER_PACKAGES, tracker_installed


def test_local_data_run_card_logs_and_final_loss(tiny_bert_dir, glue_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a stray runs/<date> would land here
    output_dir = tmp_path / "fine-tuned"
    # --logging-steps stays at its default 50, far above the 2 steps: the last step must still be logged
    assert finetune_main(["--model", tiny_bert_dir, "--task", "rte", "--data-dir", glue_dir, "--max-steps", "2",
                          "--batch-size", "8", "--max-length", "16", "--cpu", "--report-to", "tensorboard",
                          "--output-dir", str(output_dir)]) == 0
    results = json.loads((output_dir / "results.json").read_text())
    assert isinstance(results["final_train_loss"], float) and results["final_train_loss"] > 0
    events = list((output_dir / "logs").rglob("events.out.tfevents.*"))
    assert events, sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))[:20]
    assert not (tmp_path / "runs").exists() and not (output_dir / "runs").exists()
    card = ModelCard.load(output_dir / "README.md")
    text = (output_dir / "README.md").read_text()
    result = card.data.eval_results[0]
    assert result.dataset_type == "local"
    assert result.dataset_name.startswith(f"{pathlib.Path(glue_dir).name} (local directory")
    assert "nyu-mll/glue" not in (card.data.datasets or [])
    assert card.data.to_dict()["ddpnas"]["fine_tuning"]["data"] == result.dataset_name
    assert str(tmp_path) not in text  # a local path's name only: cards are public, home paths are not


@pytest.mark.parametrize("tracker", [name for name in TRACKER_PACKAGES if not tracker_installed(name)][:3])
def test_missing_tracker_is_one_error_line(tracker, tiny_bert_dir, glue_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        finetune_main(["--model", tiny_bert_dir, "--task", "rte", "--data-dir", glue_dir, "--report-to", tracker,
                       "--output-dir", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    package = TRACKER_PACKAGES[tracker][1]
    assert err == (f"error: --report-to {tracker}: the {package} package is not installed (pip install {package}); "
                   "pass --report-to tensorboard or none")


def test_report_to_names_every_accelerate_tracker():
    from accelerate.tracking import LOGGER_TYPE_TO_CLASS

    assert set(LOGGER_TYPE_TO_CLASS) <= set(REPORT_TO) and {"all", "none"} <= set(REPORT_TO)
