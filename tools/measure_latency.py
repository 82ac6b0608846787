"""Measure a latency lookup table for a layer-wise space on this machine's CPU or GPU (for ENG --latency-ms).

Examples
--------
``python tools/measure_latency.py --run-dir runs/x --device cuda --batch 64`` (writes runs/x/latency_cuda_b64.json);
``python tools/measure_latency.py --device cpu --batch 1 --resolution 224 --output lut.json`` (the default space).
Then: ``python tools/generate.py runs/x --latency-ms 10,15 --latency-table runs/x/latency_cuda_b64.json``.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import random
import sys

import torch

from ddp_core import SearchSpace
from ddp_vision.mobilenet.latency import check_latency_table, measure_latency_table, save_latency_table
from ddp_vision.mobilenet.space import MobileNetSpaceConfig, mobilenet_space, space_from_metadata


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=pathlib.Path, help="take the space from RUN_DIR/space.json")
    parser.add_argument("--resolution", type=int, default=224, help="without --run-dir: the space's input size")
    parser.add_argument("--width-multiplier", type=float, default=1.0, help="without --run-dir")
    parser.add_argument("--num-classes", type=int, default=1000, help="without --run-dir")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=50, help="timed runs per block (median reported)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed runs before timing")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--check", type=int, default=3, help="random whole networks to time against the table")
    parser.add_argument("--output", type=pathlib.Path, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.run_dir is not None:
        path = args.run_dir / "space.json"
        if not path.is_file():
            print(f"error: {path} does not exist; run a search first or omit --run-dir", file=sys.stderr)
            return 2
        space = space_from_metadata(SearchSpace.from_dict(json.loads(path.read_text())).metadata)
    else:
        space = mobilenet_space(MobileNetSpaceConfig(num_classes=args.num_classes, resolution=args.resolution,
                                                     width_multiplier=args.width_multiplier))
    try:
        table = measure_latency_table(space, args.device, args.batch, args.repeats, args.warmup)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    rng = random.Random(0)
    archs = [[rng.randrange(len(row)) for row in space.choices] for _ in range(args.check)]
    table["check"] = check_latency_table(space, table, archs, args.repeats, args.warmup)
    output = args.output or (args.run_dir or pathlib.Path(".")) / f"latency_{args.device}_b{args.batch}.json"
    save_latency_table(output, table)
    print(f"{table['device_name']}, batch {args.batch}: fixed parts {table['fixed_ms']:.3f} ms; wrote {output}")
    for row in table["check"]:
        print(f"  whole network: table predicts {row['predicted_ms']:.3f} ms, measured {row['measured_ms']:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
