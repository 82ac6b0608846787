"""NAS-Bench-Macro as a tabular oracle: a real search with no training (Su et al., CVPR 2021, Apache-2.0).

Every one of its 3^8 keys was trained from scratch three times on CIFAR-10 by the benchmark's authors. A
"train + validate" of the search is a lookup of one of the three seeds' accuracies, drawn at random each time,
which carries the noise of a real single estimate.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ddp_core.space import Architecture, CostTable, Decision, SearchSpace

CHOICES = ("identity", "mb3_e3", "mb5_e6")
STAGE_LAYERS = (2, 3, 3)
STAGE_CHANNELS = (64, 128, 256)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
NUM_CLASSES = 10
INPUT_SIZE = 32


def macro_space() -> SearchSpace:
    """8 layer decisions x {identity, mb3_e3, mb5_e6}."""
    return SearchSpace(
        [Decision(f"layer{i}", CHOICES) for i in range(sum(STAGE_LAYERS))],
        metadata={"kind": "nas-bench-macro", "generator": "ddp_core.tabular:generate_cli"},
    )


def _layer_shapes() -> list[tuple[int, int, int, int]]:
    """(in_channels, out_channels, stride, input_size) of each searchable layer."""
    shapes = []
    channels, size = STEM_CHANNELS, INPUT_SIZE
    for layers, out in zip(STAGE_LAYERS, STAGE_CHANNELS, strict=True):
        for i in range(layers):
            stride = 2 if i == 0 else 1
            shapes.append((channels, out, stride, size))
            channels, size = out, size // stride
    return shapes


def _layer_cost(choice: str, cin: int, cout: int, stride: int, size: int) -> tuple[int, int]:
    """(params, MACs) of one layer; BatchNorm counts 2 parameters per channel and no MACs."""
    out_size = size // stride
    if choice == "identity":
        if stride == 1 and cin == cout:
            return 0, 0
        return cin * cout + 2 * cout, cin * cout * out_size * out_size
    kernel, expansion = {"mb3_e3": (3, 3), "mb5_e6": (5, 6)}[choice]
    hidden = cin * expansion
    params = cin * hidden + 2 * hidden + hidden * kernel * kernel + 2 * hidden + hidden * cout + 2 * cout
    macs = cin * hidden * size * size + hidden * kernel * kernel * out_size**2 + hidden * cout * out_size**2
    return params, macs


def macro_costs() -> dict[str, CostTable]:
    """Parameter and MAC tables: stem + head fixed, one row per layer, derived from the space description."""
    final_size = INPUT_SIZE // 2 ** len(STAGE_LAYERS)
    stem_params = 3 * STEM_CHANNELS * 9 + 2 * STEM_CHANNELS
    stem_macs = 3 * STEM_CHANNELS * 9 * INPUT_SIZE**2
    head_params = STAGE_CHANNELS[-1] * HEAD_CHANNELS + 2 * HEAD_CHANNELS + HEAD_CHANNELS * NUM_CLASSES + NUM_CLASSES
    head_macs = STAGE_CHANNELS[-1] * HEAD_CHANNELS * final_size**2 + HEAD_CHANNELS * NUM_CLASSES
    rows = [[_layer_cost(c, *shape) for c in CHOICES] for shape in _layer_shapes()]
    return {
        "params": CostTable("params", stem_params + head_params, [[p for p, _ in row] for row in rows]),
        "flops": CostTable("flops", stem_macs + head_macs, [[m for _, m in row] for row in rows]),
    }


def key_of(architecture: Architecture) -> str:
    return "".join(str(int(k)) for k in architecture)


def canonical_key(key: str) -> str:
    """Inside a stage, identity layers after the first are equivalent wherever they stand."""
    out, start = "", 0
    for layers in STAGE_LAYERS:
        stage = key[start : start + layers]
        rest = [c for c in stage[1:] if c != "0"]
        out += stage[0] + "".join(rest) + "0" * (layers - 1 - len(rest))
        start += layers
    return out


@dataclass
class MacroEntry:
    test_acc: tuple[float, float, float]
    mean_acc: float
    params: int
    flops: int


class NasBenchMacro:
    """The benchmark table with ranks over its 3969 distinct networks."""

    def __init__(self, path: str | os.PathLike) -> None:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(
                f"NAS-Bench-Macro table not found at {path}; it ships with this repository as "
                "data/nas-bench-macro/nas-bench-macro_cifar10.json (pass --benchmark PATH)"
            )
        raw = json.loads(path.read_text())
        if len(raw) != 3 ** sum(STAGE_LAYERS):
            raise ValueError(f"{path} has {len(raw)} keys; NAS-Bench-Macro has {3 ** sum(STAGE_LAYERS)}")
        self.entries = {
            k: MacroEntry(tuple(v["test_acc"]), float(v["mean_acc"]), int(v["params"]), int(v["flops"]))
            for k, v in raw.items()
        }
        distinct = {canonical_key(k): e.mean_acc for k, e in self.entries.items()}
        self.num_distinct = len(distinct)
        ordered = np.sort(np.array(list(distinct.values())))[::-1]
        self._sorted_means = ordered

    def rank(self, key: str) -> int:
        """1 = best of the distinct networks by mean test accuracy."""
        return int(np.sum(self._sorted_means > self.entries[key].mean_acc)) + 1

    def best_key(self) -> str:
        return max(self.entries, key=lambda k: self.entries[k].mean_acc)


class MacroOracle:
    """Evaluator: a lookup of one of the three trained seeds, drawn at random; accuracy in [0, 1]."""

    higher_is_better = True

    def __init__(self, benchmark: NasBenchMacro, seed: int = 0) -> None:
        self.benchmark = benchmark
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.queries = 0

    def train(self, architecture: Architecture) -> None:
        """Nothing to train: the benchmark's authors trained every network."""

    def score(self, architecture: Architecture) -> float:
        self.queries += 1
        accuracies = self.benchmark.entries[key_of(architecture)].test_acc
        return float(accuracies[int(self.rng.integers(len(accuracies)))]) / 100.0

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "queries": self.queries}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.queries = int(state["queries"])

    def save_checkpoint(self, directory: Path) -> None:
        from ddp_core.persistence import write_json_atomic

        write_json_atomic(Path(directory) / "oracle.json", self.state_dict())

    def load_checkpoint(self, directory: Path) -> None:
        from ddp_core.persistence import read_json

        self.load_state_dict(read_json(Path(directory) / "oracle.json"))


def random_search(benchmark: NasBenchMacro, queries: int, seed: int) -> str:
    """Best of ``queries`` random keys by one noisy observation each (the baseline at equal cost)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    keys = list(benchmark.entries)
    best_key, best_score = None, -np.inf
    for index in rng.integers(len(keys), size=queries):
        key = keys[int(index)]
        observed = benchmark.entries[key].test_acc[int(rng.integers(3))]
        if observed > best_score:
            best_key, best_score = key, observed
    return best_key
