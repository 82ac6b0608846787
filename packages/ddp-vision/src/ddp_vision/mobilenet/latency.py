"""Latency lookup tables: every candidate block timed alone at its position on the user's device.

Each block runs on a tensor of the shape it sees inside the network; the time of one forward pass is the
median of ``repeats`` timed runs after ``warmup`` untimed ones (CUDA work is synchronised before each clock
read). A network's predicted latency is the sum of its parts, which makes latency an additive ENG constraint
(``latency_ms`` cost table). The prediction ignores what happens between layers (memory traffic, launch gaps);
:func:`check_latency_table` measures whole networks to show how far off it is.
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
from ddp_vision.mobilenet.blocks import ClassifierHead, ConvBNAct, build_block
from ddp_vision.mobilenet.config import conv_output_size
from ddp_vision.mobilenet.network import LayerwiseMobileNet
from ddp_vision.mobilenet.space import LayerwiseSpace, space_from_metadata

TABLE_FORMAT = "ddpnas.latency_table/1"


def time_module_ms(
    module: nn.Module, example: torch.Tensor, repeats: int = 30, warmup: int = 5
) -> float:
    """Median wall-clock milliseconds of ``module(example)`` over ``repeats`` runs, warm-up excluded.

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
    return float(statistics.median(samples))


def device_description(device: torch.device) -> str:
    """A human-readable name of the device the table was measured on."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.machine()} CPU, {torch.get_num_threads()} threads ({platform.processor() or platform.system()})"


def measure_latency_table(
    space: LayerwiseSpace,
    device: str | torch.device = "cpu",
    batch_size: int = 1,
    repeats: int = 30,
    warmup: int = 5,
    progress: bool = True,
) -> dict[str, Any]:
    """Time the fixed parts and every candidate of ``space``; return the JSON-ready table.

    Returns
    -------
    dict
        ``fixed_ms``, ``per_candidate_ms`` (one row per decision, 0 for absent blocks), the parts, and how it
        was measured (device, batch, repeats, torch version, space metadata).
    """
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was requested but torch sees no CUDA device; use --device cpu")
    base = space.base
    act = base.activation
    size = base.resolution

    def timed(module: nn.Module, channels: int, size_in: int) -> float:
        x = torch.randn(batch_size, channels, size_in, size_in, device=device)
        return time_module_ms(module.to(device), x, repeats, warmup)

    total = 1 + len(base.blocks) + sum(len(row) for row in space.choices) + 1
    bar = tqdm(total=total, desc="latency table", disable=not progress)
    stem = ConvBNAct(base.in_channels, base.stem_channels, 3, base.stem_stride, activation=act)
    parts = {"stem": timed(stem, base.in_channels, size)}
    bar.update()
    size = conv_output_size(size, 3, base.stem_stride)
    channels = base.stem_channels
    prefix_ms = 0.0
    for block in base.blocks:
        prefix_ms += timed(build_block(block, channels, act), channels, size)
        size, channels = conv_output_size(size, block.kernel, block.stride), block.out_channels
        bar.update()
    parts["prefix"] = prefix_ms
    rows = []
    for row in space.choices:
        timings = []
        for _, block in row:
            timings.append(0.0 if block is None else timed(build_block(block, channels, act), channels, size))
            bar.update()
        rows.append(timings)
        stride = next((b.stride for _, b in row if b is not None), 1)
        size = conv_output_size(size, 1, stride)
        channels = next((b.out_channels for _, b in row if b is not None), channels)
    head = ClassifierHead(channels, base.head_channels, base.num_classes, act, 0.0)
    parts["head"] = timed(head, channels, size)
    bar.update()
    bar.close()
    return {
        "format": TABLE_FORMAT,
        "device": str(device),
        "device_name": device_description(device),
        "batch_size": batch_size,
        "repeats": repeats,
        "warmup": warmup,
        "statistic": "median",
        "torch": torch.__version__,
        "space": space.metadata(),
        "parts_ms": parts,
        "fixed_ms": sum(parts.values()),
        "per_candidate_ms": rows,
    }


def check_latency_table(
    space: LayerwiseSpace,
    table: Mapping[str, Any],
    architectures: Sequence[Sequence[int]],
    repeats: int = 30,
    warmup: int = 5,
) -> list[dict[str, float]]:
    """Predicted (table sum) versus measured (whole network) latency of some architectures."""
    device = torch.device(table["device"])
    out = []
    for arch in architectures:
        predicted = table["fixed_ms"] + sum(table["per_candidate_ms"][e][k] for e, k in enumerate(arch))
        network = LayerwiseMobileNet(space.network_config(arch)).to(device)
        x = torch.randn(table["batch_size"], space.base.in_channels, space.base.resolution, space.base.resolution, device=device)
        out.append({"predicted_ms": float(predicted), "measured_ms": time_module_ms(network, x, repeats, warmup)})
    return out


def save_latency_table(path: str | os.PathLike[str], table: Mapping[str, Any]) -> None:
    """Write a latency table as JSON (atomically)."""
    write_json_atomic(path, dict(table))


def load_latency_table(path: str | os.PathLike[str], space: LayerwiseSpace | None = None) -> dict[str, Any]:
    """Read a latency table; with ``space``, check it was measured for that exact space."""
    import json

    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"latency table {path} does not exist; measure one with "
            "`python tools/measure_latency.py --run-dir RUN_DIR --device cpu --batch 1`"
        )
    table = json.loads(path.read_text())
    if table.get("format") != TABLE_FORMAT:
        raise ValueError(f"{path} is not a latency table (format {table.get('format')!r}, expected {TABLE_FORMAT!r})")
    if space is not None:
        measured_for = space_from_metadata(table["space"])
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


