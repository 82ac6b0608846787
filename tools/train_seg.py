"""Train a DDPNAS segmentor from an mmseg config with mmengine's Runner.

Usage: python tools/train_seg.py CONFIG [--work-dir DIR] [--resume] [--amp] [--cfg-options KEY=VALUE ...]
The flags are those of mmseg's tools/train.py; the logic lives in ddp_seg.training.
"""

from ddp_seg.training import main

if __name__ == "__main__":
    raise SystemExit(main())
