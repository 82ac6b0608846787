"""Training-time augmentation of image batches on the device: random crop after padding, flip, cutout."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["Augmentation", "augment_batch", "cutout_batch"]


@dataclass(frozen=True)
class Augmentation:
    """Training-time augmentation, applied to batches on the device (tensor datasets) or per image.

    Parameters
    ----------
    crop_padding : int
        Zero-pad by this many pixels, then crop back to the original size at a random offset (0: off).
    horizontal_flip : bool
        Flip half of the images left-right (off for digits: a mirrored 2 is not a 2).
    cutout_length : int
        Side of a square zeroed at a random centre, after normalisation (DeVries & Taylor; 0: off).
    """

    crop_padding: int = 0
    horizontal_flip: bool = False
    cutout_length: int = 0


def augment_batch(images: torch.Tensor, augmentation: Augmentation, generator: torch.Generator) -> torch.Tensor:
    """Random crop (after zero padding) and horizontal flip of a (B, C, H, W) batch, drawn from ``generator``."""
    batch, _, height, width = images.shape
    pad = augmentation.crop_padding
    if pad > 0:
        padded = F.pad(images, (pad, pad, pad, pad))
        dy = torch.randint(0, 2 * pad + 1, (batch,), generator=generator).to(images.device)
        dx = torch.randint(0, 2 * pad + 1, (batch,), generator=generator).to(images.device)
        rows = (dy[:, None] + torch.arange(height, device=images.device))[:, :, None]
        cols = (dx[:, None] + torch.arange(width, device=images.device))[:, None, :]
        batch_index = torch.arange(batch, device=images.device)[:, None, None]
        images = padded.permute(0, 2, 3, 1)[batch_index, rows, cols].permute(0, 3, 1, 2)
    if augmentation.horizontal_flip:
        flip = (torch.rand(batch, generator=generator) < 0.5).to(images.device)[:, None, None, None]
        images = torch.where(flip, images.flip(3), images)
    return images


def cutout_batch(images: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
    """Zero one ``length`` x ``length`` square per image (clipped at the border), as in DARTS' Cutout."""
    batch, _, height, width = images.shape
    cy = torch.randint(0, height, (batch,), generator=generator).to(images.device)
    cx = torch.randint(0, width, (batch,), generator=generator).to(images.device)
    ys = torch.arange(height, device=images.device)[None, :]
    xs = torch.arange(width, device=images.device)[None, :]
    in_rows = (ys >= (cy[:, None] - length // 2)) & (ys < (cy[:, None] + length // 2))
    in_cols = (xs >= (cx[:, None] - length // 2)) & (xs < (cx[:, None] + length // 2))
    box = in_rows[:, :, None] & in_cols[:, None, :]
    return images * (~box)[:, None].to(images.dtype)
