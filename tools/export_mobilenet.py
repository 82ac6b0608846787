"""Export a trained DARTS or MobileNet-family network to TorchScript or ONNX (the first name of
tools/export_network.py: the same command, kept so existing scripts work).

    python tools/export_mobilenet.py --train-dir OUTPUT_DIR --format onnx    # writes OUTPUT_DIR/model.onnx

The logic lives in ddp_vision.export_cli; see `--help`.
"""

import functools
import sys

from ddp_core import run_cli
from ddp_vision.export_cli import main

if __name__ == "__main__":
    sys.exit(run_cli(functools.partial(main, prog="tools/export_mobilenet.py")))
