"""Export a trained DARTS or MobileNet-family network to TorchScript or ONNX and check its outputs
(``tools/export_network.py``; ``tools/export_mobilenet.py`` is the same command under its first name).

Examples
--------
``python tools/export_network.py --train-dir runs/x/train600 --format onnx`` writes ``runs/x/train600/model.onnx``
(any output directory of tools/train_mobilenet.py or tools/train_darts.py: model.safetensors + config.json; the
config, with the whole evaluation transform, goes into the ONNX metadata_props or the TorchScript extra file
``config.json``); ``--output PATH`` writes elsewhere.
``python tools/export_network.py --config net.json --format torchscript`` writes ``net.pt`` beside the JSON (random
weights).
"""

from __future__ import annotations

import argparse
import pathlib
from collections.abc import Sequence

import torch

from ddp_vision.arguments import OneLineArgumentParser, image_side, number
from ddp_vision.artifacts import load_network
from ddp_vision.mobilenet.config import NetworkConfig
from ddp_vision.mobilenet.export import EXPORT_FORMATS, export_network
from ddp_vision.mobilenet.network import LayerwiseMobileNet

__all__ = ["SUFFIXES", "build_parser", "default_output", "main"]

SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt"}


def build_parser(prog: str = "tools/export_network.py") -> OneLineArgumentParser:
    parser = OneLineArgumentParser(prog=prog, description=__doc__.splitlines()[0],
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--train-dir", type=pathlib.Path,
                        help="output directory of tools/train_mobilenet.py or tools/train_darts.py")
    source.add_argument("--config", type=pathlib.Path, help="layer-wise network JSON (exports fresh random weights)")
    parser.add_argument("--format", choices=EXPORT_FORMATS, default="onnx")
    parser.add_argument("--output", type=pathlib.Path, default=None,
                        help="default: TRAIN_DIR/model.onnx (model.pt for torchscript), or beside --config")
    parser.add_argument("--image-size", "--resolution", dest="image_size", type=image_side(),
                        default=None, help="example input size (default: the network's)")
    parser.add_argument("--tolerance", type=number("--tolerance", minimum=0, exclusive_minimum=True), default=1e-4,
                        help="largest allowed output difference")
    parser.add_argument("--debug", action="store_true", help="show a traceback instead of a one-line error")
    return parser


def default_output(args: argparse.Namespace) -> pathlib.Path:
    """``--output``, else ``model.onnx`` / ``model.pt`` in the train directory, else beside the ``--config`` JSON."""
    if args.output is not None:
        return args.output
    if args.train_dir is not None:
        return args.train_dir / f"model{SUFFIXES[args.format]}"
    return args.config.with_suffix(SUFFIXES[args.format])


def main(argv: Sequence[str] | None = None, prog: str = "tools/export_network.py") -> int:
    args = build_parser(prog).parse_args(argv)
    if args.train_dir is not None:
        model, artifact = load_network(args.train_dir)
        channels, size = artifact.input_size[0], artifact.input_size[1]
        metadata = artifact.metadata()
    else:
        model = LayerwiseMobileNet(NetworkConfig.load(args.config)).eval()
        channels, size, metadata = model.config.in_channels, model.config.resolution, None
    size = args.image_size or size
    output = default_output(args)
    example = torch.randn(2, channels, size, size, generator=torch.Generator().manual_seed(0))
    try:
        difference = export_network(model, output, example, args.format, args.tolerance, metadata=metadata)
    except RuntimeError as error:  # outputs past --tolerance: one error line (exit 2) through run_cli
        raise ValueError(f"{output}: {error}; the file is kept for inspection (--tolerance sets the limit)") from None
    print(f"wrote {output} ({args.format}); max |output difference| vs PyTorch = {difference:.3g}")
    return 0
