"""Parameters and FLOPs (MACs) of a segmentor named by an mmseg config.

Usage: python tools/seg_complexity.py CONFIG [--shape 1024 2048] [--cfg-options KEY=VALUE ...] [--json OUT]
The logic lives in ddp_seg.complexity.
"""

from ddp_seg.complexity import main

if __name__ == "__main__":
    raise SystemExit(main())
