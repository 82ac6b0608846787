"""A search's run directory: one writer at a time, records appended to a log, expected failures as one line.

Layout: ``state.json`` (small: θ, V, masks, counters, RNG, pending round, history per stage),
``records.jsonl`` (one line per scored architecture, appended and fsync'd, so a step costs O(1) I/O),
``space.json``, ``config.json``, ``summary.json``, ``checkpoints/step-NNNNNN/`` and ``.lock``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from ddp_core.persistence import is_checkpoint_name, is_temporary

try:  # POSIX; on other systems the lock is advisory only through the pid file
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


class RunDirectoryError(ValueError):
    """A run directory that cannot be used as asked: locked, corrupt, incomplete or mismatching."""


class RunLock:
    """An exclusive OS lock (``flock``) on the run directory itself, held by the process that writes it.

    The lock lives on an open descriptor of the directory, not on a file a user can delete: removing ``.lock``
    mid-search lets no second writer in. ``.lock`` only holds the writer's pid, for the message a second
    writer gets. The lock dies with its process (kill -9 included), so a crash never blocks a resume.
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / ".lock"
        self.fd: int | None = None

    def acquire(self) -> RunLock:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.run_dir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                try:
                    holder = self.path.read_text(errors="replace").strip()[:20] or "unknown"
                except OSError:
                    holder = "unknown"
                raise RunDirectoryError(
                    f"{self.run_dir} is being written by another search (pid {holder}); wait for it to "
                    "finish, or use another --run-dir"
                ) from None
        self.fd = fd
        with open(self.path, "w") as handle:
            handle.write(str(os.getpid()))
        return self

    def release(self) -> None:
        if self.fd is not None:
            if fcntl is not None:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def _broken_log(path: Path, what: str) -> RunDirectoryError:
    return RunDirectoryError(f"{path} {what}; restore it from a backup or start a new --run-dir")


class RecordLog:
    """``records.jsonl``: one JSON line ``[stage, round, architecture, score]`` per record, and a running sha256.

    Lines are appended and fsync'd before ``state.json`` names their count and their digest, so after a crash
    the log may hold the lines of one save more than the state (at most ``checkpoint_every``) and a torn last
    line: :meth:`read` cuts exactly those. Anything else (fewer lines, more lines, an edited, duplicated or
    reordered line) is an error: the log is never shortened beyond what a crash can leave.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.hash = hashlib.sha256()

    @property
    def digest(self) -> str:
        return self.hash.hexdigest()

    def append(self, rows: list[list[Any]]) -> None:
        if not rows:
            return
        data = "".join(json.dumps(row, separators=(",", ":"), allow_nan=False) + "\n" for row in rows).encode()
        with open(self.path, "ab") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        self.hash.update(data)

    def read(self, count: int, digest: str | None, truncate: bool, max_tail: int) -> list[list[Any]]:
        """The first ``count`` records, checked against ``digest`` (sha256 of their bytes; None: unchecked).

        ``max_tail`` is the most complete lines one save appends; a longer tail is an error, not a cut.
        """
        self.hash = hashlib.sha256()
        if not self.path.exists():
            if count == 0:
                return []
            raise _broken_log(self.path, f"is missing but state.json names {count} records")
        rows: list[list[Any]] = []
        offset = 0
        with open(self.path, "rb") as handle:
            while len(rows) < count:
                line = handle.readline()
                if not line.endswith(b"\n"):
                    break
                try:
                    rows.append(json.loads(line))
                except (json.JSONDecodeError, UnicodeDecodeError):
                    break
                self.hash.update(line)
                offset += len(line)
            tail = handle.read()
        if len(rows) < count:
            raise _broken_log(self.path, f"holds {len(rows)} readable records but state.json names {count}; the "
                                         "file was cut or edited")
        if digest is not None and self.hash.hexdigest() != digest:
            raise _broken_log(self.path, f"does not match the digest state.json recorded for its {count} records "
                                         "(a record was edited, duplicated, reordered or removed)")
        complete = tail.count(b"\n")
        if complete > max_tail:
            raise _broken_log(self.path, f"holds {complete} records more than the {count} state.json names (a save "
                                         f"appends at most {max_tail}): state.json or the log was edited")
        for line in tail.splitlines(keepends=True):
            if line.endswith(b"\n"):
                try:
                    json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    raise _broken_log(self.path, f"holds an unreadable line after its {count} records") from None
        if truncate and tail:
            with open(self.path, "r+b") as handle:
                handle.truncate(offset)
                handle.flush()
                os.fsync(handle.fileno())
        return rows


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def read_json_file(path: Path, what: str = "a ddpnas run file") -> Any:
    """Strict JSON (no NaN/Infinity tokens) from ``path``, or one :class:`RunDirectoryError` naming it."""
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read(), parse_constant=_no_constants)
    except FileNotFoundError:
        raise RunDirectoryError(f"{path} does not exist; restore it or start a new --run-dir") from None
    except IsADirectoryError:
        raise RunDirectoryError(f"{path} is a directory, not {what}; restore it or start a new --run-dir") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        detail = " ".join(str(error).split())[:120]
        raise RunDirectoryError(f"{path} is not valid JSON ({detail}); restore it or start a new --run-dir") from None


def read_state(path: Path) -> dict[str, Any]:
    """``state.json`` as a dict, or a :class:`RunDirectoryError` naming the file and the fix."""
    if not Path(path).exists():
        raise RunDirectoryError(f"{path} does not exist; start a new run with --run-dir")
    state = read_json_file(Path(path), "a search state")
    if not isinstance(state, dict) or "counters" not in state or "distribution" not in state:
        raise RunDirectoryError(f"{path} is not a ddpnas search state; restore it or start a new --run-dir")
    for key in ("config", "description", "counters", "distribution", "history"):
        if key in state and not isinstance(state[key], dict):
            raise RunDirectoryError(f"{path}: {key} must be an object; restore it or start a new --run-dir")
    return state


def remove_stale_temporaries(run_dir: Path) -> None:
    """Delete the temporaries a killed writer left: only names of this project's pattern
    (``.NAME.XXXXXXXX.ddpnas-tmp``), in the run directory and its ``checkpoints/``; nothing else."""
    for parent in (run_dir, run_dir / "checkpoints"):
        if not parent.is_dir() or parent.is_symlink():
            continue
        for child in parent.iterdir():
            if not is_temporary(child.name):
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


# What a search itself writes at the top of its run directory (--overwrite removes these and nothing else).
SEARCH_FILES = ("state.json", "records.jsonl", "space.json", "config.json", "summary.json", "theta_history.png")
# What a tool may have written before a search saved for the first time (a kill during loading).
EARLY_FILES = (*SEARCH_FILES, "checkpoints", "logs", ".lock")


def _saved_kind(run_dir: Path) -> Any:
    try:
        metadata = json.loads((run_dir / "space.json").read_text()).get("metadata", {})
        return metadata.get("kind") if isinstance(metadata, dict) else None
    except (OSError, ValueError, AttributeError):
        return None


def _remove_search_files(run_dir: Path) -> None:
    for name in SEARCH_FILES:
        path = run_dir / name
        if path.is_file() or path.is_symlink():
            path.unlink()
    checkpoints = run_dir / "checkpoints"
    if checkpoints.is_dir() and not checkpoints.is_symlink():
        for child in checkpoints.iterdir():
            if child.is_dir() and not child.is_symlink() and is_checkpoint_name(child.name):
                shutil.rmtree(child)
    remove_stale_temporaries(run_dir)


def prepare_new_run(run_dir: Path, overwrite: bool = False, kind: str | None = None) -> None:
    """Check that a *new* search may write ``run_dir``, before anything is loaded or written.

    Missing or empty: fine. A search of the same ``kind``: refused unless ``overwrite``, which removes only
    the search's own files (:data:`SEARCH_FILES`, ``checkpoints/step-NNNNNN``, this project's temporaries).
    Anything else (a user's files, another kind of search) is refused whatever the flags: nothing a tool did
    not write is ever removed.
    """
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirectoryError(f"--run-dir {run_dir} is a file, not a directory; pass a new directory")
    if not run_dir.exists():
        return
    entries = [e for e in sorted(run_dir.iterdir()) if e.name != ".lock" and not is_temporary(e.name)
               and not (e.is_dir() and not e.is_symlink() and not any(e.iterdir()))]
    if not entries:
        return
    saved = _saved_kind(run_dir)
    is_search = (run_dir / "state.json").is_file()
    if is_search and kind is not None and saved is not None and saved != kind:
        raise RunDirectoryError(f"{run_dir} holds a {saved!r} search, not a {kind!r} one; pass a new --run-dir")
    foreign = [e.name for e in entries if e.name not in EARLY_FILES]
    if foreign and not is_search:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise RunDirectoryError(f"{run_dir} is not empty and holds no ddpnas search ({shown}); a new search needs a "
                                "new or empty --run-dir (--resume RUN_DIR continues a search)")
    if not overwrite:
        what = "already holds a search" if is_search else "holds files of a search that never saved"
        raise RunDirectoryError(f"{run_dir} {what}: pass --resume {run_dir} to continue it, --overwrite to "
                                "replace it, or a new --run-dir")
    lock = RunLock(run_dir).acquire()  # never remove what a running search is writing
    try:
        _remove_search_files(run_dir)
    finally:
        lock.release()


def describe_mismatch(saved: dict[str, Any], current: dict[str, Any], names: dict[str, str] | None = None) -> list[str]:
    """``["--lr: saved 0.1, now 5.0", ...]`` for every key whose value differs (missing counts as None)."""
    names = names or {}
    out = []
    for key in sorted(set(saved) | set(current)):
        before, now = saved.get(key), current.get(key)
        if before != now:
            out.append(f"{names.get(key, key)}: saved {before!r}, now {now!r}")
    return out
