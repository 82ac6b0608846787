"""Export a trained DARTS or MobileNet-family network to TorchScript or ONNX and check its outputs.

Examples
--------
``python tools/export_mobilenet.py --train-dir runs/x/train600 --format onnx --output model.onnx`` (any output
directory of tools/train_mobilenet.py or tools/train_darts.py: model.safetensors + config.json; the config's
input size, mean/std and architecture go into the ONNX metadata_props);
``python tools/export_mobilenet.py --config net.json --format torchscript --output model.pt`` (random weights).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from collections.abc import Sequence

import torch

from ddp_core import run_cli
from ddp_vision.arguments import OneLineArgumentParser, number, positive_int
from ddp_vision.artifacts import load_network
from ddp_vision.mobilenet.config import NetworkConfig
from ddp_vision.mobilenet.export import EXPORT_FORMATS, export_network
from ddp_vision.mobilenet.network import LayerwiseMobileNet


def build_parser() -> OneLineArgumentParser:
    parser = OneLineArgumentParser(prog="tools/export_mobilenet.py", description=__doc__.splitlines()[0],
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--train-dir", type=pathlib.Path,
                        help="output directory of tools/train_mobilenet.py or tools/train_darts.py")
    source.add_argument("--config", type=pathlib.Path, help="layer-wise network JSON (exports fresh random weights)")
    parser.add_argument("--format", choices=EXPORT_FORMATS, default="onnx")
    parser.add_argument("--output", type=pathlib.Path, required=True)
    parser.add_argument("--image-size", "--resolution", dest="image_size", type=positive_int("--image-size"),
                        default=None, help="example input size (default: the network's)")
    parser.add_argument("--tolerance", type=number("--tolerance", minimum=0, exclusive_minimum=True), default=1e-4,
                        help="largest allowed output difference")
    parser.add_argument("--debug", action="store_true", help="show a traceback instead of a one-line error")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.train_dir is not None:
        model, artifact = load_network(args.train_dir)
        channels, size = artifact.input_size[0], artifact.input_size[1]
        metadata = artifact.metadata()
    else:
        model = LayerwiseMobileNet(NetworkConfig.load(args.config)).eval()
        channels, size, metadata = model.config.in_channels, model.config.resolution, None
    size = args.image_size or size
    example = torch.randn(2, channels, size, size, generator=torch.Generator().manual_seed(0))
    try:
        difference = export_network(model, args.output, example, args.format, args.tolerance, metadata=metadata)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {args.output} ({args.format}); max |output difference| vs PyTorch = {difference:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
