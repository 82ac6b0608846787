#!/usr/bin/env python
"""DDPNAS on the DARTS cell space. No arguments: a real search on scikit-learn digits (CPU, minutes).

    python tools/search_darts.py                                   # digits default
    python tools/search_darts.py --dataset cifar10 --data-dir data/cifar10
    accelerate launch tools/search_darts.py --dataset cifar10 --data-dir data/cifar10   # several GPUs
    python tools/search_darts.py --resume runs/darts-digits-...    # continue after a kill

The logic lives in ddp_vision.darts.search; see `--help`.
"""

import sys

from ddp_core import run_cli
from ddp_vision.darts.search import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
