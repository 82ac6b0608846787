"""NAS-Bench-Macro as a tabular oracle: a real search with no training (Su et al., CVPR 2021, Apache-2.0).

Every one of its 3^8 keys was trained from scratch three times on CIFAR-10 by the benchmark's authors. A
"train + validate" of the search is a lookup of one of the three seeds' accuracies, drawn at random each time,
which carries the noise of a real single estimate.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ddp_core.persistence import read_json_document
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


FILE_NAME = "nas-bench-macro_cifar10.json"
ENVIRONMENT_VARIABLE = "DDPNAS_NAS_BENCH_MACRO"


def default_locations() -> list[Path]:
    """Where :meth:`NasBenchMacro.load` looks: ``$DDPNAS_NAS_BENCH_MACRO``, then ``data/nas-bench-macro/`` of
    the current directory and of the ddpnas checkout this package is installed from (editable installs)."""
    places = [Path(os.environ[ENVIRONMENT_VARIABLE])] if os.environ.get(ENVIRONMENT_VARIABLE) else []
    places.append(Path("data/nas-bench-macro") / FILE_NAME)
    places.append(Path(__file__).resolve().parents[4] / "data/nas-bench-macro" / FILE_NAME)
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


def kendall_tau(x: Any, y: Any) -> float:
    """Kendall's tau-b of two equally long sequences (ties counted as in scipy's default)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    upper = np.triu_indices(len(x), k=1)
    dx = np.sign(x[:, None] - x[None, :])[upper]
    dy = np.sign(y[:, None] - y[None, :])[upper]
    denominator = np.sqrt(np.count_nonzero(dx) * np.count_nonzero(dy))
    return float(np.sum(dx * dy) / denominator) if denominator > 0 else float("nan")


def _read_entries(path: Path) -> dict[str, MacroEntry]:
    """The benchmark's rows, or one error naming the file and the fix (a cut download, an edited row)."""
    fix = f"restore it (it ships with this repository as data/nas-bench-macro/{FILE_NAME})"
    raw = read_json_document(path, "--benchmark (the NAS-Bench-Macro table)", fix)
    if not raw:
        raise ValueError(f"{path} is not a NAS-Bench-Macro table (an object of {3 ** 8} rows); {fix}")
    entries = {}
    for key, row in raw.items():
        try:
            if len(key) != sum(STAGE_LAYERS) or set(key) - set("012"):
                raise ValueError("key")
            accuracies = tuple(_finite(a, 0, 100) for a in row["test_acc"])
            if not accuracies:
                raise ValueError("test_acc")
            entries[key] = MacroEntry(key, accuracies, _finite(row["mean_acc"], 0, 100), _finite(row.get("std", 0.0), 0),
                                      _count(row["params"]), _count(row["flops"]))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ValueError(f"{path}: row {key[:20]!r} is not a NAS-Bench-Macro row (an 8-digit key of 0/1/2 with "
                             f"test_acc, mean_acc in [0, 100], params and flops); {fix}") from None
    return entries


def _finite(value: Any, low: float, high: float = float("inf")) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= float(value) <= high:
        raise ValueError(value)
    return float(value)


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(value)
    return value


class NasBenchMacro:
    """The benchmark table, looked up by key or architecture, with ranks over its 3969 distinct networks."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        if path is None:
            path = next((p for p in default_locations() if p.is_file()), None)
            if path is None:
                raise FileNotFoundError(
                    f"NAS-Bench-Macro table not found; pass its path or set ${ENVIRONMENT_VARIABLE}. It ships with "
                    f"this repository as data/nas-bench-macro/{FILE_NAME}"
                )
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"NAS-Bench-Macro table not found at {path}; it ships with this repository as "
                f"data/nas-bench-macro/{FILE_NAME} (pass --benchmark PATH)"
            )
        self.entries = _read_entries(path)
        distinct = {canonical_key(k): e.mean_acc for k, e in self.entries.items()}
        self.num_distinct = len(distinct)
        self._sorted_means = np.sort(np.array(list(distinct.values())))[::-1]

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> NasBenchMacro:
        return cls(path)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, key_or_architecture: str | Any) -> MacroEntry:
        key = key_or_architecture if isinstance(key_or_architecture, str) else key_of(key_or_architecture)
        try:
            return self.entries[key]
        except KeyError:
            raise KeyError(f"NAS-Bench-Macro has no key {key!r}") from None

    def rank(self, key: str | Any) -> int:
        """1 = best of the distinct networks by mean test accuracy."""
        return int(np.sum(self._sorted_means > self[key].mean_acc)) + 1

    def rank_percentile(self, key: str | Any) -> float:
        """Fraction of the benchmark's keys whose mean accuracy is below this one's (1.0 = the best)."""
        mean = self[key].mean_acc
        return sum(1 for e in self.entries.values() if e.mean_acc < mean) / len(self.entries)

    def rank_correlation(self, architectures: Any, scores: Any) -> dict[str, float]:
        """Kendall's tau between ``scores`` (e.g. supernet validation accuracies) and the benchmark's accuracies.

        Repeated architectures keep their mean score. A weight-sharing search ranks well when tau is high.
        """
        by_key: dict[str, list[float]] = {}
        for architecture, score in zip(architectures, scores, strict=True):
            by_key.setdefault(key_of(architecture), []).append(float(score))
        keys = sorted(by_key)
        if len(keys) < 2:
            raise ValueError("a rank correlation needs at least two distinct architectures")
        ours = [sum(v) / len(v) for v in (by_key[k] for k in keys)]
        theirs = [self.entries[k].mean_acc for k in keys]
        return {"kendall_tau": kendall_tau(ours, theirs), "architectures": len(keys)}

    def best(self) -> MacroEntry:
        """The entry with the highest mean test accuracy."""
        return max(self.entries.values(), key=lambda e: e.mean_acc)

    def best_key(self) -> str:
        return self.best().key


def noise_for_kendall_tau(benchmark: NasBenchMacro, tau: float, sample: int = 2000, seed: int = 0) -> float:
    """The std (accuracy in [0, 1]) of fresh Gaussian noise that makes single noisy scores and the true mean
    accuracies have Kendall ``tau`` over the benchmark (weight sharing: the paper's Fig. 7 measures ~0.57)."""
    if not 0.0 < tau < 1.0:
        raise ValueError(f"a target Kendall tau must be in (0, 1), got {tau!r}")
    rng = np.random.Generator(np.random.PCG64(seed))
    entries = list(benchmark.entries.values())
    picks = rng.choice(len(entries), size=min(sample, len(entries)), replace=False)
    truth = np.array([entries[i].mean_acc for i in picks]) / 100.0
    unit = rng.standard_normal(len(picks))
    low, high = 0.0, 1.0
    for _ in range(40):  # more noise, lower tau
        middle = (low + high) / 2
        low, high = (middle, high) if kendall_tau(truth, truth + middle * unit) > tau else (low, middle)
    return (low + high) / 2


class MacroOracle:
    """Evaluator: a lookup of one of the three trained seeds, drawn at random; accuracy in [0, 1]; with
    ``noise_sd``, plus fresh Gaussian noise (see :func:`noise_for_kendall_tau`)."""

    higher_is_better = True

    def __init__(self, benchmark: NasBenchMacro, seed: int = 0, noise_sd: float = 0.0) -> None:
        self.benchmark = benchmark
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.noise_sd = float(noise_sd)
        self.queries = 0

    def train(self, architecture: Architecture) -> None:
        """Nothing to train: the benchmark's authors trained every network."""

    def score(self, architecture: Architecture) -> float:
        self.queries += 1
        accuracies = self.benchmark.entries[key_of(architecture)].test_acc
        score = float(accuracies[int(self.rng.integers(len(accuracies)))]) / 100.0
        return score + float(self.rng.standard_normal()) * self.noise_sd if self.noise_sd else score

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "queries": self.queries}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load a saved state; anything but the RNG state and a query count raises ``ValueError``."""
        if not isinstance(state, dict):
            raise ValueError("an oracle state is an object with rng and queries")
        queries = state.get("queries")
        if isinstance(queries, bool) or not isinstance(queries, int) or queries < 0:
            raise ValueError(f"queries must be a whole number >= 0, got {queries!r}")
        rng = np.random.PCG64()
        try:
            rng.state = state.get("rng")
        except (TypeError, ValueError, KeyError, OverflowError, AttributeError):
            raise ValueError("rng is not a PCG64 generator state") from None
        self.rng.bit_generator.state = rng.state
        self.queries = queries

    def save_checkpoint(self, directory: Path) -> None:
        from ddp_core.persistence import write_json_atomic

        write_json_atomic(Path(directory) / "oracle.json", self.state_dict())

    def load_checkpoint(self, directory: Path) -> None:
        from ddp_core.rundir import RunDirectoryError, read_json_file

        path = Path(directory) / "oracle.json"
        try:
            self.load_state_dict(read_json_file(path, "an oracle state"))
        except RunDirectoryError:
            raise
        except ValueError as error:
            raise RunDirectoryError(f"{path}: {error}; restore it from a backup or start a new --run-dir") from None


def random_search(benchmark: NasBenchMacro, queries: int, seed: int, noise_sd: float = 0.0) -> str:
    """Best of ``queries`` random keys by one noisy observation each (the baseline at equal cost)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    keys = list(benchmark.entries)
    best_key, best_score = None, -np.inf
    for index in rng.integers(len(keys), size=queries):
        key = keys[int(index)]
        observed = benchmark.entries[key].test_acc[int(rng.integers(3))] / 100.0
        observed += float(rng.standard_normal()) * noise_sd if noise_sd else 0.0
        if observed > best_score:
            best_key, best_score = key, observed
    return best_key


def macro_search(benchmark: NasBenchMacro, config: Any, run_dir: Path | None = None, callbacks: tuple = (),
                 noise_sd: float = 0.0) -> dict[str, Any]:
    """Run DDPNAS on NAS-Bench-Macro; report the found key, its true accuracy, rank and queries."""
    from ddp_core.search import DDPSearch

    oracle = MacroOracle(benchmark, seed=config.seed, noise_sd=noise_sd)
    search = DDPSearch(macro_space(), oracle, config, run_dir=run_dir, callbacks=callbacks)
    result = search.run()
    key = key_of(result.architecture)
    return {
        "key": key,
        "described": result.describe(),
        "true_mean_acc": benchmark.entries[key].mean_acc,
        "rank": benchmark.rank(key),
        "queries": result.steps,
        "result": result,
    }


def compare_with_random(benchmark: NasBenchMacro, make_config: Any, seeds: int, noise_sd: float = 0.0) -> dict[str, Any]:
    """DDPNAS vs random search with the same number of queries (and the same score noise), over ``seeds`` seeds."""
    rows = []
    for seed in range(seeds):
        found = macro_search(benchmark, make_config(seed), noise_sd=noise_sd)
        baseline = random_search(benchmark, found["queries"], seed=10_000 + seed, noise_sd=noise_sd)
        rows.append({
            "seed": seed, "queries": found["queries"],
            "ddp_key": found["key"], "ddp_acc": found["true_mean_acc"], "ddp_rank": found["rank"],
            "random_key": baseline, "random_acc": benchmark.entries[baseline].mean_acc,
            "random_rank": benchmark.rank(baseline),
        })

    def stats(name: str) -> dict[str, float]:
        values = np.array([r[name] for r in rows], dtype=float)
        return {"mean": float(values.mean()), "std": float(values.std()), "median": float(np.median(values))}

    return {
        "seeds": seeds,
        "queries": rows[0]["queries"] if rows else 0,
        "ddp": {"acc": stats("ddp_acc"), "rank": stats("ddp_rank")},
        "random": {"acc": stats("random_acc"), "rank": stats("random_rank")},
        "ddp_better_or_equal": int(sum(r["ddp_rank"] <= r["random_rank"] for r in rows)),
        "rows": rows,
    }


def generate_cli(run_dir: Path, argv: list[str]) -> int:
    """ENG on a NAS-Bench-Macro run: ``tools/generate.py RUN_DIR --budget params_m=1.5 --budget flops_m=40``
    (the entry point that runs record; the generator is :mod:`ddp_core.tabular_generate`)."""
    from ddp_core.tabular_generate import cli

    return cli(run_dir, argv)
