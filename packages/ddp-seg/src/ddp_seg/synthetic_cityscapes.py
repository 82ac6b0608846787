"""Write a small synthetic dataset in the Cityscapes directory layout (for tests and demonstrations).

No package ships Cityscapes, and it cannot be downloaded without an account. This writes what mmseg's
``CityscapesDataset`` reads::

    ROOT/leftImg8bit/{train,val}/<city>/<city>_000000_0000NN_leftImg8bit.png        (RGB)
    ROOT/gtFine/{train,val}/<city>/<city>_000000_0000NN_gtFine_labelTrainIds.png   (uint8 train ids, 255 ignore)

Each image is a few axis-aligned rectangles, each one class painted in that class's Cityscapes palette colour
plus noise, so a network can learn something in a few iterations. Run
``python -m ddp_seg.synthetic_cityscapes OUT_DIR`` to write one.
"""

from __future__ import annotations

import argparse
import os
import pathlib
from collections.abc import Sequence

import numpy as np
from PIL import Image

__all__ = ["CITYSCAPES_NUM_CLASSES", "IGNORE_INDEX", "main", "write_synthetic_cityscapes"]

CITYSCAPES_NUM_CLASSES = 19
IGNORE_INDEX = 255
CITY = "synthcity"


def _palette() -> np.ndarray:
    from mmseg.datasets import CityscapesDataset

    return np.asarray(CityscapesDataset.METAINFO["palette"], dtype=np.float32)


def _save_png_atomic(array: np.ndarray, path: pathlib.Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")
    Image.fromarray(array).save(tmp)
    os.replace(tmp, path)


def _sample(rng: np.random.Generator, height: int, width: int, palette: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    label = np.full((height, width), rng.integers(CITYSCAPES_NUM_CLASSES), dtype=np.uint8)
    for _ in range(int(rng.integers(3, 7))):
        top, left = int(rng.integers(0, height - 4)), int(rng.integers(0, width - 4))
        box_h, box_w = int(rng.integers(4, height // 2 + 5)), int(rng.integers(4, width // 2 + 5))
        label[top : top + box_h, left : left + box_w] = rng.integers(CITYSCAPES_NUM_CLASSES)
    # A thin ignored border, as Cityscapes' ego-vehicle and out-of-roi pixels are.
    label[:1, :] = IGNORE_INDEX
    colours = np.zeros((height, width, 3), dtype=np.float32)
    valid = label != IGNORE_INDEX
    colours[valid] = palette[label[valid]]
    noisy = colours + rng.normal(0.0, 12.0, size=colours.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8), label


def write_synthetic_cityscapes(
    root: str | os.PathLike[str],
    num_train: int = 4,
    num_val: int = 2,
    height: int = 64,
    width: int = 128,
    seed: int = 0,
) -> pathlib.Path:
    """Write a synthetic Cityscapes-layout dataset under ``root``.

    Parameters
    ----------
    root:
        Output directory (created); point a config's ``data_root`` at it.
    num_train, num_val:
        Number of image/label pairs per split.
    height, width:
        Image size in pixels (Cityscapes itself is 1024 x 2048).
    seed:
        Seed of the generator; the same seed writes the same files.

    Returns
    -------
    pathlib.Path
        ``root``.
    """
    if num_train < 1 or num_val < 1:
        raise ValueError(f"need at least one image per split, got num_train={num_train}, num_val={num_val}")
    if height < 16 or width < 16:
        raise ValueError(f"images must be at least 16 x 16 pixels, got {height} x {width}")
    root = pathlib.Path(root)
    rng = np.random.default_rng(seed)
    palette = _palette()
    for split, count in (("train", num_train), ("val", num_val)):
        for index in range(count):
            image, label = _sample(rng, height, width, palette)
            stem = f"{CITY}_000000_{index:06d}"
            _save_png_atomic(image, root / "leftImg8bit" / split / CITY / f"{stem}_leftImg8bit.png")
            _save_png_atomic(label, root / "gtFine" / split / CITY / f"{stem}_gtFine_labelTrainIds.png")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ddp_seg.synthetic_cityscapes OUT_DIR [--train N] [--val N] [--size H W] [--seed S]``."""
    parser = argparse.ArgumentParser(description="Write a synthetic dataset in the Cityscapes layout")
    parser.add_argument("root", help="output directory")
    parser.add_argument("--train", type=int, default=4, help="training images")
    parser.add_argument("--val", type=int, default=2, help="validation images")
    parser.add_argument("--size", type=int, nargs=2, default=(64, 128), metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    root = write_synthetic_cityscapes(args.root, args.train, args.val, args.size[0], args.size[1], args.seed)
    print(f"wrote {args.train} training and {args.val} validation images to {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
