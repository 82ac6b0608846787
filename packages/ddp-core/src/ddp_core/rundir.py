"""A search's run directory: one writer at a time, records appended to a log, expected failures as one line.

Layout: ``state.json`` (small: θ, V, masks, counters, RNG, pending round, history per stage),
``records.jsonl`` (one line per scored architecture, appended and fsync'd, so a step costs O(1) I/O),
``space.json``, ``config.json``, ``summary.json``, ``checkpoints/step-NNNNNN/`` and ``.lock``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

try:  # POSIX; on other systems the lock is advisory only through the pid file
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


class RunDirectoryError(ValueError):
    """A run directory that cannot be used as asked: locked, corrupt, incomplete or mismatching."""


class RunLock:
    """An exclusive lock on ``run_dir/.lock`` held by the process that writes the run directory.

    A second writer fails at once, naming the holder's pid. The lock dies with its process (kill -9
    included), so a crashed search never leaves a stale lock behind.
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / ".lock"
        self.handle = None

    def acquire(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                handle.close()
                raise RunDirectoryError(
                    f"{self.path.parent} is being written by another search (pid {holder}); wait for it to "
                    "finish, or use another --run-dir"
                ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self.handle = handle
        return self

    def release(self) -> None:
        if self.handle is not None:
            if fcntl is not None:
                fcntl.flock(self.handle.fileno(), fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None


class RecordLog:
    """``records.jsonl``: one JSON line ``[stage, round, architecture, score]`` per record.

    Lines are appended and fsync'd before ``state.json`` names their count, so after a crash the log may hold
    a few lines more than the state; :meth:`read` returns exactly ``count`` lines and cuts the rest.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, rows: list[list[Any]]) -> None:
        if not rows:
            return
        text = "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows)
        with open(self.path, "a") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())

    def read(self, count: int, truncate: bool) -> list[list[Any]]:
        if count == 0:
            if truncate and self.path.exists():
                self.path.write_text("")
            return []
        if not self.path.exists():
            raise RunDirectoryError(
                f"{self.path} is missing but state.json names {count} records; restore it or start a new --run-dir"
            )
        rows: list[list[Any]] = []
        offset = 0
        with open(self.path, "rb") as handle:
            for line in handle:
                if len(rows) == count:
                    break
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    break
                offset += len(line)
        if len(rows) < count:
            raise RunDirectoryError(
                f"{self.path} holds {len(rows)} readable records but state.json names {count}; the file was cut "
                "or edited: restore it or start a new --run-dir"
            )
        if truncate and self.path.stat().st_size > offset:
            with open(self.path, "r+b") as handle:
                handle.truncate(offset)
                handle.flush()
                os.fsync(handle.fileno())
        return rows


def read_state(path: Path) -> dict[str, Any]:
    """``state.json`` as a dict, or a :class:`RunDirectoryError` naming the file and the fix."""
    try:
        with open(path) as handle:
            state = json.load(handle)
    except FileNotFoundError:
        raise RunDirectoryError(f"{path} does not exist; start a new run with --run-dir") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RunDirectoryError(f"{path} is not valid JSON ({error}); restore it or start a new --run-dir") from None
    if not isinstance(state, dict) or "counters" not in state or "distribution" not in state:
        raise RunDirectoryError(f"{path} is not a ddpnas search state; restore it or start a new --run-dir")
    return state


def remove_stale_temporaries(run_dir: Path) -> None:
    """Delete temporaries a killed writer left (``.NAME.*.tmp`` files, ``.step-*.tmp`` directories)."""
    for parent in (run_dir, run_dir / "checkpoints"):
        if not parent.is_dir():
            continue
        for child in parent.iterdir():
            if child.name.startswith(".") and ".tmp" in child.name:
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)


def describe_mismatch(saved: dict[str, Any], current: dict[str, Any], names: dict[str, str] | None = None) -> list[str]:
    """``["--lr: saved 0.1, now 5.0", ...]`` for every key whose value differs (missing counts as None)."""
    names = names or {}
    out = []
    for key in sorted(set(saved) | set(current)):
        before, now = saved.get(key), current.get(key)
        if before != now:
            out.append(f"{names.get(key, key)}: saved {before!r}, now {now!r}")
    return out
