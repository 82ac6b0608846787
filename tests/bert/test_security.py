"""Issue 18 (items 1, 4, 5, 6), BERT side: nothing a model folder or a run directory holds runs code, paths read
from run files stay inside the run, and the BERT tools' bad inputs are one error line (exit 2)."""

import builtins
import json
import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from ddp_bert import finetune_cli
from ddp_bert.evaluator import load_torch_file
from ddp_bert.generate import cli as generate_cli
from ddp_bert.generate import load_supernet
from ddp_bert.model_loading import ModelLoadError, inside_run_directory, load_config
from ddp_bert.search_cli import cli as search_cli
from ddp_core import RunDirectoryError, load_run


class System:
    """Unpickles as os.system(command)."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def tiny_args(model, glue_dir, run_dir):
    return ["--task", "rte", "--model", str(model), "--data-dir", glue_dir, "--run-dir", str(run_dir), "--cpu",
            "--max-length", "16", "--batch-size", "8", "--eval-batch-size", "16", "--steps-per-unit", "1",
            "--importance-batches", "0", "--lr", "1e-3", "--lr-warmup-steps", "0", "--report-to", "none",
            "--threads", "1", "--depths", "2,4", "--ffn-widths", "32,64", "--heads", "2,4"]


@pytest.fixture(scope="module")
def bert_run(tmp_path_factory, tiny_bert_dir, glue_dir):
    """A finished tiny BERT search (the smallest space the tool takes: 2 x 2 x 2 candidates)."""
    run_dir = tmp_path_factory.mktemp("bert_run") / "run"
    assert search_cli(tiny_args(tiny_bert_dir, glue_dir, run_dir) + ["--max-evaluations", "12"]) == 0
    return run_dir


@pytest.fixture
def prompts(monkeypatch):
    """Every call of input() (transformers' "Do you wish to run the custom code?"), answered "y"."""
    asked = []

    def answer(prompt=""):
        asked.append(prompt)
        return "y"

    monkeypatch.setattr(builtins, "input", answer)
    return asked


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line[line.index("error: "):] for line in err.splitlines() if "error: " in line]
    assert len(lines) == 1 and "Traceback" not in err, err[-2000:]
    return lines[0]


def exit_status(call) -> int:
    """The exit status of a tool's cli(argv): returned, or raised by its argument parser."""
    try:
        return call()
    except SystemExit as stop:
        return stop.code


def craft_remote_code(folder: Path, marker: Path) -> None:
    """config.json naming its own classes (auto_map, an unknown model_type) and the .py that defines them."""
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="evil_bert", auto_map={"AutoConfig": "evil.EvilConfig",
                                                    "AutoModelForSequenceClassification": "evil.EvilModel"})
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "evil.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n"
        "from transformers import BertConfig\n\nclass EvilConfig(BertConfig):\n    model_type = 'evil_bert'\n")


def test_crafted_teacher_config_never_reaches_the_custom_code_prompt(bert_run, tiny_bert_dir, glue_dir, tmp_path, prompts,
                                                                    capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(bert_run, run_dir)
    marker = tmp_path / "payload-ran"
    craft_remote_code(run_dir / "teacher", marker)
    assert generate_cli(run_dir, ["--params-m", "5", "--full-space", "--export-dir", str(tmp_path / "export")]) == 2
    line = one_error_line(capsys)
    assert "asks to run its own Python code" in line and "trust_remote_code=False" in line
    assert not (tmp_path / "export").exists()
    # resuming the same run directory stops the same way, before any training
    resume = tiny_args(tiny_bert_dir, glue_dir, run_dir)
    resume[resume.index("--run-dir")] = "--resume"
    assert search_cli(resume + ["--max-evaluations", "12"]) == 2
    assert "asks to run its own Python code" in one_error_line(capsys)
    assert prompts == [] and not marker.exists()
    with pytest.raises(ModelLoadError, match="trust_remote_code=False"):
        load_config(run_dir / "teacher")
    assert prompts == [] and not marker.exists()


@pytest.mark.parametrize("teacher_dir", ["/etc", "../..", "teacher/../../x", "", 7])
def test_teacher_dir_and_checkpoint_stay_inside_the_run_directory(bert_run, teacher_dir):
    run = load_run(bert_run)
    run.space.metadata["teacher_dir"] = teacher_dir
    with pytest.raises(RunDirectoryError, match=r"space\.json metadata\.teacher_dir .*run directory"):
        load_supernet(bert_run, run)
    for checkpoint in ("/tmp", "../../..", None):
        with pytest.raises(RunDirectoryError, match=r"state\.json checkpoint"):
            inside_run_directory(bert_run / "checkpoints", checkpoint, "state.json checkpoint")
    assert inside_run_directory(bert_run, "teacher", "x") == bert_run / "teacher"


def test_symbolic_link_out_of_the_run_directory_is_refused(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "teacher").symlink_to(tmp_path)
    with pytest.raises(RunDirectoryError, match="outside the run directory"):
        inside_run_directory(tmp_path / "run", "teacher", "space.json metadata.teacher_dir")


@pytest.fixture
def pickle_model(tmp_path, tiny_bert_dir):
    """The tiny BERT's config and tokenizer with a pickle payload as pytorch_model.bin: (folder, marker)."""
    folder, marker = tmp_path / "pickle_model", tmp_path / "payload-ran"
    shutil.copytree(tiny_bert_dir, folder, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    with open(folder / "pytorch_model.bin", "wb") as handle:
        pickle.dump(System(f"touch {marker}"), handle)
    return folder, marker


def test_search_bert_model_with_a_pickle_is_one_line(pickle_model, glue_dir, tmp_path, capsys):
    folder, marker = pickle_model
    assert search_cli(tiny_args(folder, glue_dir, tmp_path / "run")) == 2
    line = one_error_line(capsys)
    assert str(folder) in line and "weights-only loading refuses" in line and "save_pretrained" in line
    assert not marker.exists()


def test_search_bert_max_length_above_the_model_positions(tiny_bert_dir, glue_dir, tmp_path, capsys):
    args = tiny_args(tiny_bert_dir, glue_dir, tmp_path / "run")
    args[args.index("--max-length") + 1] = "100000"
    assert search_cli(args) == 2
    assert "--max-length 100000 is above the 64 positions" in one_error_line(capsys)


def test_finetune_bert_bad_inputs_are_one_line(pickle_model, tiny_bert_dir, glue_dir, tmp_path, capsys):
    folder, marker = pickle_model
    empty = tmp_path / "empty"
    empty.mkdir()
    base = ["--task", "rte", "--data-dir", glue_dir, "--cpu", "--max-train-examples", "8", "--max-length", "16"]
    cases = [
        (["--model", str(folder)], "weights-only loading refuses"),
        (["--model", str(empty)], f"{empty}: the config cannot be loaded"),
        (["--model", str(tmp_path / "missing")], "missing"),
        (["--model", tiny_bert_dir, "--batch-size", "-1"], "--batch-size must be >= 1"),
        (["--model", tiny_bert_dir, "--lr", "nan"], "--lr must be a finite number"),
        (["--model", tiny_bert_dir, "--max-length", "0"], "--max-length must be >= 2"),
        (["--model", tiny_bert_dir, "--max-length", "100000"], "--max-length 100000 is above the 64 positions"),
        (["--model", tiny_bert_dir, "--epochs", "0"], "--epochs must be > 0"),
        (["--model", tiny_bert_dir, "--epochs", "1e30"], "--epochs must be > 0 and <= 1000"),
        (["--model", tiny_bert_dir, "--max-steps", "-1"], "--max-steps must be >= 1"),
        (["--model", tiny_bert_dir, "--seed", "1e40"], "--seed must be an integer"),
        (["--model", tiny_bert_dir, "--seed", str(10**40)], "--seed must be >= 0 and <= 4.29497e+09"),
    ]
    for flags, expected in cases:
        assert exit_status(lambda flags=flags: finetune_cli.cli(base + flags)) == 2, flags
        assert expected in one_error_line(capsys), flags
    assert not marker.exists()


def test_checkpoint_refusal_is_whole_and_names_what_was_refused(tmp_path):
    path = tmp_path / "bert_evaluator.pt"
    torch.save({"model": {}, "payload": System(f"touch {tmp_path / 'ran'}")}, path)
    with pytest.raises(RunDirectoryError) as refused:
        load_torch_file(path, "cpu")
    message = str(refused.value)
    assert "posix.system" in message and message.endswith("restore it or start a new --run-dir")
    assert "weights_only` set to `False`" not in message  # torch's advice to turn the safety off is dropped
    assert not (tmp_path / "ran").exists()


def test_resume_refuses_a_resigned_teacher_dir_outside_the_run(bert_run, tiny_bert_dir, glue_dir, tmp_path, capsys):
    """An attacker who edits space.json's teacher_dir and re-signs the digests state.json records: generate.py
    refused it, but ``search_bert --resume`` accepted it (exit 0) and carried '/etc' forward."""
    from ddp_core.run_checks import file_digest, state_digest

    for teacher_dir in ("/etc", "../outside"):
        run_dir = tmp_path / f"run{len(teacher_dir)}"
        shutil.copytree(bert_run, run_dir)
        space = json.loads((run_dir / "space.json").read_text())
        space["metadata"]["teacher_dir"] = teacher_dir
        (run_dir / "space.json").write_text(json.dumps(space))
        state = json.loads((run_dir / "state.json").read_text())
        state["files"]["space.json"] = file_digest(run_dir / "space.json")
        state["digest"] = state_digest(state)
        (run_dir / "state.json").write_text(json.dumps(state))
        before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
        resume = tiny_args(tiny_bert_dir, glue_dir, run_dir)
        resume[resume.index("--run-dir")] = "--resume"
        assert search_cli(resume + ["--max-evaluations", "12"]) == 2
        line = one_error_line(capsys)
        assert f"space.json metadata.teacher_dir names {teacher_dir!r}" in line and "outside the run" in line, line
        assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before


def test_a_symbolic_link_is_named_as_one(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "teacher").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(RunDirectoryError, match=r"names 'teacher' \(a symbolic link to .*elsewhere\), which is "
                                                r"outside the run directory"):
        inside_run_directory(tmp_path / "run", "teacher", "space.json metadata.teacher_dir")
