"""Export a trained (or fresh) MobileNet-family network to TorchScript or ONNX and check its outputs.

Examples
--------
``python tools/export_mobilenet.py --train-dir runs/x/train600 --format onnx --output model.onnx``;
``python tools/export_mobilenet.py --config net.json --format torchscript --output model.pt`` (random weights).
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import torch

from ddp_vision.mobilenet.config import NetworkConfig
from ddp_vision.mobilenet.export import EXPORT_FORMATS, export_network
from ddp_vision.mobilenet.network import LayerwiseMobileNet
from ddp_vision.mobilenet.train import load_trained


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--train-dir", type=pathlib.Path, help="output directory of tools/train_mobilenet.py")
    source.add_argument("--config", type=pathlib.Path, help="network JSON (exports freshly initialised weights)")
    parser.add_argument("--format", choices=EXPORT_FORMATS, default="onnx")
    parser.add_argument("--output", type=pathlib.Path, required=True)
    parser.add_argument("--resolution", type=int, default=None, help="example input size (default: the config's)")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest allowed output difference")
    args = parser.parse_args(argv)
    try:
        model = load_trained(args.train_dir) if args.train_dir else LayerwiseMobileNet(NetworkConfig.load(args.config)).eval()
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    size = args.resolution or model.config.resolution
    example = torch.randn(2, model.config.in_channels, size, size, generator=torch.Generator().manual_seed(0))
    try:
        difference = export_network(model, args.output, example, args.format, args.tolerance)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {args.output} ({args.format}); max |output difference| vs PyTorch = {difference:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
