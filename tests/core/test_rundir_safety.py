"""A run directory never loses what the tool did not write, one writer holds an OS lock, files keep the umask
(issue 18 items 2 and 7, issue 16 item 4), each built from the issue's reproduction."""

import importlib.util
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ddp_core import (
    DDPSearch,
    Decision,
    RunDirectoryError,
    SearchConfig,
    SearchSpace,
    run_cli,
    write_json_atomic,
)
from ddp_core.rundir import RunLock, prepare_new_run, remove_stale_temporaries

REPO = Path(__file__).resolve().parents[2]
QUICK = ["--compare-seeds", "0", "--quiet", "--rounds-per-stage", "1", "--report-to", "none", "--budget",
         "params_m=2", "--utility", "paper"]


@pytest.fixture(scope="module")
def search_tabular():
    spec = importlib.util.spec_from_file_location("search_tabular_tool", REPO / "tools" / "search_tabular.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool(module, argv, capsys):
    try:
        code = run_cli(module.main, argv)
    except SystemExit as exit_:  # argparse's own errors exit from inside parse_args
        code = exit_.code
    return code, capsys.readouterr().err.strip().splitlines()


def user_files(run_dir: Path) -> dict[str, bytes]:
    (run_dir / "checkpoints" / "my_model").mkdir(parents=True)
    files = {"checkpoints/my_model/weights.bin": b"\x00weights", ".draft.tmp.txt": b"my notes",
             "records.jsonl": b"my own records\n"}
    for name, data in files.items():
        (run_dir / name).write_bytes(data)
    return files


def assert_untouched(run_dir: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        assert (run_dir / name).read_bytes() == data, name


def test_a_new_search_refuses_a_directory_of_user_files_and_removes_nothing(tmp_path, search_tabular, capsys):
    files = user_files(tmp_path)
    for extra in ([], ["--overwrite"]):  # --overwrite replaces a search, never a user's files
        code, err = run_tool(search_tabular, [*QUICK, "--run-dir", str(tmp_path), *extra], capsys)
        assert code == 2 and len(err) == 1 and err[0].startswith("error: "), err
        assert "holds no ddpnas search" in err[0] and "new or empty --run-dir" in err[0] and "--resume" in err[0]
        assert_untouched(tmp_path, files)
        assert not (tmp_path / "state.json").exists()


def test_an_empty_run_dir_flag_is_an_error_naming_it(tmp_path, search_tabular, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for flag in ("--run-dir", "--resume"):
        code, err = run_tool(search_tabular, [*QUICK, flag, ""], capsys)
        assert code == 2 and len(err) == 1 and f"{flag} is empty" in err[0], err
    assert list(tmp_path.iterdir()) == []  # nothing was written into the current directory


def test_overwrite_replaces_only_the_search_files_of_a_search_of_the_same_kind(tmp_path, search_tabular, capsys):
    run_dir = tmp_path / "run"
    assert run_tool(search_tabular, [*QUICK, "--run-dir", str(run_dir)], capsys)[0] == 0
    (run_dir / "checkpoints" / "my_model").mkdir()
    (run_dir / "checkpoints" / "my_model" / "weights.bin").write_bytes(b"keep")
    (run_dir / "notes.txt").write_text("keep")
    (run_dir / ".draft.tmp.txt").write_text("keep")
    code, err = run_tool(search_tabular, [*QUICK, "--run-dir", str(run_dir), "--seed", "3"], capsys)
    assert code == 2 and len(err) == 1 and f"--resume {run_dir}" in err[0] and "--overwrite" in err[0], err
    code, err = run_tool(search_tabular, [*QUICK, "--run-dir", str(run_dir), "--seed", "3", "--overwrite"], capsys)
    assert code == 0, err
    assert (run_dir / "state.json").is_file() and '"seed": 3' in (run_dir / "config.json").read_text()
    assert (run_dir / "checkpoints" / "my_model" / "weights.bin").read_bytes() == b"keep"
    assert (run_dir / "notes.txt").read_text() == (run_dir / ".draft.tmp.txt").read_text() == "keep"
    code, err = run_tool(search_tabular, [*QUICK, "--resume", str(run_dir), "--overwrite"], capsys)
    assert code == 2 and "pass only one of them" in err[0]


def test_overwrite_refuses_a_search_of_another_kind(tmp_path):
    other = SearchSpace([Decision("x", ["a", "b"])], metadata={"kind": "darts"})
    DDPSearch(other, config=SearchConfig(utility="paper"), higher_is_better=True, run_dir=tmp_path).state.save()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    with pytest.raises(RunDirectoryError, match="holds a 'darts' search, not a 'nas-bench-macro' one"):
        prepare_new_run(tmp_path, overwrite=True, kind="nas-bench-macro")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


def test_clean_up_removes_only_the_projects_temporaries_and_checkpoints(tmp_path):
    files = user_files(tmp_path)
    ours = [tmp_path / ".state.json.abcd_123.ddpnas-tmp", tmp_path / "checkpoints" / ".step-000004.x1y2z3w4.ddpnas-tmp"]
    ours[0].write_text("{")
    ours[1].mkdir()
    (tmp_path / ".state.json.tmp").write_text("not ours: an old or foreign name")
    remove_stale_temporaries(tmp_path)
    assert not any(p.exists() for p in ours) and (tmp_path / ".state.json.tmp").exists()
    assert_untouched(tmp_path, files)


class Counting:
    higher_is_better = True

    def __init__(self):
        self.calls = 0

    def train(self, architecture):
        pass

    def score(self, architecture):
        self.calls += 1
        return 0.5 + 0.01 * sum(architecture) + 0.001 * self.calls

    def save_checkpoint(self, directory):
        write_json_atomic(Path(directory) / "calls.json", {"calls": self.calls})

    def load_checkpoint(self, directory):
        self.calls = int((Path(directory) / "calls.json").read_text().split(":")[1].strip(" }\n"))


def test_saving_checkpoints_keeps_a_users_checkpoint_directory(tmp_path):
    space = SearchSpace([Decision(f"d{i}", ["a", "b", "c"]) for i in range(3)])
    (tmp_path / "checkpoints" / "my_model").mkdir(parents=True)
    (tmp_path / "checkpoints" / "my_model" / "weights.bin").write_bytes(b"keep")
    search = DDPSearch(space, Counting(), SearchConfig(utility="paper"), run_dir=tmp_path)
    for _ in range(4):
        search.step()
    search.close()
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["my_model", "step-000004"]
    assert (tmp_path / "checkpoints" / "my_model" / "weights.bin").read_bytes() == b"keep"


def test_deleting_the_lock_file_lets_no_second_writer_in(tmp_path):
    space = SearchSpace([Decision("x", ["a", "b"])])
    first = DDPSearch(space, config=SearchConfig(utility="paper"), higher_is_better=True, run_dir=tmp_path)
    first.state.save()
    (tmp_path / ".lock").unlink()  # the reproduction: rm RUN/.lock during a search
    with pytest.raises(RunDirectoryError, match="being written by another search"):
        DDPSearch(space, config=SearchConfig(utility="paper"), higher_is_better=True, run_dir=tmp_path)
    with pytest.raises(RunDirectoryError, match="being written by another search"):
        prepare_new_run(tmp_path, overwrite=True)  # nor may --overwrite remove what it is writing
    assert (tmp_path / "state.json").is_file()
    first.close()
    DDPSearch(space, config=SearchConfig(utility="paper"), higher_is_better=True, run_dir=tmp_path).close()


def test_a_lock_of_a_killed_process_never_blocks_a_resume(tmp_path):
    code = textwrap.dedent(f"""
        import os, signal
        from ddp_core.rundir import RunLock
        RunLock({str(tmp_path)!r}).acquire()
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL and (tmp_path / ".lock").read_text().strip().isdigit()
    RunLock(tmp_path).acquire().release()  # the dead holder's lock went with it


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_keep_the_umask_permissions(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_json_atomic(tmp_path / "config.json", {"a": 1})
        space = SearchSpace([Decision("x", ["a", "b"])])
        search = DDPSearch(space, Counting(), SearchConfig(utility="paper"), run_dir=tmp_path / "run")
        search.step()
        search.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "config.json").stat().st_mode) == mode
    for name in ("state.json", "space.json", "summary.json", "checkpoints/step-000001/calls.json"):
        assert stat.S_IMODE((tmp_path / "run" / name).stat().st_mode) == mode, name
    assert stat.S_IMODE((tmp_path / "run" / "checkpoints" / "step-000001").stat().st_mode) == mode | 0o111 & ~umask
