"""Latency lookup tables for ENG, measured on the user's device (``latency_ms`` CostTable).

Every layer has the same shapes, so one attention block per head count and one FFN block per width are
timed (median of repeats) and reused for every layer; embeddings, pooler and classifier form the fixed part.
The sum is an estimate: it ignores kernel-launch overlap between blocks, which a table cannot see.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from ddp_bert.elastic import ElasticBertForSequenceClassification
from ddp_core import CostTable, SearchSpace, write_json_atomic
from ddp_core.persistence import read_json_document

LATENCY_COST_NAME = "latency_ms"


def _median_ms(function: Callable[[], object], device: torch.device, repeats: int, warmup: int) -> float:
    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        function()
    synchronize()
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        synchronize()
        timings.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(timings)


@torch.no_grad()
def measure_latency_table(
    supernet: ElasticBertForSequenceClassification,
    space: SearchSpace,
    batch_size: int = 1,
    seq_len: int = 128,
    device: str | torch.device = "cpu",
    repeats: int = 20,
    warmup: int = 3,
) -> tuple[CostTable, dict]:
    """Time each candidate's block on ``device`` and build the ``latency_ms`` cost table.

    Returns
    -------
    (CostTable, dict)
        The table and a description of the measurement (device, shapes, torch version).
    """
    device = torch.device(device)
    supernet = supernet.to(device).eval()
    bert = supernet.model.bert
    layer = bert.encoder.layer[0]
    input_ids = torch.randint(1, supernet.teacher.vocab_size, (batch_size, seq_len), device=device)
    hidden = bert.embeddings(input_ids=input_ids)

    def head_and_embeddings() -> None:
        states = bert.embeddings(input_ids=input_ids)
        supernet.model.classifier(bert.pooler(states))

    fixed = _median_ms(head_and_embeddings, device, repeats, warmup)
    attention_ms: dict[str, float] = {}
    ffn_ms: dict[str, float] = {}
    per_candidate = []
    for decision in space.decisions:
        row = []
        for candidate in decision.candidates:
            size = int(candidate.name)
            if decision.name == "depth":
                row.append(0.0)
            elif decision.name.endswith(".heads"):
                if candidate.name not in attention_ms:
                    attention_ms[candidate.name] = _median_ms(
                        lambda size=size: supernet._attention(layer.attention, hidden, None, size, None),
                        device, repeats, warmup)
                row.append(attention_ms[candidate.name])
            else:
                if candidate.name not in ffn_ms:
                    ffn_ms[candidate.name] = _median_ms(
                        lambda size=size: supernet._feed_forward(layer, hidden, size, None), device, repeats, warmup)
                row.append(ffn_ms[candidate.name])
        per_candidate.append(row)
    info = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
        or platform.machine(),
        "device_type": device.type, "batch_size": batch_size, "seq_len": seq_len,
        "torch": torch.__version__, "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "attention_ms": attention_ms, "ffn_ms": ffn_ms,
    }
    return CostTable(LATENCY_COST_NAME, fixed, per_candidate), info


def save_latency_table(path: str | os.PathLike, table: CostTable, info: dict) -> None:
    """Write a table and its measurement description as JSON (atomically)."""
    write_json_atomic(Path(path), {**table.to_dict(), "measured_on": info})


def load_latency_table(path: str | os.PathLike, space: SearchSpace) -> CostTable:
    """Read a table written by :func:`save_latency_table` and check it fits ``space``."""
    fix = "measure it again with tools/generate.py RUN_DIR --latency-table NEW.json (a missing file is measured)"
    data = read_json_document(path, "--latency-table", fix)
    try:
        table = CostTable.from_dict(data)
        table.check(space)
    except (KeyError, TypeError, ValueError, IndexError) as error:
        detail = " ".join(str(error).split())[:120] or type(error).__name__
        raise ValueError(f"{path} is not a latency table for this run's space ({detail}); {fix}") from None
    return table
