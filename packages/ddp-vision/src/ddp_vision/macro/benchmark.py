"""Reading the NAS-Bench-Macro table: the trained accuracies, parameters and MACs of all 6561 keys."""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ddp_vision.macro.space import architecture_to_key

FILE_NAME = "nas-bench-macro_cifar10.json"
ENVIRONMENT_VARIABLE = "DDPNAS_NAS_BENCH_MACRO"


def default_locations() -> list[pathlib.Path]:
    """Where :meth:`NasBenchMacro.load` looks: ``$DDPNAS_NAS_BENCH_MACRO``, then ``data/nas-bench-macro/`` of the
    current directory and of the ddpnas checkout this package lives in."""
    places = [pathlib.Path(os.environ[ENVIRONMENT_VARIABLE])] if os.environ.get(ENVIRONMENT_VARIABLE) else []
    places.append(pathlib.Path("data/nas-bench-macro") / FILE_NAME)
    checkout = pathlib.Path(__file__).resolve().parents[5]  # packages/ddp-vision/src/ddp_vision/macro/
    places.append(checkout / "data/nas-bench-macro" / FILE_NAME)
    return places


@dataclass(frozen=True)
class MacroEntry:
    """One benchmark row: three test accuracies (percent) of separately trained networks and their costs."""

    key: str
    test_acc: tuple[float, ...]
    mean_acc: float
    std: float
    params: int
    flops: int


class NasBenchMacro:
    """The benchmark table, looked up by key or architecture.

    Parameters
    ----------
    entries : mapping of str to MacroEntry
    """

    def __init__(self, entries: Mapping[str, MacroEntry]) -> None:
        self.entries = dict(entries)

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> NasBenchMacro:
        """Read the JSON (default: the first of :func:`default_locations` that exists)."""
        if path is None:
            path = next((p for p in default_locations() if p.is_file()), None)
            if path is None:
                raise FileNotFoundError(
                    f"NAS-Bench-Macro JSON not found; pass its path or set ${ENVIRONMENT_VARIABLE} to "
                    f"{FILE_NAME} (from the xiusu/NAS-Bench-Macro repository, data/ folder)"
                )
        path = pathlib.Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"NAS-Bench-Macro JSON {path} does not exist")
        raw = json.loads(path.read_text())
        entries = {
            key: MacroEntry(key, tuple(v["test_acc"]), float(v["mean_acc"]), float(v["std"]), int(v["params"]), int(v["flops"]))
            for key, v in raw.items()
        }
        return cls(entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, key_or_architecture: str | Sequence[int]) -> MacroEntry:
        key = key_or_architecture if isinstance(key_or_architecture, str) else architecture_to_key(key_or_architecture)
        try:
            return self.entries[key]
        except KeyError:
            raise KeyError(f"NAS-Bench-Macro has no key {key!r}") from None

    def rank_percentile(self, key_or_architecture: str | Sequence[int]) -> float:
        """Fraction of the benchmark's keys whose mean accuracy is below this one's (1.0 = the best)."""
        mean = self[key_or_architecture].mean_acc
        below = sum(1 for e in self.entries.values() if e.mean_acc < mean)
        return below / len(self.entries)

    def rank_correlation(self, architectures: Sequence[Sequence[int]], scores: Sequence[float]) -> dict[str, float]:
        """Kendall's tau between ``scores`` (e.g. supernet validation accuracies) and the benchmark's accuracies.

        Repeated architectures keep their mean score. A weight-sharing search ranks well when tau is high.
        """
        from scipy.stats import kendalltau

        by_key: dict[str, list[float]] = {}
        for architecture, score in zip(architectures, scores, strict=True):
            by_key.setdefault(architecture_to_key(architecture), []).append(float(score))
        keys = sorted(by_key)
        if len(keys) < 2:
            raise ValueError("a rank correlation needs at least two distinct architectures")
        ours = [sum(v) / len(v) for v in (by_key[k] for k in keys)]
        theirs = [self.entries[k].mean_acc for k in keys]
        tau, p_value = kendalltau(ours, theirs)
        return {"kendall_tau": float(tau), "p_value": float(p_value), "architectures": len(keys)}

    def best(self) -> MacroEntry:
        """The entry with the highest mean test accuracy."""
        return max(self.entries.values(), key=lambda e: e.mean_acc)
