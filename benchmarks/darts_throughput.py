#!/usr/bin/env python
"""Images/s of one search training step: DDPNAS' sampled single path vs DARTS' all-ops mixed supernet.

Both run in the same process on the same supernet size, batch and device (SGD step on random data of the
CIFAR shape). On CUDA the step uses bf16 autocast, channels_last, data already on the device and
``cudnn.benchmark``; on the CPU plain fp32. The ratio sampled/mixed is what single-path sampling buys.

    python benchmarks/darts_throughput.py                    # CPU defaults (small batch)
    python benchmarks/darts_throughput.py --batch-size 256   # e.g. on a GPU
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time

import torch
import torch.nn.functional as F

from ddp_vision.darts.operations import PRIMITIVES
from ddp_vision.darts.space import DartsSupernetConfig
from ddp_vision.darts.supernet import DartsSupernet


def measure(step, steps: int, warmup: int, batch: int, device: torch.device) -> float:
    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=None, help="default: 32 on CPU, 256 on CUDA")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default: 5 CPU, 30 CUDA)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--channels-last", action="store_true", help="channels_last on the CPU too (always on CUDA)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    parser.add_argument("--output", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cuda = device.type == "cuda"
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    batch = args.batch_size or (256 if cuda else 32)
    steps = args.steps or (30 if cuda else 5)
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    config = DartsSupernetConfig(channels=args.channels, layers=args.layers, image_size=args.image_size)
    model = DartsSupernet(config).to(device)
    memory_format = torch.channels_last if cuda or args.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    images = torch.randn(batch, 3, args.image_size, args.image_size, device=device).contiguous(
        memory_format=memory_format)
    labels = torch.randint(0, 10, (batch,), device=device)
    edges = config.edges_per_cell
    alphas = torch.zeros(2, edges, len(PRIMITIVES), device=device, requires_grad=True)
    rng = random.Random(0)

    def train_step(forward) -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
            loss = F.cross_entropy(forward().float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def sampled() -> None:
        architecture = tuple(rng.randrange(len(PRIMITIVES)) for _ in range(2 * edges))
        train_step(lambda: model(images, architecture))

    def mixed() -> None:
        weights = F.softmax(alphas, dim=-1)
        train_step(lambda: model.forward_mixed(images, weights[0], weights[1]))

    results = {
        "device": torch.cuda.get_device_name() if cuda else f"{platform.machine()} CPU, {torch.get_num_threads()} threads",
        "torch": torch.__version__, "precision": "bf16 autocast + channels_last" if cuda else "fp32",
        "supernet": f"{args.layers} cells, {args.channels} channels, {args.image_size}x{args.image_size}",
        "batch_size": batch, "timed_steps": steps,
        "sampled_images_per_s": measure(sampled, steps, args.warmup, batch, device),
        "mixed_images_per_s": measure(mixed, steps, args.warmup, batch, device),
    }
    results["ratio_sampled_over_mixed"] = results["sampled_images_per_s"] / results["mixed_images_per_s"]
    if cuda:
        results["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    print("| path | batch | images/s |\n|---|---|---|")
    print(f"| sampled single path (DDPNAS) | {batch} | {results['sampled_images_per_s']:.1f} |")
    print(f"| all 8 ops mixed (DARTS-style) | {batch} | {results['mixed_images_per_s']:.1f} |")
    print(f"ratio sampled / mixed: {results['ratio_sampled_over_mixed']:.2f}x on {results['device']}, "
          f"torch {results['torch']}, {results['precision']}, {results['supernet']}")
    if args.output:
        with open(args.output, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
