"""Shared settings for the ddp-vision tests: offline hubs, one CPU thread (the CI machine has 2 cores)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture
def tiny_splits():
    """A 4-class synthetic task of 8x8 RGB images: 32 train, 32 val, 16 test."""
    from ddp_vision.data import synthetic_splits

    return synthetic_splits(num_classes=4, image_size=8, train_size=64, test_size=16, seed=0)
