"""Export a trained DARTS or MobileNet-family network to TorchScript or ONNX and check its outputs.

    python tools/export_network.py --train-dir OUTPUT_DIR --format onnx      # writes OUTPUT_DIR/model.onnx

The logic lives in ddp_vision.export_cli; see `--help`.
"""

import sys

from ddp_core import run_cli
from ddp_vision.export_cli import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
