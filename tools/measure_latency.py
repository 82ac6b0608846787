"""Measure a latency lookup table for a layer-wise space on this machine's CPU or GPU (for ENG --latency-ms).

Examples
--------
``python tools/measure_latency.py --run-dir runs/x --device cuda --batch 64`` (writes runs/x/latency_cuda_b64.json);
``python tools/measure_latency.py --device cpu --batch 1 --image-size 224 --output lut.json`` (the default space,
one CPU thread unless ``--threads N``). Then:
``python tools/generate.py runs/x --latency-ms 10,15 --latency-table runs/x/latency_cuda_b64.json``.
``python tools/measure_latency.py --table lut.json`` checks an existing table on this machine (its device, threads
and batch) without measuring a new one.

Every table is checked: ``--check N`` random whole networks are timed against the table's sum; one off by more
than ``--tolerance`` (relative) is an error (exit status 2), and the new table goes to ``OUTPUT.rejected.json``
instead of OUTPUT.
"""

from __future__ import annotations

import json
import pathlib
import random
import sys
from collections.abc import Sequence

from ddp_core import SearchSpace, run_cli
from ddp_vision.arguments import OneLineArgumentParser, image_side, number, threads_type
from ddp_vision.mobilenet.latency import (
    check_latency_table,
    load_latency_table,
    measure_latency_table,
    save_latency_table,
)
from ddp_vision.mobilenet.space import MobileNetSpaceConfig, mobilenet_space, space_from_metadata
from ddp_vision.search_cli import apply_threads


def build_parser() -> OneLineArgumentParser:
    parser = OneLineArgumentParser(prog="tools/measure_latency.py", description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=pathlib.Path, help="take the space from RUN_DIR/space.json")
    parser.add_argument("--table", type=pathlib.Path, default=None,
                        help="check this existing table on this machine instead of measuring a new one")
    parser.add_argument("--image-size", "--resolution", dest="image_size", type=image_side(),
                        default=224, help="without --run-dir: the space's input size")
    parser.add_argument("--width-multiplier", default=1.0, help="without --run-dir",
                        type=number("--width-multiplier", minimum=0, exclusive_minimum=True, maximum=8))
    parser.add_argument("--num-classes", type=number("--num-classes", integer=True, minimum=1, maximum=100_000),
                        default=1000, help="without --run-dir")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--batch", type=number("--batch", integer=True, minimum=1, maximum=4096), default=1)
    parser.add_argument("--repeats", type=number("--repeats", integer=True, minimum=1, maximum=100_000), default=50,
                        help="timed forward passes (median reported)")
    parser.add_argument("--warmup", type=number("--warmup", integer=True, minimum=0, maximum=100_000), default=10,
                        help="untimed passes before timing")
    parser.add_argument("--threads", type=threads_type, default=None,
                        help="CPU threads, recorded in the table (default 1 on the CPU: a fixed count, steady on a "
                             "busy machine; pass the count your deployment uses)")
    parser.add_argument("--check", type=number("--check", integer=True, minimum=0, maximum=1000), default=3,
                        help="random whole networks to time against the table")
    parser.add_argument("--tolerance", type=number("--tolerance", minimum=0, exclusive_minimum=True), default=0.25,
                        help="largest allowed |predicted - measured| / measured of a checked network")
    parser.add_argument("--output", type=pathlib.Path, default=None)
    parser.add_argument("--debug", action="store_true", help="show a traceback instead of a one-line error")
    return parser


def _space(args):
    if args.run_dir is not None:
        path = args.run_dir / "space.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist; run a search first or omit --run-dir")
        return space_from_metadata(SearchSpace.from_dict(json.loads(path.read_text())).metadata)
    return mobilenet_space(MobileNetSpaceConfig(num_classes=args.num_classes, resolution=args.image_size,
                                                width_multiplier=args.width_multiplier))


def _verdict(table: dict, tolerance: float) -> str | None:
    """The error line of the worst checked network past ``tolerance``, or None."""
    worst = max(table["check"], key=lambda row: row["relative_error"], default=None)
    if worst is None or worst["relative_error"] <= tolerance:
        return None
    return (f"the table predicts {worst['predicted_ms']:.3f} ms but the whole network measured "
            f"{worst['measured_ms']:.3f} ms ({worst['relative_error']:.0%} off, tolerance {tolerance:.0%}; "
            f"{table['device_name']}, batch {table['batch_size']})")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.table is not None:
        table = load_latency_table(args.table)
        space = space_from_metadata(table["space"])
        apply_threads(table.get("threads") or (1 if table["device"] == "cpu" else None))
    else:
        space = _space(args)
        apply_threads(args.threads or (1 if args.device == "cpu" else None))
        try:
            table = measure_latency_table(space, args.device, args.batch, args.repeats, args.warmup)
        except RuntimeError as error:  # e.g. --device cuda without a GPU
            raise ValueError(str(error)) from None
    rng = random.Random(0)
    archs = [[rng.randrange(len(row)) for row in space.choices] for _ in range(args.check)]
    table["check"] = check_latency_table(space, table, archs, args.repeats, args.warmup)
    table["check_tolerance"] = args.tolerance
    for row in table["check"]:
        print(f"  whole network: table predicts {row['predicted_ms']:.3f} ms, measured {row['measured_ms']:.3f} ms "
              f"({row['relative_error']:.0%} off)")
    problem = _verdict(table, args.tolerance)
    if args.table is not None:
        if problem:
            raise ValueError(f"{args.table}: {problem}; measure the table again on this machine with the threads and "
                             "batch you deploy with")
        print(f"{args.table} holds on this machine (every checked network within {args.tolerance:.0%})")
        return 0
    output = args.output or (args.run_dir or pathlib.Path(".")) / f"latency_{args.device}_b{args.batch}.json"
    if problem:
        rejected = output.with_name(output.stem + ".rejected.json")
        save_latency_table(rejected, table)
        raise ValueError(f"{problem}; not written to {output} (kept as {rejected}): measure on a quieter machine, "
                         "with more --repeats, or raise --tolerance")
    save_latency_table(output, table)
    print(f"{table['device_name']}, batch {table['batch_size']}: fixed parts {table['fixed_ms']:.3f} ms; wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
