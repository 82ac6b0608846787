"""BERT search callbacks for ddp-core: a JSON-lines log of every trained sub-network and its tracker scalars.

The progress bar, the score/stage tracker scalars and the final summary are ddp-core's
(``ProgressBar``, ``TrackerCallback``, ``final_summary``); these add what only a BERT search knows: the
training loss and every official metric of the task.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ddp_core import write_text_atomic


class JsonlLogger:
    """Appends one JSON line per trained architecture (and per stage) to ``path`` (``log.jsonl``)."""

    def __init__(self, path: str | Path, evaluator) -> None:
        self.path = Path(path)
        self.evaluator = evaluator

    def _write(self, record: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as stream:
            stream.write(json.dumps(record) + "\n")

    def trim(self, steps: int, stage: int) -> None:
        """Drop lines past a resumed search's saved state (written after its last checkpoint before a crash),
        so the log holds one line per recorded evaluation."""
        if not self.path.exists():
            return
        kept = []
        for line in self.path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a kill
                continue
            if (entry.get("kind") == "sample" and entry.get("step", 0) <= steps) or \
                    (entry.get("kind") == "stage" and entry.get("stage", 0) < stage):
                kept.append(line)
        write_text_atomic(self.path, "".join(line + "\n" for line in kept))

    def on_sample(self, search, event: dict) -> None:
        """Log one trained architecture: score, loss, every metric."""
        record = {key: value for key, value in event.items() if key != "architecture"}
        record.update(
            kind="sample", time=time.time(), architecture=list(event["architecture"]),
            described=search.space.describe(event["architecture"]),
            loss=getattr(self.evaluator, "last_loss", None), metrics=getattr(self.evaluator, "last_metrics", {}),
        )
        self._write(record)

    def on_stage_end(self, search, info: dict) -> None:
        """Log a stage's pruning."""
        self._write({"kind": "stage", "time": time.time(), "stage": info["stage"], "pruned": info["pruned"],
                     "max_bound": info["max_bound"], "postponed": info["postponed"]})


class MetricsTracker:
    """Sends the training loss and every task metric of each trained sub-network to ``log(values, step=...)``
    (``accelerator.log``: TensorBoard, W&B), beside ddp-core's ``TrackerCallback`` scores."""

    def __init__(self, log, evaluator, prefix: str = "search") -> None:
        self.log = log
        self.evaluator = evaluator
        self.prefix = prefix

    def on_sample(self, search, event: dict) -> None:
        values = {f"{self.prefix}/{name}": value for name, value in self.evaluator.last_metrics.items()}
        values[f"{self.prefix}/loss"] = self.evaluator.last_loss
        self.log(values, step=event["step"])
