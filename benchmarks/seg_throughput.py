"""Segmentor forward and forward+backward throughput at Cityscapes crop size, against a baseline.

Three DeepLabV3 segmentors built from ddp-seg's configs, timed in one process on the same input:

- ``darts``: the DDPNAS DARTS-space config (DARTS_V2 cell, 32 channels, 12 cells, ASPP at output stride 16);
- ``layerwise``: the layer-wise config with MobileNetV2 1.0 built by ddp_vision;
- ``baseline``: the same layer-wise config with mmseg's own ``MobileNetV2`` backbone (same widths, strides
  and head), so ``layerwise / baseline`` isolates the cost of the ddp_vision wrapper.

Forward: eval mode, no gradients, ``mode="tensor"``, batch 1. Forward+backward: train mode, batch 2 (the
ASPP image-pooling BatchNorm sees a 1x1 map and cannot train on one image), ``mode="tensor"`` output summed
and back-propagated (decode head only; the auxiliary head is not part of ``mode="tensor"``), reported per
image. SyncBN layers are reverted to BatchNorm, as mmengine's Runner does in a single process.

Usage: python benchmarks/seg_throughput.py [--shape 512 1024] [--iterations 3] [--threads 1] [--json OUT]
       [--plot OUT.png]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import time

import torch
from mmengine.model import revert_sync_batchnorm
from tqdm import tqdm

import ddp_seg  # noqa: F401  (registers the backbones, installs the mmcv.ops stand-in)
from ddp_seg.complexity import segmentor_complexity
from ddp_seg.training import build_segmentor, load_config

DARTS = "ddp_seg::ddpnas/deeplabv3_ddpnas-darts_4xb2-80k_cityscapes-512x1024.py"
LAYERWISE = "ddp_seg::ddpnas/deeplabv3_ddpnas-layerwise_4xb2-80k_cityscapes-512x1024.py"
MMSEG_MOBILENETV2 = {
    "model.backbone": dict(
        _delete_=True,
        type="MobileNetV2",
        widen_factor=1.0,
        strides=(1, 2, 2, 2, 1, 2, 1),
        dilations=(1, 1, 1, 1, 1, 1, 1),
        out_indices=(2, 4, 6),
        norm_cfg=dict(type="BN", requires_grad=True),
    )
}


class Candidate:
    """One segmentor to time: built from a config plus overrides, with its forward and training steps."""

    def __init__(self, name: str, config: str, options: dict, shape: tuple[int, int]) -> None:
        torch.manual_seed(0)
        self.name = name
        self.model = revert_sync_batchnorm(build_segmentor(load_config(config, options)))
        self.report = segmentor_complexity(self.model, *shape)
        self.single = torch.randn(1, 3, *shape)
        self.pair = torch.randn(2, 3, *shape)
        self.forward_s: list[float] = []
        self.forward_backward_s: list[float] = []

    def forward(self) -> float:
        """Seconds for one eval-mode forward pass of one image."""
        self.model.eval()
        start = time.perf_counter()
        with torch.no_grad():
            self.model(self.single, mode="tensor")
        return time.perf_counter() - start

    def forward_backward(self) -> float:
        """Seconds per image of one train-mode forward+backward pass of two images."""
        self.model.train()
        self.model.zero_grad(set_to_none=True)
        start = time.perf_counter()
        self.model(self.pair, mode="tensor").sum().backward()
        return (time.perf_counter() - start) / 2

    def row(self) -> dict:
        forward_s, train_s = statistics.median(self.forward_s), statistics.median(self.forward_backward_s)
        return {
            "name": self.name,
            "params_m": self.report.params / 1e6,
            "flops_g": self.report.macs / 1e9,
            "forward_ms": 1e3 * forward_s,
            "forward_backward_ms": 1e3 * train_s,
            "forward_images_per_s": 1.0 / forward_s,
            "forward_backward_images_per_s": 1.0 / train_s,
        }


def run_interleaved(candidates: list[Candidate], iterations: int) -> None:
    """One untimed warm-up each, then ``iterations`` rounds visiting every candidate in turn.

    Interleaving spreads the load of a shared machine evenly over the candidates being compared.
    """
    for candidate in candidates:
        candidate.forward()
        candidate.forward_backward()
    for _ in tqdm(range(iterations), desc="rounds"):
        for candidate in candidates:
            candidate.forward_s.append(candidate.forward())
            candidate.forward_backward_s.append(candidate.forward_backward())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=2, default=(512, 1024), metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="1 is steadier on a shared 2-core machine")
    parser.add_argument("--json", type=pathlib.Path, help="also write the results as JSON")
    parser.add_argument("--plot", type=pathlib.Path, help="also draw images/s per segmentor as a PNG")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shape = tuple(args.shape)
    candidates = [
        Candidate("baseline: mmseg MobileNetV2 + ASPP", LAYERWISE, MMSEG_MOBILENETV2, shape),
        Candidate("layerwise: ddp_vision MobileNetV2 + ASPP", LAYERWISE, {}, shape),
        Candidate("darts: DDPNAS DARTS backbone + ASPP", DARTS, {}, shape),
    ]
    run_interleaved(candidates, args.iterations)
    rows = [candidate.row() for candidate in candidates]
    baseline = rows[0]
    for row in rows:
        row["forward_speed_vs_baseline"] = baseline["forward_ms"] / row["forward_ms"]
        row["forward_backward_speed_vs_baseline"] = baseline["forward_backward_ms"] / row["forward_backward_ms"]
    machine = (
        f"{platform.machine()} CPU, {os.cpu_count()} cores visible, torch {torch.__version__}, "
        f"{args.threads} threads, input {shape[0]}x{shape[1]}, forward batch 1, fwd+bwd batch 2 reported per image, "
        f"median of {args.iterations} interleaved rounds after 1 warm-up"
    )
    print(machine)
    print("| segmentor | params (M) | GFLOPs (MACs) | forward ms/img | fwd+bwd ms/img | fwd speed vs baseline | fwd+bwd speed vs baseline |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['name']} | {row['params_m']:.2f} | {row['flops_g']:.2f} | {row['forward_ms']:.0f} | "
            f"{row['forward_backward_ms']:.0f} | {row['forward_speed_vs_baseline']:.2f}x | "
            f"{row['forward_backward_speed_vs_baseline']:.2f}x |"
        )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
        os.replace(tmp, args.json)
    if args.plot is not None:
        title = f"DeepLabV3 at {shape[0]}x{shape[1]}, {platform.machine()} CPU, {args.threads} thread(s)"
        plot_rows(rows, title, args.plot)
    return 0


def plot_rows(rows: list[dict], title: str, path: pathlib.Path) -> None:
    """Bar chart of forward and forward+backward images/s per segmentor, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [row["name"].split(":")[0] for row in rows]
    positions = range(len(rows))
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar([p - 0.2 for p in positions], [r["forward_images_per_s"] for r in rows], 0.4, label="forward")
    ax.bar([p + 0.2 for p in positions], [r["forward_backward_images_per_s"] for r in rows], 0.4,
           label="forward + backward")
    ax.set_xticks(list(positions), [f"{n}\n{r['flops_g']:.2f} GFLOPs" for n, r in zip(names, rows, strict=True)])
    ax.set_ylabel("images / s (higher is better)")
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)


if __name__ == "__main__":
    raise SystemExit(main())
