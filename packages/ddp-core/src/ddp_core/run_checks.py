"""What a run directory must hold before a search resumes from it: schema, types, ranges, shapes and digests.

Every file a search writes is checked on load, twice: against the rules of its content (θ finite and >= 0,
counters integers in range, shapes of the space, checkpoint names confined to ``checkpoints/``), and against the
sha256 recorded when it was written (``state.json`` carries its own digest, the digests of ``space.json``,
``config.json`` and of every file of the evaluator's checkpoint, and a running digest of ``records.jsonl``). Any
mismatch is one :class:`~ddp_core.rundir.RunDirectoryError` naming the file and the fix.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ddp_core.persistence import _jsonable, is_checkpoint_name
from ddp_core.rundir import RunDirectoryError

if TYPE_CHECKING:
    from ddp_core.search import DDPSearch

FIX = "restore it from a backup or start a new --run-dir"
_HEX = re.compile(r"^[0-9a-f]{64}$")
FAILED = "failed"


def state_digest(state: dict[str, Any]) -> str:
    """sha256 of ``state`` without its ``digest`` key, as canonical JSON (the same bytes after a round trip)."""
    body = {k: v for k, v in state.items() if k != "digest"}
    text = json.dumps(_jsonable(body), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def directory_digests(directory: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``directory`` (what a checkpoint holds)."""
    directory = Path(directory)
    return {path.relative_to(directory).as_posix(): file_digest(path)
            for path in sorted(directory.rglob("*")) if path.is_file()}


def verify_file(path: Path, expected: Any) -> None:
    if not isinstance(expected, str) or not _HEX.match(expected):
        raise RunDirectoryError(f"{path.parent / 'state.json'} records no valid digest for {path.name}; {FIX}")
    if not path.is_file():
        raise RunDirectoryError(f"{path} is missing but state.json names it; {FIX}")
    if file_digest(path) != expected:
        raise RunDirectoryError(f"{path} does not match the sha256 recorded when it was written (edited or "
                                f"corrupted); {FIX}")


def verify_directory(directory: Path, expected: Any) -> None:
    """Every file of ``directory`` is one ``expected`` names, with its digest; nothing more, nothing less."""
    if not isinstance(expected, dict) or not expected:
        raise RunDirectoryError(f"{directory.parent.parent / 'state.json'} records no digests for {directory.name}; "
                                f"{FIX}")
    if not directory.is_dir() or directory.is_symlink():
        raise RunDirectoryError(f"{directory} is missing but state.json names it; {FIX}")
    found = {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file() or p.is_symlink()}
    extra = sorted(found - set(expected))
    if extra:
        raise RunDirectoryError(f"{directory / extra[0]} was not written by this search (state.json does not name "
                                f"it); remove it or {FIX}")
    for name, digest in expected.items():
        path = directory / name
        if not isinstance(name, str) or Path(name).is_absolute() or ".." in Path(name).parts:
            raise RunDirectoryError(f"{directory.parent.parent / 'state.json'} names {name!r} outside {directory}; "
                                    f"{FIX}")
        if path.is_symlink():
            raise RunDirectoryError(f"{path} is a link, which this search never writes; {FIX}")
        verify_file(path, digest)


class StateChecker:
    """Checks one loaded ``state.json`` against the search that is resuming from it."""

    def __init__(self, search: DDPSearch | None, path: Path, space: Any = None) -> None:
        self.search, self.path = search, Path(path)
        self.space = space if space is not None else search.space

    def fail(self, field: str, problem: str) -> RunDirectoryError:
        return RunDirectoryError(f"{self.path}: {field} {problem}; {FIX}")

    def integer(self, field: str, value: Any, low: int, high: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise self.fail(field, f"must be an integer, got {_short(value)}")
        if value < low or (high is not None and value > high):
            upper = "" if high is None else f" and <= {high}"
            raise self.fail(field, f"must be >= {low}{upper}, got {_short(value)}")
        return int(value)

    def matrix(self, field: str, value: Any, kind: str) -> np.ndarray:
        space = self.space
        shape = (space.num_decisions, space.max_candidates)
        if not isinstance(value, list) or len(value) != shape[0] or any(
                not isinstance(row, list) or len(row) != shape[1] for row in value):
            raise self.fail(field, f"must be a {shape[0]} x {shape[1]} list of rows (one per decision)")
        flat = [v for row in value for v in row]
        if kind == "bool":
            if not all(isinstance(v, bool) for v in flat):
                raise self.fail(field, "must hold only true/false")
            return np.array(value, dtype=bool)
        if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in flat):
            raise self.fail(field, "must hold only numbers")
        array = np.array(value, dtype=np.float64)
        if not np.isfinite(array).all():
            raise self.fail(field, "holds a value that is not finite")
        if kind == "probability" and ((array < 0).any() or (array > 1 + 1e-6).any()):
            raise self.fail(field, "holds a value outside [0, 1]")
        return array

    def architecture(self, field: str, value: Any) -> tuple[int, ...]:
        space = self.space
        if not isinstance(value, list) or len(value) != space.num_decisions:
            raise self.fail(field, f"must be a list of {space.num_decisions} candidate indices")
        for e, k in enumerate(value):
            self.integer(f"{field}[{e}]", k, 0, len(space.decisions[e].candidates) - 1)
        return tuple(value)

    def check(self, state: dict[str, Any], failures: int) -> None:
        """Raise on the first field that no search could have written."""
        from ddp_core.search import stage_schedule

        s, space = self.search, self.search.space
        dist = state.get("distribution")
        if not isinstance(dist, dict):
            raise self.fail("distribution", "must be an object")
        self.matrix("distribution.theta", dist.get("theta"), "probability")
        self.matrix("distribution.velocity", dist.get("velocity"), "number")
        self.matrix("distribution.pruned_theta", dist.get("pruned_theta"), "probability")
        live = self.matrix("distribution.live", dist.get("live"), "bool")
        sizes = [len(d.candidates) for d in space.decisions]
        for e, size in enumerate(sizes):
            if not live[e, :size].any() or live[e, size:].any():
                raise self.fail("distribution.live", f"row {e} ({space.decisions[e].name}) must keep at least one "
                                "of its candidates live and no others")
        sampler = state.get("sampler")
        if not isinstance(sampler, dict) or not isinstance(sampler.get("pools"), list) \
                or len(sampler["pools"]) != space.num_decisions:
            raise self.fail("sampler.pools", f"must be a list of {space.num_decisions} lists (one per decision)")
        for e, pool in enumerate(sampler["pools"]):
            if not isinstance(pool, list) or len(set(map(repr, pool))) != len(pool):
                raise self.fail(f"sampler.pools[{e}]", "must be a list of distinct candidate indices")
            for k in pool:
                self.integer(f"sampler.pools[{e}]", k, 0, sizes[e] - 1)
        try:
            np.random.PCG64().state = sampler.get("rng")
        except (TypeError, ValueError, KeyError, OverflowError, AttributeError):
            raise self.fail("sampler.rng", "is not a PCG64 generator state") from None
        counters = state.get("counters")
        if not isinstance(counters, dict):
            raise self.fail("counters", "must be an object")
        config = s.config
        planned = len(stage_schedule(space, config.prune, config.stages))
        most_stages = planned * (1 + config.max_postponed_stages) if config.prune else planned
        stage = self.integer("counters.stage", counters.get("stage"), 0, most_stages)
        rounds = self.integer("counters.rounds_per_stage", counters.get("rounds_per_stage"), s.rounds_per_stage,
                              s.rounds_per_stage)
        stage_rounds = self.integer("counters.stage_rounds", counters.get("stage_rounds"), 1, rounds)
        self.integer("counters.round", counters.get("round"), 0, stage_rounds - 1)
        records = self.integer("records", state.get("records"), 0)
        self.integer("counters.steps", counters.get("steps"), records + failures, records + failures)
        self.integer("counters.postponed", counters.get("postponed"), 0, config.max_postponed_stages)
        if not isinstance(counters.get("finished"), bool):
            raise self.fail("counters.finished", f"must be true or false, got {_short(counters.get('finished'))}")
        pending, scores = state.get("pending"), state.get("pending_scores")
        if not isinstance(pending, list) or not isinstance(scores, list) or len(pending) != len(scores):
            raise self.fail("pending", "and pending_scores must be lists of the same length")
        for i, (architecture, score) in enumerate(zip(pending, scores, strict=True)):
            self.architecture(f"pending[{i}]", architecture)
            if not (score is None or score == FAILED or (isinstance(score, numbers.Real) and not isinstance(score, bool)
                                                          and math.isfinite(score))):
                raise self.fail(f"pending_scores[{i}]", f"must be null, a finite number or {FAILED!r}")
        if pending and None not in scores:
            raise self.fail("pending_scores", "holds a finished round that was never closed")
        history = state.get("history")
        if not isinstance(history, dict) or not all(isinstance(history.get(k), list)
                                                    for k in ("theta", "pruned", "stages")):
            raise self.fail("history", "must be an object with the lists theta, pruned and stages")
        if len(history["stages"]) != stage or len(history["theta"]) != stage + 1:
            raise self.fail("history", f"must hold {stage} stages and {stage + 1} θ snapshots for stage {stage}")
        for i, theta in enumerate(history["theta"]):
            self.matrix(f"history.theta[{i}]", theta, "probability")
        if not all(isinstance(p, dict) and isinstance(p.get("decision"), str) for p in history["pruned"]) or not all(
                isinstance(info, dict) for info in history["stages"]):
            raise self.fail("history", "pruned and stages must be lists of objects")
        notes = state.get("notes", {})
        if not isinstance(notes, dict) or not all(isinstance(v, str) for v in notes.values()):
            raise self.fail("notes", "must map names to text")
        checkpoint = state.get("checkpoint")
        if checkpoint is not None and (not isinstance(checkpoint, str) or not is_checkpoint_name(checkpoint)):
            raise self.fail("checkpoint", f"must be null or a step-NNNNNN name inside checkpoints/, got "
                                          f"{_short(checkpoint)}")
        if checkpoint is None and all(hasattr(s.evaluator, name) for name in ("save_checkpoint", "load_checkpoint")):
            raise self.fail("checkpoint", "is null, but this search's evaluator keeps a checkpoint at every save")
        if not isinstance(state.get("records_sha256"), str) or not _HEX.match(state["records_sha256"]):
            raise self.fail("records_sha256", "must be the sha256 of records.jsonl")

    def check_failed(self, failed: Any, records: int) -> list[tuple[int, int, int, tuple[int, ...]]]:
        if not isinstance(failed, list):
            raise self.fail("failed", "must be a list")
        out, last = [], -1
        for i, row in enumerate(failed):
            if not isinstance(row, list) or len(row) != 4:
                raise self.fail(f"failed[{i}]", "must be [step, stage, round, architecture]")
            step = self.integer(f"failed[{i}] step", row[0], last + 1, records + len(failed) - 1)
            last = step
            out.append((step, self.integer(f"failed[{i}] stage", row[1], 0),
                        self.integer(f"failed[{i}] round", row[2], 0), self.architecture(f"failed[{i}]", row[3])))
        return out


def check_loaded_state(run_dir: Path, state: dict[str, Any]) -> None:
    """What a reader of a run (ENG, ``generate.py``) checks: ``state.json``'s own digest and ``space.json``'s."""
    path = Path(run_dir) / "state.json"
    if state.get("digest") != state_digest(state):
        raise RunDirectoryError(f"{path} does not match the digest it was written with (edited, corrupted, or "
                                f"written by an older ddp-core); {FIX}")
    files = state.get("files")
    if not isinstance(files, dict):
        raise RunDirectoryError(f"{path}: files must name the digest of space.json; {FIX}")
    verify_file(Path(run_dir) / "space.json", files.get("space.json"))


def check_records(rows: list[Any], search: DDPSearch, path: Path, state: dict[str, Any],
                  failed: list[tuple[int, int, int, tuple[int, ...]]]) -> None:
    """Each ``records.jsonl`` line: ``[stage, round, architecture, score]`` in order, valid for the space, and
    agreeing with ``state.json``: the open round's scores are its pending scores, and the closed rounds of a
    stage are equally long (a duplicated or dropped record shows even when its digest was re-signed)."""
    checker = StateChecker(search, path)
    stage, current = state["counters"]["stage"], state["counters"]["round"]
    last = (0, 0)
    sizes: dict[tuple[int, int], int] = {}
    for i, row in enumerate(rows):
        where = f"line {i + 1}"
        if not isinstance(row, list) or len(row) != 4:
            raise checker.fail(where, "must be [stage, round, architecture, score]")
        at = (checker.integer(f"{where} stage", row[0], 0, stage), checker.integer(f"{where} round", row[1], 0))
        if at < last or at > (stage, current):
            raise checker.fail(where, f"is out of order (stage, round {at} after {last}, open round {(stage, current)})")
        last = at
        checker.architecture(f"{where} architecture", row[2])
        score = row[3]
        if isinstance(score, bool) or not isinstance(score, numbers.Real) or not math.isfinite(score):
            raise checker.fail(f"{where} score", f"must be a finite number, got {_short(score)}")
        sizes[at] = sizes.get(at, 0) + 1
    for _, failed_stage, failed_round, _ in failed:
        sizes[(failed_stage, failed_round)] = sizes.get((failed_stage, failed_round), 0) + 1
    told = sorted((tuple(a), v) for s, t, a, v in rows if (s, t) == (stage, current))
    pending = sorted((tuple(a), v) for a, v in zip(state["pending"], state["pending_scores"], strict=True)
                     if v is not None and v != FAILED)
    if told != pending:
        raise checker.fail("records of the open round", "differ from the scores state.json holds for it")
    for s in range(stage + 1):
        closed = {n for (s_, t), n in sizes.items() if s_ == s and (s, t) < (stage, current)}
        if len(closed) > 1:
            raise checker.fail(f"stage {s}", f"has rounds of different lengths {sorted(closed)} (a record was "
                               "duplicated or removed)")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
