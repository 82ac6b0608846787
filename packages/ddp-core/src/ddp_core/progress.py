"""What every search tool shows while it runs and when it ends: one progress bar, tracker scalars, a summary.

Framework-free: the bar uses tqdm when it is installed (plain lines otherwise), the tracker callback hands
plain dicts to whatever ``log(values, step)`` a tool passes (``accelerator.log`` for accelerate's trackers).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


class ProgressPrinter:
    """Prints one line per scored architecture and one per stage (logs, CI, scripts without a terminal)."""

    def __init__(self, every: int = 1, stream: Any = None) -> None:
        self.every = every
        self.stream = stream

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def on_sample(self, search: Any, event: dict[str, Any]) -> None:
        if event["step"] % self.every == 0:
            seconds = "" if event.get("seconds") is None else f" ({event['seconds']:.2f}s)"
            self._print(
                f"[{event['step']}/{event['total_steps']}] stage {event['stage']} round {event['round']} "
                f"({event['index']}/{event['round_size']}) score {event['score']:.4f}{seconds}"
            )

    def on_stage_end(self, search: Any, info: dict[str, Any]) -> None:
        self._print(stage_line(info))


def stage_line(info: dict[str, Any]) -> str:
    names = ", ".join(f"{p['decision']}:{p['candidate']}" for p in info["pruned"][:6])
    more = "" if len(info["pruned"]) <= 6 else f" (+{len(info['pruned']) - 6} more)"
    action = "postponed pruning" if info["postponed"] else f"pruned {names}{more}" if names else "nothing pruned"
    bound = info["max_bound"]
    shown = f"{bound:.3g}" if bound == bound else "n/a (no candidate scored twice)"
    return f"stage {info['stage']} done: max Theorem-3 bound {shown}; {action}"


class ProgressBar:
    """One bar over the whole search that ends at 100% (its total follows ``search.total_steps``)."""

    def __init__(self, description: str = "search", disable: bool = False, stream: Any = None) -> None:
        self.description = description
        self.disable = disable
        self.stream = stream or sys.stderr
        self.bar = None

    def _open(self, search: Any) -> None:
        try:
            from tqdm.auto import tqdm
        except ImportError:  # plain lines instead
            self.bar = ProgressPrinter(every=max(1, search.total_steps // 20), stream=self.stream)
            return
        # opened by the first on_sample, whose step tell() has already counted: update(1) adds it
        self.bar = tqdm(total=search.total_steps, initial=max(search.steps - 1, 0), desc=self.description, unit="arch",
                        disable=self.disable, file=self.stream, dynamic_ncols=True)

    def on_sample(self, search: Any, event: dict[str, Any]) -> None:
        if self.bar is None:
            self._open(search)
        if isinstance(self.bar, ProgressPrinter):
            self.bar.on_sample(search, event)
            return
        self.bar.total = event["total_steps"]
        self.bar.set_postfix(stage=event["stage"], score=f"{event['score']:.4g}", refresh=False)
        self.bar.update(1)

    def on_stage_end(self, search: Any, info: dict[str, Any]) -> None:
        if self.bar is not None and not isinstance(self.bar, ProgressPrinter) and not self.disable:
            self.bar.write(stage_line(info))

    def on_end(self, search: Any, result: Any) -> None:
        if self.bar is not None and not isinstance(self.bar, ProgressPrinter):
            self.bar.total = search.steps
            self.bar.n = search.steps
            self.bar.refresh()
        self.close()

    def close(self) -> None:
        """Close the bar (DDPSearch.run calls this when a search stops on an error, so the error line is clean)."""
        if self.bar is not None and not isinstance(self.bar, ProgressPrinter):
            self.bar.close()
        self.bar = None


class TrackerCallback:
    """Sends each score and each stage's pruning count to ``log(values, step=...)`` (e.g. ``accelerator.log``)."""

    def __init__(self, log: Any, prefix: str = "search") -> None:
        self.log = log
        self.prefix = prefix

    def on_sample(self, search: Any, event: dict[str, Any]) -> None:
        self.log({f"{self.prefix}/score": event["score"], f"{self.prefix}/stage": event["stage"]}, step=event["step"])

    def on_stage_end(self, search: Any, info: dict[str, Any]) -> None:
        values = {f"{self.prefix}/pruned": len(info["pruned"])}
        if info["max_bound"] == info["max_bound"]:  # not NaN
            values[f"{self.prefix}/max_bound"] = info["max_bound"]
        self.log(values, step=search.steps)


def final_summary(run_dir: str | Path, result: Any, next_command: str | None = None,
                  extra: dict[str, str] | None = None, answer: str | None = None) -> str:
    """A few human lines for the end of a search tool: the answer, how it was chosen, files, what to run next.

    ``answer`` replaces the answer line, for a tool that printed its own recommendation (DARTS: the genotype
    under the cell rule, not the search's unconstrained answer)."""
    lines = [f"search finished: {result.steps} evaluations"]
    if answer is not None:
        lines.append(f"answer: {answer}")
    else:
        described = result.describe()
        shown = ", ".join(f"{k}={v}" for k, v in list(described.items())[:8])
        more = "" if len(described) <= 8 else f", ... ({len(described)} decisions)"
        lines.append(f"answer ({result.answer.get('source', 'argmax θ')}): {shown}{more}")
        if tuple(result.theta_architecture) != tuple(result.architecture):
            lines.append("argmax θ differs from the answer; both are in summary.json")
    for key, value in (extra or {}).items():
        lines.append(f"{key}: {value}")
    lines.append(f"run directory: {run_dir} (summary.json, records.jsonl, theta_history.png)")
    if next_command:
        lines.append(f"next: {next_command}")
    return "\n".join(lines)
