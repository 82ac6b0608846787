"""Training throughput of elastic-BERT sub-networks vs the whole teacher, measured in one process.

One step = forward, backward and AdamW update of a sampled sub-network on shared supernet weights (what the
search does ``--steps-per-unit`` times per sampled architecture). The baseline is a step of the stock
``transformers`` ``BertForSequenceClassification`` of the same shape, so the table also shows what the
slicing costs. Random weights: throughput depends on shapes only, and nothing is downloaded.

    python benchmarks/bert_throughput.py --teacher minilm-l6 --batch-size 8 --seq-len 64 --threads 1
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from transformers import BertConfig, BertForSequenceClassification

from ddp_bert.costs import subnetwork_parameters
from ddp_bert.elastic import ElasticBertForSequenceClassification, task_loss
from ddp_bert.space import SubnetworkShape

TEACHERS = {
    "bert-base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
    "minilm-l6": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
}


def subnetworks(config: BertConfig) -> dict[str, SubnetworkShape]:
    """Sub-networks from the largest to the smallest of the (scaled) paper space."""
    layers, heads, width = config.num_hidden_layers, config.num_attention_heads, config.intermediate_size
    half, two_thirds = layers // 2, round(layers * 2 / 3)
    return {
        "teacher (all layers, heads, neurons)": SubnetworkShape(layers, (heads,) * layers, (width,) * layers),
        "all layers, 2/3 heads, 1/3 FFN": SubnetworkShape(layers, (heads * 2 // 3,) * layers, (width // 3,) * layers),
        "2/3 depth, all heads, 1/4 FFN": SubnetworkShape(two_thirds, (heads,) * two_thirds, (width // 4,) * two_thirds),
        "1/2 depth, 2/3 heads, 1/3 FFN": SubnetworkShape(half, (heads * 2 // 3,) * half, (width // 3,) * half),
        "smallest (1/2 depth, 1/3 heads, 1/6 FFN)": SubnetworkShape(half, (heads // 3,) * half, (width // 6,) * half),
    }


def time_interleaved(steps: list, repeats: int, warmup: int) -> list[float]:
    """Median seconds per call of each step, timed round-robin so load changes hit every row alike."""
    for step in steps:
        for _ in range(warmup):
            step()
    timings: list[list[float]] = [[] for _ in steps]
    for _ in range(repeats):
        for index, step in enumerate(steps):
            started = time.perf_counter()
            step()
            timings[index].append(time.perf_counter() - started)
    return [statistics.median(row) for row in timings]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", choices=sorted(TEACHERS), default="minilm-l6")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = BertConfig(num_labels=2, **TEACHERS[args.teacher])
    inputs = {
        "input_ids": torch.randint(1000, 20000, (args.batch_size, args.seq_len)),
        "attention_mask": torch.ones(args.batch_size, args.seq_len, dtype=torch.long),
        "token_type_ids": torch.zeros(args.batch_size, args.seq_len, dtype=torch.long),
    }
    labels = torch.randint(0, 2, (args.batch_size,))

    stock = BertForSequenceClassification(config).train()
    stock_optimizer = torch.optim.AdamW(stock.parameters(), lr=1e-5)
    supernet = ElasticBertForSequenceClassification(BertForSequenceClassification(config)).train()
    optimizer = torch.optim.AdamW(supernet.parameters(), lr=1e-5)

    def stock_step() -> None:
        loss = task_loss(stock(**inputs).logits, labels)
        loss.backward()
        stock_optimizer.step()
        stock_optimizer.zero_grad(set_to_none=True)

    def supernet_step(shape: SubnetworkShape) -> None:
        loss = task_loss(supernet(**inputs, subnetwork=shape), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    shapes = subnetworks(config)
    names = ["stock transformers BertForSequenceClassification (baseline)"] + [f"supernet: {n}" for n in shapes]
    params = [subnetwork_parameters(supernet.teacher, supernet.full_shape(), 2)] + [
        subnetwork_parameters(supernet.teacher, shape, 2) for shape in shapes.values()]
    steps = [stock_step] + [lambda shape=shape: supernet_step(shape) for shape in shapes.values()]
    seconds = time_interleaved(steps, args.repeats, args.warmup)
    baseline = seconds[0]
    rows = list(zip(names, params, seconds, strict=True))
    print(f"teacher {args.teacher}, batch {args.batch_size} x {args.seq_len} tokens, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {platform.machine()} {platform.processor()}")
    print("| step | params (M) | s/step | samples/s | vs stock teacher |")
    print("|---|---|---|---|---|")
    for name, count, step_seconds in rows:
        print(f"| {name} | {count / 1e6:.1f} | {step_seconds:.3f} | {args.batch_size / step_seconds:.1f} | "
              f"{baseline / step_seconds:.2f}x |")


if __name__ == "__main__":
    main()
