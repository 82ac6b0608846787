"""The evaluation transform of an image dataset as plain fields (:class:`Preprocessing`), and its constants.

A trained network's ``config.json``, ONNX metadata, TorchScript extra file and timm ``pretrained_cfg`` carry
these fields, so a raw image preprocessed from them alone (PIL + numpy) is exactly what the network was
evaluated on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["CIFAR10_MEAN", "CIFAR10_STD", "IMAGENET_MEAN", "IMAGENET_STD", "IMAGE_FOLDER_CROP_PCT", "Preprocessing",
           "image_folder_resize", "resize_grey"]

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# image folders are evaluated like ImageNet: the shorter side resized to floor(size / 0.875), a centre crop of size
IMAGE_FOLDER_CROP_PCT = 0.875


@dataclass(frozen=True)
class Preprocessing:
    """How a raw image becomes a network input at evaluation time, in fields any user can apply.

    1. convert the image to ``channel_order`` (``"RGB"``, or ``"L"`` for one grey channel; PIL mode names);
    2. with ``resize_size``: resize the shorter side to ``resize_size`` (the longer side scaled and truncated to
       an integer, as torchvision's ``Resize(int)``), then cut the centre ``input_size`` crop (top/left offset
       ``round((side - crop) / 2)``); without it: resize the whole image to ``input_size`` (nothing when it is
       already that size); ``interpolation`` names the PIL filter (antialiased);
    3. scale pixels to [0, 1] (``uint8 / 255``), then ``(x - mean) / std`` per channel, channels first.

    ``crop_pct`` (``input / resize``, timm's name) and ``crop_mode`` say the same for timm's transforms;
    ``label_names`` name the network's outputs in order.
    """

    input_size: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    channel_order: str
    interpolation: str = "bilinear"
    resize_size: int | None = None
    label_names: tuple[str, ...] = field(default_factory=tuple)

    @property
    def crop_pct(self) -> float:
        return 1.0 if self.resize_size is None else IMAGE_FOLDER_CROP_PCT

    def to_dict(self) -> dict:
        return {"input_size": list(self.input_size), "channel_order": self.channel_order,
                "interpolation": self.interpolation, "resize_size": self.resize_size, "crop_pct": self.crop_pct,
                "crop_mode": "center", "pixel_scale": 255, "mean": list(self.mean), "std": list(self.std),
                "label_names": list(self.label_names)}


def image_folder_resize(image_size: int) -> int:
    """The shorter side an image-folder image is resized to before the centre crop (timm's
    ``floor(img_size / crop_pct)``)."""
    return int(math.floor(image_size / IMAGE_FOLDER_CROP_PCT))


def resize_grey(images: np.ndarray, image_size: int) -> np.ndarray:
    """PIL's antialiased bilinear resize of (N, H, W) uint8 grey images: the filter the artefact names."""
    from PIL import Image

    if images.shape[1:] == (image_size, image_size):
        return images
    return np.stack([np.asarray(Image.fromarray(image, mode="L").resize((image_size, image_size),
                                                                        Image.Resampling.BILINEAR))
                     for image in images])
