"""Atomic files in a run directory: a crash or kill never leaves a half-written state behind."""

from __future__ import annotations

import json
import math
import os
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


def write_json_atomic(path: str | os.PathLike, data: Any, durable: bool = True) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and ``os.replace``.

    NaN becomes null and infinities the strings "inf"/"-inf", so the file is strict JSON. ``durable=False``
    skips the fsync (files derived from others, which a resume rewrites anyway).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(_jsonable(data), handle, indent=1, allow_nan=False)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_json(path: str | os.PathLike) -> Any:
    with open(path) as handle:
        return json.load(handle)


def replace_directory(tmp: Path, final: Path) -> None:
    """Move a fully written directory into place (removing an older one of the same name)."""
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


def remove_other_directories(parent: Path, keep: str) -> None:
    """Delete every subdirectory of ``parent`` except ``keep`` (older checkpoints, stale temporaries)."""
    if not parent.exists():
        return
    for child in parent.iterdir():
        if child.is_dir() and child.name != keep:
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


def load_run(run_dir: str | Path) -> LoadedRun:
    """Read ``space.json`` and ``state.json`` of a run directory (finished or not)."""
    run_dir = Path(run_dir)
    for name in ("space.json", "state.json"):
        if not (run_dir / name).exists():
            raise FileNotFoundError(
                f"{run_dir / name} does not exist: {run_dir} is not a ddpnas run directory (run a search with "
                "--run-dir first)"
            )
    from ddp_core.rundir import RunDirectoryError, read_state

    try:
        space = SearchSpace.from_dict(read_json(run_dir / "space.json"))
    except (ValueError, KeyError, TypeError) as error:
        raise RunDirectoryError(f"{run_dir / 'space.json'} is not a valid search space ({error}); restore it") from None
    state = read_state(run_dir / "state.json")
    distribution = CategoricalDistribution.uniform(space)
    distribution.load_state_dict(state["distribution"])
    return LoadedRun(space, distribution, state["history"], state["config"], bool(state["counters"]["finished"]), run_dir)
