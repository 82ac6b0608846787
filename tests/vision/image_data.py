"""Raw image data for the artefact tests, and the reference preprocessing written from the artefact's fields:
a CIFAR-10 in the pickled-batch format torchvision reads, an image folder of varied shapes and modes."""

from __future__ import annotations

import pathlib
import pickle

import numpy as np
from PIL import Image

FILTERS = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
           "bicubic": Image.Resampling.BICUBIC}


def preprocess(path: pathlib.Path, fields: dict) -> np.ndarray:
    """A raw image file as the network's input, from the artefact's ``preprocessing`` fields alone."""
    image = Image.open(path).convert(fields["channel_order"])
    channels, height, width = fields["input_size"]
    resample = FILTERS[fields["interpolation"]]
    if fields["resize_size"] is not None:
        w, h = image.size
        short = fields["resize_size"]
        size = (short, int(short * h / w)) if w <= h else (int(short * w / h), short)
        image = image.resize(size, resample)
        top, left = int(round((size[1] - height) / 2.0)), int(round((size[0] - width) / 2.0))
        image = image.crop((left, top, left + width, top + height))
    elif image.size != (width, height):
        image = image.resize((width, height), resample)
    x = np.asarray(image, dtype=np.float32) / np.float32(fields["pixel_scale"])
    x = x[None] if x.ndim == 2 else x.transpose(2, 0, 1)
    mean = np.asarray(fields["mean"], dtype=np.float32)[:, None, None]
    std = np.asarray(fields["std"], dtype=np.float32)[:, None, None]
    assert x.shape == (channels, height, width)
    return (x - mean) / std


def write_cifar_batches(root: pathlib.Path, per_batch: int = 6, test: int = 12, seed: int = 0) -> list[str]:
    """A small CIFAR-10 in the pickled-batch format torchvision reads; returns the label names."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for name, count in [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", test)]:
        batch = {"data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
                 "labels": [int(v) for v in rng.integers(0, 10, count)]}
        (folder / name).write_bytes(pickle.dumps(batch))
    names = ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": names}))
    return names


def write_image_folder(root: pathlib.Path, classes=("ant", "bee", "cat"), per_class: int = 4, seed: int = 0):
    """train/ and val/ class folders of PNG and JPEG images of varied shapes and modes (RGB, grey, RGBA)."""
    rng = np.random.default_rng(seed)
    shapes = [(23, 31), (40, 20), (18, 18), (33, 45)]
    modes = ["RGB", "L", "RGBA", "RGB"]
    for split in ("train", "val"):
        for c in classes:
            (root / split / c).mkdir(parents=True)
            for i in range(per_class):
                h, w = shapes[i % len(shapes)]
                mode = modes[i % len(modes)]
                depth = {"RGB": 3, "L": 1, "RGBA": 4}[mode]
                pixels = rng.integers(0, 256, (h, w, depth), dtype=np.uint8)
                image = Image.fromarray(pixels[..., 0] if depth == 1 else pixels, mode=mode)
                suffix = ".jpg" if mode == "L" else ".png"
                image.save(root / split / c / f"{i}{suffix}")
