"""Plain progress lines for scripts without tqdm."""

from __future__ import annotations

from typing import Any


class ProgressPrinter:
    """Prints one line per trained architecture and one per stage (for scripts without tqdm)."""

    def __init__(self, every: int = 1, stream: Any = None) -> None:
        self.every = every
        self.stream = stream

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def on_sample(self, search: Any, event: dict[str, Any]) -> None:
        if event["step"] % self.every == 0:
            self._print(
                f"[{event['step']}/{event['total_steps']}] stage {event['stage']} round {event['round']} "
                f"({event['index']}/{event['round_size']}) score {event['score']:.4f} ({event['seconds']:.2f}s)"
            )

    def on_stage_end(self, search: Any, info: dict[str, Any]) -> None:
        names = ", ".join(f"{p['decision']}:{p['candidate']}" for p in info["pruned"][:6])
        more = "" if len(info["pruned"]) <= 6 else f" (+{len(info['pruned']) - 6} more)"
        action = "postponed pruning" if info["postponed"] else f"pruned {names}{more}"
        self._print(f"stage {info['stage']} done: max Theorem-3 bound {info['max_bound']:.3g}; {action}")
