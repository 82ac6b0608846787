"""Atomic files in a run directory: a crash or kill never leaves a half-written state behind."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ddp_core.distribution import CategoricalDistribution
from ddp_core.space import SearchSpace


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


TEMPORARY_SUFFIX = ".ddpnas-tmp"
_TEMPORARY = re.compile(r"^\.[^/]+\.[a-z0-9_]{8}" + re.escape(TEMPORARY_SUFFIX) + "$")
_CHECKPOINT = re.compile(r"^step-[0-9]{6}$")


def is_temporary(name: str) -> bool:
    """True for the names of this project's temporaries (``.NAME.XXXXXXXX.ddpnas-tmp``) and nothing else, so a
    clean-up never removes a user's ``.draft.tmp.txt``."""
    return bool(_TEMPORARY.match(name))


def is_checkpoint_name(name: str) -> bool:
    """True for ``step-NNNNNN``, the only checkpoint directories a search writes (and ever removes)."""
    return bool(_CHECKPOINT.match(name))


def _umask() -> int:
    """The process's umask, read without changing it where the system says it (Linux), so threads never see
    a different one."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _temporary(path: Path) -> tuple[int, str]:
    """A new temporary beside ``path`` with the permissions a plain ``open()`` would give (mkstemp's are 0600)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX, dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())
    return fd, tmp


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_bytes_atomic(path: str | os.PathLike, data: bytes, durable: bool = True) -> str:
    """Write ``data`` to ``path`` through a temporary and ``os.replace``; returns its sha256 (hex)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temporary(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return sha256_bytes(data)


def json_bytes(data: Any) -> bytes:
    """``data`` as the strict JSON text the run directory holds (NaN as null, infinities as strings)."""
    return json.dumps(_jsonable(data), indent=1, allow_nan=False).encode()


def write_json_atomic(path: str | os.PathLike, data: Any, durable: bool = True) -> str:
    """Write ``data`` as JSON to ``path`` through a temporary file and ``os.replace``; returns its sha256.

    NaN becomes null and infinities the strings "inf"/"-inf", so the file is strict JSON. ``durable=False``
    skips the fsync (files derived from others, which a resume rewrites anyway). The file gets the umask's
    permissions (0644 under umask 022), like any file the user writes.
    """
    return write_bytes_atomic(path, json_bytes(data), durable)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``."""
    write_bytes_atomic(path, text.encode())


def read_json(path: str | os.PathLike) -> Any:
    with open(path) as handle:
        return json.load(handle)


def _no_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def read_json_document(path: str | os.PathLike, what: str, fix: str, expected: type = dict) -> Any:
    """A JSON file a user hands a tool (a benchmark table, a genotype, a network config, a latency table): its
    content, or one ``ValueError`` naming the file, that it must be JSON of the ``expected`` form, and ``fix``.

    A pickle (or any binary file) is never unpickled: it fails as "not JSON text", not as a codec error.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"{path} does not exist; {what} must be a JSON file: {fix}") from None
    except IsADirectoryError:
        raise ValueError(f"{path} is a directory; {what} must be a JSON file: {fix}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        kind = " (a pickle?)" if data[:1] == b"\x80" else ""
        raise ValueError(f"{path} is not JSON text but a binary file{kind}; {what} must be JSON (nothing in it was "
                         f"loaded): {fix}") from None
    try:
        content = json.loads(text, parse_constant=_no_json_constant)
    except (ValueError, RecursionError) as error:
        detail = " ".join(str(error).split())[:100]
        raise ValueError(f"{path} is not valid JSON ({detail}); {what} must be JSON: {fix}") from None
    if not isinstance(content, expected):
        names = {dict: "an object", list: "a list"}
        found = {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}
        raise ValueError(f"{path} holds {found.get(type(content), 'a number')} where {what} must be a JSON "
                         f"{names.get(expected, expected.__name__).split()[-1]}: {fix}")
    return content


def replace_directory(tmp: Path, final: Path) -> None:
    """Move a fully written directory into place (removing an older one of the same name)."""
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


def remove_other_directories(parent: Path, keep: str) -> None:
    """Delete the older ``step-NNNNNN`` checkpoints in ``parent`` (every one but ``keep``); nothing else."""
    if not parent.exists():
        return
    for child in parent.iterdir():
        if child.is_dir() and not child.is_symlink() and is_checkpoint_name(child.name) and child.name != keep:
            shutil.rmtree(child, ignore_errors=True)


@dataclass
class LoadedRun:
    """What ENG needs from a run directory, without the evaluator."""

    space: SearchSpace
    distribution: CategoricalDistribution
    history: dict[str, list]
    config: dict[str, Any]
    finished: bool
    run_dir: Path

    def generate(self, costs=None, budgets=None, *, eng: str | None = None, live_only: bool = False,
                 constraints=(), count_constraints=(), on_infeasible: str = "report",
                 time_limit_s: float | None = 60.0):
        """``SearchResult.generate`` for a run directory: the recommended network per budget from the run's records
        (``records.jsonl``, checked against the count and digest ``state.json`` recorded; lines a live search
        appended after its last save are left out). ``eng=None`` is the run's preset's ENG; see
        :mod:`ddp_core.eng` for the arguments and the return."""
        from ddp_core.eng import generate_recommended, records_from_rows
        from ddp_core.rundir import RecordLog, read_state

        state = read_state(self.run_dir / "state.json")
        rows = RecordLog(self.run_dir / "records.jsonl").read(state.get("records", 0), state.get("records_sha256"),
                                                              truncate=False, max_tail=2**62)
        record = records_from_rows(self.space, rows, bool(self.config.get("stationary_scores", False)))
        return generate_recommended(self.space, record, self.distribution, costs, budgets,
                                    higher_is_better=bool(state.get("higher_is_better", True)),
                                    utility=str(self.config.get("utility", "joint")), eng=eng, live_only=live_only,
                                    constraints=constraints, count_constraints=count_constraints,
                                    on_infeasible=on_infeasible, time_limit_s=time_limit_s)


def load_run(run_dir: str | Path) -> LoadedRun:
    """Read ``space.json`` and ``state.json`` of a run directory (finished or not)."""
    run_dir = Path(run_dir)
    for name in ("space.json", "state.json"):
        if not (run_dir / name).exists():
            raise FileNotFoundError(
                f"{run_dir / name} does not exist: {run_dir} is not a ddpnas run directory (run a search with "
                "--run-dir first)"
            )
    from ddp_core.run_checks import check_loaded_state
    from ddp_core.rundir import RunDirectoryError, read_json_file, read_state

    state = read_state(run_dir / "state.json")
    check_loaded_state(run_dir, state)  # its digest, and space.json's, before space.json is read
    try:
        space = SearchSpace.from_dict(read_json_file(run_dir / "space.json", "a search space"))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise RunDirectoryError(f"{run_dir / 'space.json'} is not a valid search space ({error}); restore it") from None
    distribution = CategoricalDistribution.uniform(space)
    check_loaded_distribution(run_dir, space, state)
    distribution.load_state_dict(state["distribution"])
    return LoadedRun(space, distribution, state["history"], state["config"], state["counters"]["finished"], run_dir)


def check_loaded_distribution(run_dir: Path, space: SearchSpace, state: dict[str, Any]) -> None:
    from ddp_core.run_checks import StateChecker

    checker = StateChecker(None, run_dir / "state.json", space)
    distribution = state["distribution"]
    for name, kind in (("theta", "probability"), ("velocity", "number"), ("pruned_theta", "probability"),
                       ("live", "bool")):
        checker.matrix(f"distribution.{name}", distribution.get(name), kind)
    if not isinstance(state["counters"].get("finished"), bool):
        raise checker.fail("counters.finished", "must be true or false")
