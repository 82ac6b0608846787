"""Shared settings for the ddp-seg tests: offline hubs, one CPU thread, a tiny Cityscapes-layout dataset."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pathlib  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_cityscapes(tmp_path_factory) -> pathlib.Path:
    """Four 64x128 training and two validation images with train-id labels, in the Cityscapes layout."""
    from ddp_seg.synthetic_cityscapes import write_synthetic_cityscapes

    return write_synthetic_cityscapes(tmp_path_factory.mktemp("cityscapes"), num_train=4, num_val=2)


@pytest.fixture(scope="session")
def startup_s() -> float:
    """Seconds this machine takes to start Python and import ddp_seg (torch, mmengine, mmseg).

    Subprocess timeouts are multiples of it, so they scale with the machine instead of being a fixed wall.
    """
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import ddp_seg"], check=True, capture_output=True, timeout=600)
    return max(time.perf_counter() - start, 1.0)
