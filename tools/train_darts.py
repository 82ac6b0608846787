#!/usr/bin/env python
"""Train a DARTS evaluation network from a genotype (DARTS' CIFAR-10 recipe by default).

    python tools/train_darts.py --genotype runs/darts-digits-... --epochs 3 --channels 16 --layers 8   # digits smoke run
    python tools/train_darts.py --genotype DARTS_V2 --dataset cifar10 --data-dir data/cifar10
    accelerate launch tools/train_darts.py --genotype "Genotype(...)" --dataset cifar10 --data-dir data/cifar10
    python tools/train_darts.py --resume runs/train-darts-... [the same flags]

The logic lives in ddp_vision.darts.training; see `--help`.
"""

import sys

from ddp_core import run_cli
from ddp_vision.darts.training import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
