"""Supernet step throughput (sampled single paths vs the largest path) and ENG time, on this machine.

Ratios are measured in one process against a baseline (the largest path, and a standalone network of it), so
they say more than absolute figures on a shared machine. Usage:
``python benchmarks/mobilenet_throughput.py [--resolution 96] [--batch 8] [--steps 6] [--threads 2]``.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from ddp_core import CategoricalDistribution, generate, pareto_front
from ddp_vision.mobilenet.costs import network_cost
from ddp_vision.mobilenet.network import LayerwiseMobileNet
from ddp_vision.mobilenet.space import MobileNetSpaceConfig, mobilenet_space
from ddp_vision.mobilenet.supernet import LayerwiseSupernet


def interleaved_images_per_second(steps_by_name, batch: int, steps: int) -> dict[str, tuple[float, float]]:
    """Per named step function, images per second of wall time and of process CPU time (medians), timed
    round-robin so machine load hits all alike. CPU time counts every torch thread: with one thread it is the
    step's own compute, unaffected by other processes; with more, wall time is what a user waits."""
    for step in steps_by_name.values():
        step(0)  # warm-up, excluded (path 0 is not timed again)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in steps_by_name}
    for i in range(steps):
        for name, step in steps_by_name.items():
            start, cpu = time.perf_counter(), time.process_time()
            step(i + 1)
            times[name].append((time.perf_counter() - start, time.process_time() - cpu))
    return {name: (batch / statistics.median(w for w, _ in t), batch / statistics.median(c for _, c in t))
            for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=96)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:  # state the threads: 7x7 depthwise convolutions scale very differently with 1 and 2
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    layerwise = mobilenet_space(MobileNetSpaceConfig(resolution=args.resolution, num_classes=1000))
    names = [[name for name, _ in row] for row in layerwise.choices]
    largest = tuple(row.index("mb7_e6") for row in names)
    rng = random.Random(0)
    sampled = [tuple(rng.randrange(len(row)) for row in names) for _ in range(args.steps + 1)]
    x = torch.randn(args.batch, 3, args.resolution, args.resolution)
    y = torch.randint(0, 1000, (args.batch,))

    def make_step(model, channels_last: bool, fixed_path: bool):
        """One SGD step of ``model`` (a supernet taking a path, or a standalone network)."""
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        inputs = x.contiguous(memory_format=torch.channels_last) if channels_last else x
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step(i: int) -> None:
            logits = model(inputs) if fixed_path else model(inputs, largest if i < 0 else sampled[i])
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        return step

    steps = {}
    for layout in ("contiguous", "channels_last"):
        cl = layout == "channels_last"
        supernet = LayerwiseSupernet(layerwise).train()
        sampled_step = make_step(supernet, cl, fixed_path=False)
        steps[("supernet, largest path (mb7_e6 everywhere)", layout)] = lambda i, s=sampled_step: s(-1)
        steps[("supernet, uniformly sampled paths (new path each step)", layout)] = sampled_step
        standalone = LayerwiseMobileNet(layerwise.network_config(largest)).train()
        steps[("standalone network of the largest path", layout)] = make_step(standalone, cl, fixed_path=True)
    measured = interleaved_images_per_second(steps, args.batch, args.steps)
    mean_flops = statistics.mean(network_cost(layerwise.network_config(a)).flops_m for a in sampled)
    largest_flops = network_cost(layerwise.network_config(largest)).flops_m
    baseline = measured[("supernet, largest path (mb7_e6 everywhere)", "contiguous")]
    rows = [
        (label, layout, mean_flops if "sampled" in label else largest_flops, ips, ips / baseline[0], cpu,
         cpu / baseline[1])
        for (label, layout), (ips, cpu) in measured.items()
    ]

    space = layerwise.search_space()
    costs = mobilenet_space().cost_tables()  # ENG at the paper's 224 px
    full = space.full_mask()
    theta = np.where(full, np.random.default_rng(0).random(full.shape), 0.0)
    theta /= theta.sum(axis=1, keepdims=True)
    distribution = CategoricalDistribution(theta, np.zeros_like(theta), full)
    eng = {}
    for label, budgets in (
        ("100 FLOPs budgets (200-700 M MACs)", [{"flops_m": float(b)} for b in np.linspace(200, 700, 100)]),
        ("100 FLOPs budgets + params <= 4.0 M", [{"flops_m": float(b), "params_m": 4.0} for b in np.linspace(250, 700, 100)]),
    ):
        start = time.perf_counter()
        generate(space, distribution, costs, budgets)
        eng[label] = time.perf_counter() - start
    start = time.perf_counter()
    front = pareto_front(space, distribution, costs, "flops_m", points=100)
    eng[f"Pareto front, 100-point sweep ({len(front)} points)"] = time.perf_counter() - start

    print(f"machine: {platform.machine()} CPU, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
          f"python {platform.python_version()}")
    print(f"supernet: {sum(p.numel() for p in LayerwiseSupernet(layerwise).parameters()) / 1e6:.1f} M parameters; "
          f"input {args.resolution} px, batch {args.batch}, SGD step fp32, median of {args.steps} steps\n")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    print("| path | memory format | MACs (M) at this size | images/s (wall) | ratio to largest path, contiguous "
          "| images per CPU second | ratio (CPU time) |")
    print("|---|---|---|---|---|---|---|")
    for label, layout, flops, ips, ratio, cpu, cpu_ratio in rows:
        print(f"| {label} | {layout} | {flops:.1f} | {ips:.1f} | {ratio:.2f} | {cpu:.1f} | {cpu_ratio:.2f} |")
    print("\n| ENG over the full 21-decision space (224 px costs) | seconds |\n|---|---|")
    for label, seconds in eng.items():
        print(f"| {label} | {seconds:.3f} |")


if __name__ == "__main__":
    main()
