"""Latency lookup tables: every candidate block timed at its position, inside whole networks, on the user's device.

Each part (stem, prefix blocks, each candidate, head) is timed between forward hooks while whole networks run,
so it sees the caches, allocator and thread pool it sees in deployment; its time is the mean of ``repeats``
samples after ``warmup`` untimed passes (CUDA work is synchronised before each clock read). A network's
predicted latency is the sum of its parts, which makes latency an additive ENG constraint (``latency_ms`` cost
table). The table records the device, thread count and batch it was measured with;
:func:`check_latency_table` times whole networks (without hooks) against the sum.
"""

from __future__ import annotations

import os
import pathlib
import platform
import statistics
import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from ddp_core import write_json_atomic
from ddp_vision.mobilenet.network import LayerwiseMobileNet
from ddp_vision.mobilenet.space import LayerwiseSpace, space_from_metadata

TABLE_FORMAT = "ddpnas.latency_table/1"


def time_module_ms(
    module: nn.Module, example: torch.Tensor, repeats: int = 30, warmup: int = 5, statistic: str = "median"
) -> float:
    """Median (or ``statistic="mean"``) wall-clock milliseconds of ``module(example)`` over ``repeats`` runs,
    warm-up excluded.

    Denormal floats are flushed to zero while timing (and the setting reset to PyTorch's default after).
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    module.eval()
    cuda = example.device.type == "cuda"
    samples = []
    # Untrained networks shrink activations into denormal floats deep in the body, which slow CPUs several-fold
    # and would make whole networks look much slower than their blocks; trained networks do not do this.
    torch.set_flush_denormal(True)
    try:
        with torch.inference_mode():
            for i in range(warmup + repeats):
                if cuda:
                    torch.cuda.synchronize(example.device)
                start = time.perf_counter()
                module(example)
                if cuda:
                    torch.cuda.synchronize(example.device)
                if i >= warmup:
                    samples.append((time.perf_counter() - start) * 1e3)
    finally:
        torch.set_flush_denormal(False)
    return float(statistics.fmean(samples) if statistic == "mean" else statistics.median(samples))


def device_description(device: torch.device) -> str:
    """A human-readable name of the device the table was measured on."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.machine()} CPU, {torch.get_num_threads()} threads ({platform.processor() or platform.system()})"


def covering_architectures(space: LayerwiseSpace) -> list[list[int]]:
    """Architectures that together contain every candidate of every decision: the k-th takes candidate k
    wherever a decision has one (else candidate 0)."""
    widest = max(len(row) for row in space.choices)
    return [[k if k < len(row) else 0 for row in space.choices] for k in range(widest)]


def _parts_of(space: LayerwiseSpace, network: LayerwiseMobileNet, arch: Sequence[int]) -> list[tuple[str, nn.Module]]:
    """(label, module) of each part of ``network`` in order: ``stem``, ``prefix``, ``(e, k)`` per decision, ``head``."""
    modules = [module for stage in network.stages for module in stage]
    labels: list = ["stem"] + ["prefix"] * len(space.base.blocks)
    labels += [(e, int(k)) for e, k in enumerate(arch) if space.choices[e][int(k)][1] is not None]
    if len(labels) != len(modules):
        raise RuntimeError(f"the network has {len(modules)} blocks but its architecture names {len(labels)}")
    return [*zip(labels, modules, strict=True), ("head", network.head)]


def _in_context_samples(space: LayerwiseSpace, archs: Sequence[Sequence[int]], device: torch.device, batch_size: int,
                        repeats: int, warmup: int, progress: bool) -> dict:
    """Per-part milliseconds, each part timed inside a whole network's forward pass (forward hooks around it).

    The networks run in turns, one forward each per round, so a change of machine load falls on all of them alike.
    """
    cuda = device.type == "cuda"
    networks = [LayerwiseMobileNet(space.network_config(arch)).to(device).eval() for arch in archs]
    x = torch.randn(batch_size, space.base.in_channels, space.base.resolution, space.base.resolution, device=device)
    samples: dict = {}
    clock: dict[str, float] = {}

    def clock_read() -> float:
        if cuda:
            torch.cuda.synchronize(device)
        return time.perf_counter()

    handles = []
    for network, arch in zip(networks, archs, strict=True):
        for label, module in _parts_of(space, network, arch):
            def before(_module, _inputs, label=label):
                clock[str(label)] = clock_read()

            def after(_module, _inputs, _output, label=label):
                samples.setdefault(label, []).append((clock_read() - clock[str(label)]) * 1e3)
            handles += [module.register_forward_pre_hook(before), module.register_forward_hook(after)]
    torch.set_flush_denormal(True)  # see time_module_ms
    try:
        with torch.inference_mode():
            for _ in range(warmup):
                for network in networks:
                    network(x)
            samples.clear()
            for _ in tqdm(range(repeats), desc="latency table", disable=not progress):
                for network in networks:
                    network(x)
    finally:
        torch.set_flush_denormal(False)
        for handle in handles:
            handle.remove()
    return samples


def measure_latency_table(
    space: LayerwiseSpace,
    device: str | torch.device = "cpu",
    batch_size: int = 1,
    repeats: int = 30,
    warmup: int = 5,
    progress: bool = True,
) -> dict[str, Any]:
    """Time the fixed parts and every candidate of ``space`` in context; return the JSON-ready table.

    Every part is timed inside whole networks (:func:`covering_architectures`), between forward hooks, with the
    thread count in force (recorded as ``threads``): a block alone on a cold tensor, or with another thread
    setting than the network's, times differently from the same block inside the network, and a table built
    that way mispredicted whole networks by up to 15x on a busy CPU. ``fixed_ms`` is the mean time of the stem,
    prefix blocks and head; each candidate, the mean of its own samples; a ``zero`` (skipped) block costs 0.

    Returns
    -------
    dict
        ``fixed_ms``, ``per_candidate_ms`` (one row per decision), the parts, and how it was measured (device,
        threads, batch, repeats, warm-up, method, torch version, space metadata).
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was requested but torch sees no CUDA device; use --device cpu")
    samples = _in_context_samples(space, covering_architectures(space), device, batch_size, repeats, warmup,
                                  progress)
    # The mean, not the median: on a busy CPU the scheduler preempts a forward pass now and then, inside one part
    # or another; a short part's median never sees that, so medians summed to half of a whole network's time
    # (measured: 8 ms predicted, 17 ms measured). Means add up to the mean forward pass, preemption included.
    mean = statistics.fmean
    # every forward appends its prefix blocks' samples in order: position i is every n-th sample
    n = len(space.base.blocks)
    prefix = sum(mean(samples["prefix"][i::n]) for i in range(n)) if n else 0.0
    parts = {"stem": mean(samples["stem"]), "prefix": prefix, "head": mean(samples["head"])}
    rows = [[0.0 if block is None else float(mean(samples[(e, k)])) for k, (_, block) in enumerate(row)]
            for e, row in enumerate(space.choices)]
    return {
        "format": TABLE_FORMAT,
        "device": str(device),
        "device_name": device_description(device),
        "threads": torch.get_num_threads() if device.type == "cpu" else None,
        "interop_threads": torch.get_num_interop_threads() if device.type == "cpu" else None,
        "batch_size": batch_size,
        "repeats": repeats,
        "warmup": warmup,
        "statistic": "mean",
        "method": "in context: each part timed between forward hooks inside whole networks, networks in turns",
        "torch": torch.__version__,
        "space": space.metadata(),
        "parts_ms": {key: float(value) for key, value in parts.items()},
        "fixed_ms": float(sum(parts.values())),
        "per_candidate_ms": rows,
    }


def check_latency_table(
    space: LayerwiseSpace,
    table: Mapping[str, Any],
    architectures: Sequence[Sequence[int]],
    repeats: int = 30,
    warmup: int = 5,
) -> list[dict[str, float]]:
    """Predicted (table sum) versus measured (whole network, no hooks) latency of some architectures, with the
    relative error ``|predicted - measured| / measured``."""
    device = torch.device(table["device"])
    out = []
    for arch in architectures:
        predicted = table["fixed_ms"] + sum(table["per_candidate_ms"][e][k] for e, k in enumerate(arch))
        network = LayerwiseMobileNet(space.network_config(arch)).to(device)
        x = torch.randn(table["batch_size"], space.base.in_channels, space.base.resolution, space.base.resolution, device=device)
        # the table's own statistic: a mean of parts predicts a mean of whole passes
        measured = time_module_ms(network, x, repeats, warmup, statistic=table.get("statistic", "median"))
        out.append({"architecture": [int(k) for k in arch], "predicted_ms": float(predicted),
                    "measured_ms": measured, "relative_error": abs(predicted - measured) / max(measured, 1e-9)})
    return out


def save_latency_table(path: str | os.PathLike[str], table: Mapping[str, Any]) -> None:
    """Write a latency table as JSON (atomically)."""
    write_json_atomic(path, dict(table))


def load_latency_table(path: str | os.PathLike[str], space: LayerwiseSpace | None = None) -> dict[str, Any]:
    """Read a latency table; with ``space``, check it was measured for that exact space."""
    from ddp_core.persistence import read_json_document

    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"latency table {path} does not exist; measure one with "
            "`python tools/measure_latency.py --run-dir RUN_DIR --device cpu --batch 1`"
        )
    fix = "measure it again with tools/measure_latency.py"
    table = read_json_document(path, "a latency table", fix)
    if table.get("format") != TABLE_FORMAT:
        raise ValueError(f"{path} is not a latency table (format {table.get('format')!r}, expected {TABLE_FORMAT!r})")
    if space is not None:
        try:
            measured_for = space_from_metadata(table["space"])
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"latency table {path} does not describe the space it was measured for "
                             f"({' '.join(str(error).split())[:80]}); {fix}") from None
        if measured_for != space:
            raise ValueError(
                f"latency table {path} was measured for a different space ({table['space']}); "
                "measure it again for this run's space"
            )
    return table


def latency_cost_table(table: Mapping[str, Any]):
    """The ddp-core ``latency_ms`` cost table of a latency lookup table."""
    from ddp_core import CostTable

    return CostTable("latency_ms", float(table["fixed_ms"]), table["per_candidate_ms"])


