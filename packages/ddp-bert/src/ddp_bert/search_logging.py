"""Search callbacks for ddp-core: a tqdm progress bar and a JSON-lines log of every trained sub-network."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tqdm.auto import tqdm


class TqdmProgress:
    """One progress bar over the search's trained architectures, with the last score and loss."""

    def __init__(self, disable: bool = False) -> None:
        self.disable = disable
        self.bar: tqdm | None = None

    def on_sample(self, search, event: dict) -> None:
        """Advance the bar by one trained architecture."""
        if self.bar is None:
            self.bar = tqdm(total=event["total_steps"], initial=event["step"] - 1, desc="search",
                            unit="arch", disable=self.disable)
        self.bar.total = max(event["total_steps"], event["step"])
        self.bar.update(1)
        loss = getattr(search.evaluator, "last_loss", float("nan"))
        self.bar.set_postfix(stage=event["stage"], score=f"{event['score']:.4f}", loss=f"{loss:.4f}")

    def on_stage_end(self, search, info: dict) -> None:
        """Print what the stage pruned."""
        if self.disable:
            return
        pruned = ", ".join(f"{p['decision']}:{p['candidate']}" for p in info["pruned"])
        action = "postponed pruning" if info["postponed"] else f"pruned {pruned or 'nothing'}"
        tqdm.write(f"stage {info['stage']} done (Theorem-3 bound {info['max_bound']:.3g}): {action}")

    def on_end(self, search, result) -> None:
        """Close the bar."""
        if self.bar is not None:
            self.bar.close()


class JsonlLogger:
    """Appends one JSON line per trained architecture (and per stage) to ``path``."""

    def __init__(self, path: str | Path, evaluator) -> None:
        self.path = Path(path)
        self.evaluator = evaluator
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _write(self, record: dict) -> None:
        with self.path.open("a") as stream:
            stream.write(json.dumps(record) + "\n")

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
