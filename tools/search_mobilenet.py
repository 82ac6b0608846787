"""DDPNAS search over the MobileNet layer-wise space or NAS-Bench-Macro.

Examples
--------
ImageNet (class-per-folder ``train/``): ``accelerate launch tools/search_mobilenet.py --data-dir /data/imagenet
--run-dir runs/mbv2 --mixed-precision bf16``; NAS-Bench-Macro on CIFAR-10: ``python tools/search_mobilenet.py
--space nas-bench-macro --data-dir /data/cifar10 --run-dir runs/macro``; a quick try on digits:
``python tools/search_mobilenet.py --dataset digits --image-size 16 --width-multiplier 0.25 --stage-depths
1,1,1,1,2,1 --steps-per-unit 4 --batch-size 64 --rounds-per-stage 1 --cpu --run-dir runs/mb-try``. After a kill,
the same command with ``--resume runs/mb-try`` in place of ``--run-dir runs/mb-try`` continues exactly.
"""

import sys

from ddp_core import run_cli
from ddp_vision.mobilenet.search import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
