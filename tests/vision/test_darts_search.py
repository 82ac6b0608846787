"""tools/search_darts.py end to end: the run directory, the CLI surface, resume rules, kill -9 exactness, safety."""

import json
import shutil

import numpy as np
import pytest
import torch
from vision_runs import SLACK, final_state, kill_after, records, timed_run, tool

from ddp_core import run_cli
from ddp_vision.darts.search import main

TINY = ["--dataset", "synthetic", "--rounds-per-stage", "1", "--quiet", "--threads", "1", "--budget", "none"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One uninterrupted run as a process (TensorBoard on); its wall time sizes the timeouts of later runs."""
    run_dir = tmp_path_factory.mktemp("darts") / "run"
    done, seconds = timed_run(tool("search_darts.py", *TINY, "--budget", "nonparam_ops=3", "--run-dir", str(run_dir),
                                   "--report-to", "tensorboard"), timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    eng_answers.update(reference=json.loads((run_dir / "eng.json").read_text())["answers"])  # later tests rewrite it
    return run_dir, seconds, done.stdout


eng_answers: dict = {}


def test_search_writes_the_shared_run_directory_layout(finished_run):
    run_dir, _, stdout = finished_run
    for name in ("space.json", "state.json", "records.jsonl", "summary.json", "theta_history.png", "cells.png",
                 "genotype.txt", "genotype.json", "eng.json", "eng_cells_0.png", "eng_cells_1.png"):
        assert (run_dir / name).is_file(), name
    (checkpoint,) = (run_dir / "checkpoints").glob("step-*")
    assert (checkpoint / "supernet.safetensors").is_file() and (checkpoint / "rng-rank0.json").is_file()
    assert not list(checkpoint.glob("*.pt")), "nothing pickled in a search checkpoint"
    assert list((run_dir / "logs" / "search").rglob("events.out.tfevents.*")), "--report-to tensorboard logs"
    state = final_state(run_dir)
    live = np.array(state["distribution"]["live"])
    assert state["counters"]["finished"] and np.all(live.sum(axis=1) == 2)  # one param + one nonparam left
    assert len(records(run_dir)) == state["records"] == state["counters"]["steps"] == 33
    assert state["description"]["--learning-rate"] == 0.025 and state["description"]["--channels"] == 4
    assert "budget_costs" not in state  # no budget known before the search (nonparam_ops is ENG's): no costs
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["finished"] and summary["utility"] == "joint"  # the default preset
    report = json.loads((run_dir / "eng.json").read_text())
    assert [a["budgets"] for a in report["answers"]] == [{}, {"nonparam_ops": 3.0}]
    # the one progress bar is off (--quiet); the end names the run directory and the next command
    assert f"run directory: {run_dir}" in stdout and f"next: python tools/generate.py {run_dir}" in stdout


def test_generate_dispatcher_runs_the_darts_generator(finished_run):
    run_dir = finished_run[0]
    out, _ = timed_run([*tool("generate.py", str(run_dir)), "--budget", "cell_height=1", "--budget",
                        "params_m=0.0001", "--no-draw"], timeout=300)
    assert out.returncode == 0, out.stderr
    assert "ENG [cell_height <= 1]" in out.stdout and "smallest achievable params_m" in out.stdout
    report = json.loads((run_dir / "eng.json").read_text())
    assert report["answers"][0]["costs"]["cell_height"] == 1


def test_generate_for_the_imagenet_network_respects_a_flops_budget(finished_run, capsys):
    from ddp_vision.darts.generate import cli

    assert cli(finished_run[0], ["--network", "imagenet", "--budget", "flops_m=450", "--no-draw"]) == 0
    report = json.loads((finished_run[0] / "eng.json").read_text())
    assert report["network"]["kind"] == "imagenet" and report["network"]["image_size"] == 224
    answer = report["answers"][0]
    assert answer["costs"]["flops_m"] <= 450 and answer["costs"]["params_m"] > 2.0
    assert "ENG [flops_m <= 450]" in capsys.readouterr().out


def test_existing_run_dir_needs_resume(finished_run, capsys):
    assert run_cli(main, [*TINY, "--run-dir", str(finished_run[0])]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"--resume {finished_run[0]}" in err


def test_resume_with_different_settings_is_one_error_naming_each_flag(finished_run, capsys):
    argv = [*TINY, "--resume", str(finished_run[0]), "--learning-rate", "0.1", "--channels", "8", "--seed", "3"]
    assert run_cli(main, argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    for text in ("--learning-rate: saved 0.025, now 0.1", "--channels: saved 4, now 8", "--seed: saved 0, now 3"):
        assert text in err


@pytest.mark.parametrize("flag, value, message", [
    ("--learning-rate", "nan", "--learning-rate must be a finite number"),
    ("--temperature", "inf", "--temperature must be a finite number"),
    ("--steps-per-unit", "0", "--steps-per-unit must be >= 1"),
    ("--val-fraction", "1", "--val-fraction must be > 0 and < 1"),
    ("--momentum", "-0.1", "--momentum must be >= 0"),
    ("--batch-size", "2.5", "--batch-size must be an integer"),
])
def test_bad_numbers_are_one_line_errors(flag, value, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main([*TINY, flag, value])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and err.count("\n") == 0 and message in err, err


def test_missing_data_dir_is_one_clear_error_line(tmp_path, capsys):
    argv = ["--dataset", "cifar10", "--data-dir", str(tmp_path / "missing"), "--run-dir", str(tmp_path / "run")]
    assert run_cli(main, argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "CIFAR-10 not found" in err and "Traceback" not in err


def test_corrupt_state_json_is_one_clear_error_line(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "state.json").write_text('{"counters": {"steps": 3')  # cut by a full disk
    assert run_cli(main, [*TINY, "--resume", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "state.json is not valid JSON" in err


def test_read_only_run_dir_is_one_clear_error_line(tmp_path, read_only_directory):
    parent = read_only_directory(tmp_path / "read-only")
    done, _ = timed_run(read_only_directory.command(tool("search_darts.py", *TINY, "--run-dir", str(parent / "run"))),
                        timeout=600)
    err = done.stderr.strip()
    assert done.returncode == 2 and err.count("\n") == 0, err
    assert "Permission denied" in err and "--run-dir" in err


def test_read_only_file_system_is_one_line(tmp_path, monkeypatch, capsys):
    import errno
    import pathlib

    original = pathlib.Path.mkdir

    def mkdir(self, *args, **kwargs):
        if str(self).startswith(str(tmp_path)):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir)
    assert run_cli(main, [*TINY, "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Read-only file system" in err and "writable --run-dir" in err


class RunsCode:
    """A pickle payload: unpickling it would create ``marker`` (it must never run)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("target", ["trainer_state.safetensors", "supernet.safetensors"])
def test_crafted_pickle_in_a_checkpoint_fails_on_resume_and_never_runs(finished_run, tmp_path, target):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run[0], run_dir, ignore=shutil.ignore_patterns("logs"))
    (checkpoint,) = (run_dir / "checkpoints").glob("step-*")
    marker = tmp_path / "pwned"
    torch.save({"weights": RunsCode(marker)}, checkpoint / target)
    torch.save(RunsCode(marker), checkpoint / "supernet.pt")  # a stray pickle beside it is never read either
    done, _ = timed_run(tool("search_darts.py", *TINY, "--resume", str(run_dir)), timeout=600)
    err = done.stderr.strip()
    assert done.returncode == 2 and err.count("\n") == 0, err
    # refused by the checkpoint's digests before any file of it is read (ddp_core.run_checks)
    assert "supernet.pt was not written by this search" in err
    assert not marker.exists()


def test_a_diverging_search_stops_with_a_clear_error(tmp_path):
    done, _ = timed_run(tool("search_darts.py", *TINY, "--run-dir", str(tmp_path / "run"), "--learning-rate", "1e30",
                             "--grad-clip", "0", "--report-to", "none"), timeout=600)
    err = done.stderr.strip()
    assert done.returncode == 2 and err.count("\n") == 0, err
    assert "training diverged" in err and "--learning-rate" in err
    assert final_state(tmp_path / "run")["counters"]["steps"] < 33  # stopped, no chance scores recorded to the end


@pytest.mark.slow
def test_killed_search_resumes_to_the_same_theta_and_records(tmp_path, finished_run):
    reference, seconds, _ = finished_run
    run_dir = tmp_path / "killed"
    command = tool("search_darts.py", *TINY, "--budget", "nonparam_ops=3", "--report-to", "none")
    killed_at = kill_after([*command, "--run-dir", str(run_dir)], run_dir, at_step=12, limit=SLACK * seconds)
    assert 12 <= killed_at < 33 and not final_state(run_dir)["counters"]["finished"]
    resumed, _ = timed_run([*command, "--resume", str(run_dir)], timeout=SLACK * seconds)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming {run_dir} at evaluation {killed_at}" in resumed.stdout
    a, b = final_state(reference), final_state(run_dir)
    assert a["distribution"] == b["distribution"]  # θ, momentum, live masks: exactly equal
    assert records(run_dir) == records(reference)
    assert json.loads((run_dir / "eng.json").read_text())["answers"] == eng_answers["reference"]
    assert not (run_dir / "logs").exists()  # --report-to none


def test_a_params_budget_is_known_to_the_search_which_evaluates_genotypes_inside_it(tmp_path, capsys):
    """``--budget params_m=X`` (additive only) is a budget known before the search: saved in config.json, and the
    search's budgeted targets are DARTS genotypes (two non-none inputs per node) that cost at most X as ENG prices
    them; a budget no genotype meets stops before any training, in one line naming the smallest value."""
    from ddp_core import SearchSpace
    from ddp_core.search_budgets import SearchBudgets
    from ddp_vision.darts.costs import eval_cost_tables
    from ddp_vision.darts.generate import default_spec
    from ddp_vision.darts.recommendation import rule_constraints
    from ddp_vision.darts.space import supernet_config_from_space

    assert run_cli(main, [*TINY, "--budget", "params_m=0.05", "--run-dir", str(tmp_path / "tight")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "budget known before the search" in err and "smallest achievable params_m" in err
    assert not (tmp_path / "tight" / "records.jsonl").exists()
    run_dir = tmp_path / "run"
    assert run_cli(main, [*TINY, "--budget", "params_m=1.6", "--budget", "nonparam_ops=3", "--run-dir",
                          str(run_dir)]) == 0
    assert json.loads((run_dir / "config.json").read_text())["budgets"] == [{"params_m": 1.6}]
    saved = final_state(run_dir)
    assert set(saved["budget_costs"]) == {"params_m"} and len(saved["budget_rules"]) == 8
    space = SearchSpace.from_dict(json.loads((run_dir / "space.json").read_text()))
    steps = supernet_config_from_space(space).steps
    budgets = SearchBudgets([{"params_m": 1.6}], eval_cost_tables(space, default_spec(space), steps),
                            rules=tuple(rule_constraints(space, steps)))
    evaluated = [tuple(r[2]) for r in records(run_dir)]
    inside = budgets.meets(space, evaluated, 0)
    assert inside.sum() >= 5, inside  # without the budget a sampled 28-edge path is almost never a genotype
    report = json.loads((run_dir / "eng.json").read_text())
    answer = report["answers"][1]  # TINY's "--budget none" first
    assert answer["budgets"] == {"params_m": 1.6} and answer["costs"]["params_m"] <= 1.6
