"""Issue 16 item 12: the BERT export names what it wrote and the next command (it printed only eng.json)."""

from ddp_bert.generate import cli as generate_cli
from ddp_bert.search_cli import cli as search_cli


def test_export_prints_its_directory_and_the_fine_tuning_command(tiny_bert_dir, glue_dir, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert search_cli(["--task", "rte", "--model", tiny_bert_dir, "--data-dir", glue_dir, "--run-dir", str(run_dir),
                       "--cpu", "--max-length", "16", "--batch-size", "8", "--eval-batch-size", "16",
                       "--steps-per-unit", "1", "--importance-batches", "0", "--lr-warmup-steps", "0",
                       "--report-to", "none", "--threads", "1", "--depths", "2,4", "--ffn-widths", "32,64",
                       "--heads", "2,4", "--max-evaluations", "12"]) == 0
    capsys.readouterr()
    export = tmp_path / "export"
    assert generate_cli(run_dir, ["--params-m", "5", "--full-space", "--export-dir", str(export)]) == 0
    out = capsys.readouterr().out
    assert f"exported the network to {export} (config.json, model.safetensors" in out, out
    assert f"next: python tools/finetune_bert.py --model {export} --task rte" in out, out
    assert (export / "config.json").is_file() and (export / "model.safetensors").is_file()
