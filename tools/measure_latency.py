"""Measure a latency lookup table for a layer-wise space on this machine's CPU or GPU (for ENG --latency-ms).

Examples
--------
``python tools/measure_latency.py --run-dir runs/x --device cuda --batch 64`` (writes runs/x/latency_cuda_b64.json);
``python tools/measure_latency.py --device cpu --batch 1 --image-size 224 --output lut.json`` (the default space).
Then: ``python tools/generate.py runs/x --latency-ms 10,15 --latency-table runs/x/latency_cuda_b64.json``.
"""

from __future__ import annotations

import json
import pathlib
import random
import sys
from collections.abc import Sequence

from ddp_core import SearchSpace, run_cli
from ddp_vision.arguments import OneLineArgumentParser, number, positive_int
from ddp_vision.mobilenet.latency import check_latency_table, measure_latency_table, save_latency_table
from ddp_vision.mobilenet.space import MobileNetSpaceConfig, mobilenet_space, space_from_metadata
from ddp_vision.search_cli import apply_threads


def build_parser() -> OneLineArgumentParser:
    parser = OneLineArgumentParser(prog="tools/measure_latency.py", description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=pathlib.Path, help="take the space from RUN_DIR/space.json")
    parser.add_argument("--image-size", "--resolution", dest="image_size", type=positive_int("--image-size"),
                        default=224, help="without --run-dir: the space's input size")
    parser.add_argument("--width-multiplier", type=number("--width-multiplier", minimum=0, exclusive_minimum=True),
                        default=1.0, help="without --run-dir")
    parser.add_argument("--num-classes", type=positive_int("--num-classes"), default=1000, help="without --run-dir")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--batch", type=positive_int("--batch"), default=1)
    parser.add_argument("--repeats", type=positive_int("--repeats"), default=50,
                        help="timed runs per block (median reported)")
    parser.add_argument("--warmup", type=number("--warmup", integer=True, minimum=0), default=10,
                        help="untimed runs before timing")
    parser.add_argument("--threads", type=positive_int("--threads"), default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--check", type=number("--check", integer=True, minimum=0), default=3,
                        help="random whole networks to time against the table")
    parser.add_argument("--output", type=pathlib.Path, default=None)
    parser.add_argument("--debug", action="store_true", help="show a traceback instead of a one-line error")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    apply_threads(args.threads)
    if args.run_dir is not None:
        path = args.run_dir / "space.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist; run a search first or omit --run-dir")
        space = space_from_metadata(SearchSpace.from_dict(json.loads(path.read_text())).metadata)
    else:
        space = mobilenet_space(MobileNetSpaceConfig(num_classes=args.num_classes, resolution=args.image_size,
                                                     width_multiplier=args.width_multiplier))
    try:
        table = measure_latency_table(space, args.device, args.batch, args.repeats, args.warmup)
    except RuntimeError as error:  # e.g. --device cuda without a GPU
        raise ValueError(str(error)) from None
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
    sys.exit(run_cli(main))
