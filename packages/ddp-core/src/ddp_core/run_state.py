"""Saving and resuming a DDPSearch: state.json + records.jsonl + the evaluator's checkpoint, one writer at a time."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddp_core.config import FLAGS
from ddp_core.persistence import (
    TEMPORARY_SUFFIX,
    _umask,
    remove_other_directories,
    replace_directory,
    write_json_atomic,
)
from ddp_core.run_checks import (
    FIX,
    StateChecker,
    check_records,
    directory_digests,
    state_digest,
    verify_directory,
    verify_file,
)
from ddp_core.rundir import (
    RecordLog,
    RunDirectoryError,
    RunLock,
    describe_mismatch,
    read_state,
    remove_stale_temporaries,
)
from ddp_core.search_rules import rules_to_list

if TYPE_CHECKING:
    from ddp_core.search import DDPSearch, SearchResult

FORMAT = 3  # 3: digests of every file, failed trials


class RunState:
    """The run directory side of a :class:`~ddp_core.search.DDPSearch` (none when ``run_dir`` is None)."""

    def __init__(self, search: DDPSearch, run_dir: str | Path | None, writes: bool, description: dict[str, Any]) -> None:
        self.search = search
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.writes = writes and self.run_dir is not None
        self.description = dict(description)
        self.notes: dict[str, str] = {}
        self.logged = 0
        self.lock: RunLock | None = None
        self.best_score: float | None = None
        self._answer: tuple[int, Any] | None = None  # (stage, SearchResult) of the last summary
        self.log = RecordLog(self.run_dir / "records.jsonl") if self.run_dir is not None else None
        self.files: dict[str, str] = {}  # sha256 of space.json and config.json, as written
        if self.writes:
            self.lock = RunLock(self.run_dir).acquire()
            remove_stale_temporaries(self.run_dir)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        s = self.search
        return {
            "format": FORMAT,
            "space": s.space.signature(),
            "config": s.config.signature(),
            "description": self.description,
            "distribution": s.distribution.state_dict(),
            "sampler": s.sampler.state_dict(),
            "records": len(s.record.records),
            "counters": {
                "stage": s.stage, "round": s.round, "steps": s.steps, "postponed": s.postponed,
                "finished": s.finished, "stage_rounds": s.stage_rounds, "rounds_per_stage": s.rounds_per_stage,
            },
            "pending": [list(a) for a in s.pending],
            "pending_scores": list(s.pending_scores),
            "history": s.history,
            "notes": self.notes,
            "failed": s.trial_log.state_list(),
            "records_sha256": self.log.digest if self.log is not None else None,
            "higher_is_better": s.higher_is_better,
            "files": dict(self.files),
            **({} if s.budgets is None else {"budget_costs": s.budgets.to_dict()}),
            **({} if s.budgets is None or not s.budgets.rules else {"budget_rules": rules_to_list(s.budgets.rules)}),
        }

    def load_state_dict(self, state: dict[str, Any], records: list[list[Any]]) -> None:
        """Load a state that :meth:`check` accepted (or one built in memory by the same version)."""
        s = self.search
        s.distribution.load_state_dict(state["distribution"])
        s.sampler.load_state_dict(state["sampler"])
        s.record.load_state_dict({"records": records})
        c = state["counters"]
        s.stage, s.round, s.steps = int(c["stage"]), int(c["round"]), int(c["steps"])
        s.postponed, s.finished = int(c["postponed"]), bool(c["finished"])
        s.stage_rounds, s.rounds_per_stage = int(c["stage_rounds"]), int(c["rounds_per_stage"])
        s.trial_log.failed = [(int(n), int(st), int(r), tuple(int(k) for k in a)) for n, st, r, a in state.get("failed", [])]
        s.steps_before_stage = sum(1 for r in s.record.records if r.stage < s.stage) + sum(
            1 for failure in s.trial_log.failed if failure[1] < s.stage)
        s.pending = [tuple(int(k) for k in a) for a in state["pending"]]
        s.pending_scores = [v if v is None or v == "failed" else float(v) for v in state["pending_scores"]]
        s.history = state["history"]
        self.notes = dict(state.get("notes", {}))
        self.files = dict(state.get("files", {}))
        self.logged = len(records)
        self._track_best(0)

    def check(self, state: dict[str, Any]) -> None:
        """Refuse a state this search cannot continue: another version, other settings, a corrupt field."""
        s = self.search
        where = self.run_dir or "the saved state"
        path = (self.run_dir or Path(".")) / "state.json"
        if state.get("format") != FORMAT:
            raise RunDirectoryError(f"{path} was written by another version of ddp-core (format "
                                    f"{state.get('format')!r}, need {FORMAT}); start a new --run-dir")
        if state.get("digest") != state_digest(state):
            raise RunDirectoryError(f"{path} does not match the digest it was written with (edited or corrupted); "
                                    f"{FIX}")
        problems = describe_mismatch(state.get("config", {}), s.config.signature(), FLAGS)
        problems += describe_mismatch(state.get("description", {}), self.description)
        saved_costs, costs = state.get("budget_costs") or {}, {} if s.budgets is None else s.budgets.to_dict()
        problems += [f"the {name} cost table of the budgets (DDPSearch costs=): differs from the saved one"
                     for name in sorted(set(saved_costs) & set(costs)) if saved_costs[name] != costs[name]]
        if set(saved_costs) != set(costs):  # the costs steer the targets (budgets, or the spread without them)
            problems.append(f"the cost tables given to the search (DDPSearch costs=): saved "
                            f"{sorted(saved_costs) or 'none'}, now {sorted(costs) or 'none'}")
        rules = [] if s.budgets is None else rules_to_list(s.budgets.rules)
        if (state.get("budget_rules") or []) != rules:  # they steer the budgeted targets too
            problems.append(f"the count constraints given to the search (DDPSearch count_constraints=): saved "
                            f"{len(state.get('budget_rules') or [])}, now {len(rules)} (or different ones)")
        if state.get("space") != s.space.signature() and not problems:
            raise RunDirectoryError(f"{where} was written for a different search space ({path.name}); use a new "
                                    "--run-dir or the original space settings")
        if problems:  # named flags explain a different space too (e.g. --stage-depths)
            raise RunDirectoryError(f"cannot resume {where}: settings differ from the saved run in {path.name} ("
                                    + "; ".join(problems) + "); pass the saved values or use a new --run-dir")
        checker = StateChecker(s, path)
        failed = checker.check_failed(state.get("failed"), state.get("records") if isinstance(
            state.get("records"), int) and not isinstance(state.get("records"), bool) else 0)
        checker.check(state, len(failed))  # what a re-signed edit still cannot pass

    def resume_if_present(self) -> None:
        if self.run_dir is None or not (self.run_dir / "state.json").exists():
            return
        state = read_state(self.run_dir / "state.json")
        self.check(state)
        files = state["files"]
        if not isinstance(files, dict) or set(files) != {"space.json", "config.json"}:
            raise RunDirectoryError(f"{self.run_dir / 'state.json'}: files must name the digests of space.json and "
                                    f"config.json; {FIX}")
        for name, digest in files.items():
            verify_file(self.run_dir / name, digest)
        rows = self.log.read(state["records"], state["records_sha256"], truncate=self.writes,
                             max_tail=self.search.config.checkpoint_every)
        failed = StateChecker(self.search, self.run_dir / "state.json").check_failed(state["failed"], len(rows))
        check_records(rows, self.search, self.run_dir / "records.jsonl", state, failed)
        checkpoint = state.get("checkpoint")
        evaluator = self.search.evaluator
        if checkpoint is not None and hasattr(evaluator, "load_checkpoint"):
            directory = self.run_dir / "checkpoints" / checkpoint
            verify_directory(directory, state.get("checkpoint_files"))  # before anything in it is read
            self.load_state_dict(state, rows)
            evaluator.load_checkpoint(directory)
        else:
            self.load_state_dict(state, rows)
        if self.writes:  # derived files follow the state they were made from
            write_json_atomic(self.run_dir / "summary.json", self.summary(), durable=False)

    def open(self) -> None:
        """A fresh run directory starts with no stale records (only what one killed first save can leave)."""
        if self.writes and not (self.run_dir / "state.json").exists():
            self.log.read(0, None, truncate=True, max_tail=self.search.config.checkpoint_every)

    def save_if_new(self) -> None:
        if self.writes and not (self.run_dir / "state.json").exists():
            self.save()

    def note(self, key: str, text: str) -> None:
        self.notes[key] = text

    def _track_best(self, start: int) -> None:
        s = self.search
        scores = [r.score for r in s.record.records[start:]]
        if scores:
            best = max(scores) if s.higher_is_better else min(scores)
            if self.best_score is None or (best > self.best_score) == s.higher_is_better:
                self.best_score = best

    def save(self) -> None:
        """Append new records, write the evaluator checkpoint, then state and summary; each step is atomic.

        ``state.json`` records the sha256 of everything else it names and of itself, so a resume can tell a
        file it wrote from an edited or corrupted one.
        """
        if not self.writes:
            return
        s, run_dir = self.search, self.run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        if "space.json" not in self.files:
            self.files["space.json"] = write_json_atomic(run_dir / "space.json", s.space.to_dict())
            self.files["config.json"] = write_json_atomic(run_dir / "config.json", dataclasses.asdict(s.config))
        new = s.record.records[self.logged :]
        self.log.append([[r.stage, r.round, list(r.architecture), r.score] for r in new])
        self._track_best(self.logged)
        self.logged = len(s.record.records)
        checkpoint, checkpoint_files = None, None
        if hasattr(s.evaluator, "save_checkpoint"):
            checkpoint = f"step-{s.steps:06d}"
            parent = run_dir / "checkpoints"
            parent.mkdir(exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{checkpoint}.", suffix=TEMPORARY_SUFFIX, dir=parent))
            os.chmod(tmp, 0o777 & ~_umask())
            s.evaluator.save_checkpoint(tmp)
            checkpoint_files = directory_digests(tmp)
            replace_directory(tmp, parent / checkpoint)
        state = self.state_dict()
        state["checkpoint"] = checkpoint
        state["checkpoint_files"] = checkpoint_files
        state["digest"] = state_digest(state)
        write_json_atomic(run_dir / "state.json", state)
        if checkpoint is not None:
            remove_other_directories(run_dir / "checkpoints", checkpoint)
        write_json_atomic(run_dir / "summary.json", self.summary(), durable=False)  # derived: no fsync

    def finish(self, result: SearchResult) -> None:
        if not self.writes:
            return
        from ddp_core.plotting import plot_theta_history

        write_json_atomic(self.run_dir / "summary.json", self.summary(result))
        plot_theta_history(self.search.space, self.search.history, self.run_dir / "theta_history.png")

    def close(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    # ------------------------------------------------------------------ summary
    def summary(self, result: SearchResult | None = None) -> dict[str, Any]:
        s = self.search
        if result is None:  # the answer as of the last stage end: fitting the model every step is wasted work
            if self._answer is None or self._answer[0] != s.stage:
                self._answer = (s.stage, s.result())
            result = self._answer[1]
        last = s.history["stages"][-1] if s.history["stages"] else None
        return {
            "finished": s.finished,
            "utility": s.config.utility,
            "stage": s.stage,
            "stages_planned": s.num_stages,
            "round": s.round,
            "rounds_per_stage": s.rounds_per_stage,
            "steps": s.steps,
            "evaluations": s.steps,
            "total_steps": s.total_steps,
            "max_evaluations": s.config.max_evaluations,
            "higher_is_better": s.higher_is_better,
            "architecture": list(result.architecture),
            "described": s.space.describe(result.architecture),
            "answer": result.answer,
            "theta_architecture": list(result.theta_architecture),
            "theta_described": s.space.describe(result.theta_architecture),
            "live_counts": {d.name: int(c) for d, c in zip(s.space.decisions, s.distribution.live_counts, strict=True)},
            "pruned": s.history["pruned"],
            "last_max_bound": None if last is None else last["max_bound"],
            "best_score_seen": self.best_score,
            "notes": self.notes,
        }
