"""Image datasets for searches and evaluation training.

Four sources give one :class:`ImageSplits`:

- :func:`load_digits_splits`: scikit-learn's 1797 real 8x8 handwritten digits, embedded in the
  package, so a search runs with nothing downloaded (the default of the DARTS tools);
- :func:`load_cifar10_splits`: CIFAR-10 through ``torchvision.datasets.CIFAR10`` from a local root;
- :func:`load_image_folder_splits`: any class-per-folder dataset (ImageNet layout ``train/`` and ``val/``);
- :func:`synthetic_splits`: learnable random class prototypes plus noise, for unit tests.

A search never sees the test set: ``train`` and ``val`` are seeded, disjoint parts of the *training*
set (``val_fraction`` of it held out). With ``val_fraction=0`` the whole training set is ``train`` and
``val`` is ``None`` (evaluation training, scored on ``test``).

Small datasets are kept as tensors (:class:`TensorImageDataset`) so :class:`BatchStream` can move them
to the accelerator once and cut, augment and normalise batches there without a worker pool.

Every split records its evaluation transform as :class:`Preprocessing` (channel order, resize, crop,
interpolation, mean/std, label names): what a trained network's ``config.json``, ONNX metadata and timm
``pretrained_cfg`` say, so that a user preprocessing raw images from those fields alone feeds the network
exactly what it was evaluated on. Normalisation happens in one place, :class:`BatchStream`, for every source.
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from ddp_vision.augmentation import Augmentation, augment_batch, cutout_batch
from ddp_vision.preprocessing import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    IMAGE_FOLDER_CROP_PCT,
    IMAGENET_MEAN,
    IMAGENET_STD,
    Preprocessing,
    image_folder_resize,
    resize_grey,
)

__all__ = [
    "DATASET_NAMES", "DEFAULT_IMAGE_SIZES", "IMAGE_FOLDER_CROP_PCT", "Augmentation", "BatchStream", "ImageSplits",
    "Preprocessing", "TensorImageDataset", "augment_batch", "cutout_batch", "digits_images", "load_cifar10_splits",
    "load_digits_splits", "load_image_folder_splits",
    "load_splits", "resolve_image_size", "split_indices", "synthetic_splits",
]

class TensorImageDataset(Dataset):
    """Images held in one tensor: ``images`` (N, C, H, W) float in [0, 1] or uint8, ``labels`` (N,) int64."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        if images.ndim != 4:
            raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise ValueError(
                f"labels must be (N,) with N = {images.shape[0]} images, got shape {tuple(labels.shape)}"
            )
        self.images = images
        self.labels = labels.long()

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index]
        if image.dtype == torch.uint8:
            image = image.float() / 255.0
        return image, int(self.labels[index])


@dataclass(frozen=True)
class ImageSplits:
    """Train / validation / test datasets of one image classification task.

    Attributes
    ----------
    train, val, test : Dataset or None
        ``train`` and ``val`` are disjoint parts of the training set (``val`` is ``None`` when nothing was
        held out); ``test`` is the official test split (never used by a search) or ``None``.
    num_classes, image_size, in_channels : int
        What the network's stem and classifier need (images are square).
    mean, std : tuple of float
        Per-channel normalisation applied after augmentation.
    name : str
        Dataset name for logs and ``space.json``.
    train_augmentation : Augmentation
        The dataset's customary training augmentation (tensor datasets apply it per batch).
    channel_order, interpolation, resize_size, label_names
        The rest of the evaluation transform (:class:`Preprocessing`; :attr:`preprocessing` puts it together).
    """

    train: Dataset
    val: Dataset | None
    test: Dataset | None
    num_classes: int
    image_size: int
    in_channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    name: str
    train_augmentation: Augmentation = Augmentation()
    channel_order: str = "RGB"
    interpolation: str = "bilinear"
    resize_size: int | None = None
    label_names: tuple[str, ...] = ()

    @property
    def preprocessing(self) -> Preprocessing:
        """The evaluation transform, as a trained network's artefacts record it."""
        return Preprocessing(input_size=(self.in_channels, self.image_size, self.image_size), mean=self.mean,
                             std=self.std, channel_order=self.channel_order, interpolation=self.interpolation,
                             resize_size=self.resize_size,
                             label_names=self.label_names or tuple(str(i) for i in range(self.num_classes)))


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded disjoint (train, val) index arrays covering ``range(n)``; ``val`` gets ``round(n * val_fraction)``."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _tensor_splits(images: torch.Tensor, labels: torch.Tensor, test_images: torch.Tensor | None,
                   test_labels: torch.Tensor | None, val_fraction: float, seed: int, **fields) -> ImageSplits:
    train_idx, val_idx = split_indices(images.shape[0], val_fraction, seed)
    train = TensorImageDataset(images[train_idx], labels[train_idx])
    val = TensorImageDataset(images[val_idx], labels[val_idx]) if len(val_idx) else None
    test = TensorImageDataset(test_images, test_labels) if test_images is not None else None
    return ImageSplits(train=train, val=val, test=test, **fields)


def _channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return tuple(round(float(v), 4) for v in mean), tuple(round(float(v), 4) for v in std)


def digits_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as the raw images a user would hold: (1797, 8, 8) uint8 grey (the 0-16 values
    scaled to 0-255 and rounded) and their (1797,) labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images.astype(np.float64) * (255.0 / 16.0)).astype(np.uint8)
    return images, digits.target.astype(np.int64)


def load_digits_splits(
    image_size: int = 16, val_fraction: float = 0.5, test_fraction: float = 0.2, seed: int = 0
) -> ImageSplits:
    """scikit-learn's digits (1797 real 8x8 grey images, 10 classes), resized to ``image_size``.

    The images are the uint8 ones of :func:`digits_images`, resized with PIL (bilinear), so that a saved
    network's :class:`Preprocessing` reproduces its inputs from an 8x8 grey image file exactly.
    ``test_fraction`` of the images (seeded, stratification-free) become the test split; the rest is the
    training set, of which ``val_fraction`` is held out as ``val``.
    """
    if image_size < 8:
        raise ValueError(f"digits are 8x8; image_size must be >= 8, got {image_size}")
    raw, targets = digits_images()
    images = torch.from_numpy(resize_grey(raw, image_size)).unsqueeze(1).contiguous()
    labels = torch.from_numpy(targets)
    rest_idx, test_idx = split_indices(len(labels), test_fraction, seed + 7919)
    mean, std = _channel_stats(images[rest_idx])
    return _tensor_splits(
        images[rest_idx], labels[rest_idx], images[test_idx], labels[test_idx], val_fraction, seed,
        num_classes=10, image_size=image_size, in_channels=1, mean=mean, std=std, name="digits",
        train_augmentation=Augmentation(crop_padding=max(1, image_size // 8)), channel_order="L",
        label_names=tuple(str(i) for i in range(10)),
    )


def load_cifar10_splits(data_dir: str | pathlib.Path, val_fraction: float = 0.5, seed: int = 0) -> ImageSplits:
    """CIFAR-10 from ``data_dir`` (the folder that holds ``cifar-10-batches-py``), never downloaded here.

    Raises
    ------
    FileNotFoundError
        When the dataset is missing, with the command that fetches it.
    """
    import torchvision

    root = pathlib.Path(data_dir).expanduser()
    try:
        train_set = torchvision.datasets.CIFAR10(root=str(root), train=True, download=False)
        test_set = torchvision.datasets.CIFAR10(root=str(root), train=False, download=False)
    except RuntimeError as error:  # torchvision raises RuntimeError("Dataset not found or corrupted...")
        raise FileNotFoundError(
            f"CIFAR-10 not found under {root} (expected {root / 'cifar-10-batches-py'}). Fetch it once with\n"
            f"  python -c \"import torchvision; torchvision.datasets.CIFAR10('{root}', download=True)\"\n"
            "or extract cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html into that "
            f"folder, then pass --data-dir {root}. ({error})"
        ) from error

    def to_tensors(dataset) -> tuple[torch.Tensor, torch.Tensor]:
        images = torch.from_numpy(np.ascontiguousarray(dataset.data)).permute(0, 3, 1, 2).contiguous()
        return images, torch.as_tensor(dataset.targets, dtype=torch.int64)

    images, labels = to_tensors(train_set)
    test_images, test_labels = to_tensors(test_set)
    return _tensor_splits(
        images, labels, test_images, test_labels, val_fraction, seed,
        num_classes=10, image_size=32, in_channels=3, mean=CIFAR10_MEAN, std=CIFAR10_STD, name="cifar10",
        train_augmentation=Augmentation(crop_padding=4, horizontal_flip=True),
        label_names=tuple(str(name) for name in train_set.classes),
    )


def load_image_folder_splits(
    data_dir: str | pathlib.Path, image_size: int = 224, val_fraction: float = 0.5, seed: int = 0
) -> ImageSplits:
    """A class-per-folder dataset laid out like ImageNet: ``data_dir/train/<class>/*`` and ``data_dir/val/<class>/*``.

    Training images get random-resized crops and flips; held-out and test images a resize and centre crop.
    ``val`` is a seeded part of ``train/`` (with evaluation transforms); ``val/`` is the test split.
    """
    import torchvision
    from torchvision import transforms

    root = pathlib.Path(data_dir).expanduser()
    train_dir, test_dir = root / "train", root / "val"
    if not train_dir.is_dir():
        raise FileNotFoundError(
            f"no training folder {train_dir}: an image-folder dataset needs {root}/train/<class>/<image> "
            f"(and optionally {root}/val/<class>/<image> for the test split)"
        )
    # no Normalize here: BatchStream normalises every source with the mean/std the artefact records
    bilinear = transforms.InterpolationMode.BILINEAR
    train_tf = transforms.Compose([
        transforms.RandomResizedCrop(image_size, interpolation=bilinear), transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
    ])
    resize_size = image_folder_resize(image_size)
    eval_tf = transforms.Compose([
        transforms.Resize(resize_size, interpolation=bilinear), transforms.CenterCrop(image_size),
        transforms.ToTensor(),
    ])
    train_full = torchvision.datasets.ImageFolder(str(train_dir), transform=train_tf)
    held_out = torchvision.datasets.ImageFolder(str(train_dir), transform=eval_tf)
    train_idx, val_idx = split_indices(len(train_full), val_fraction, seed)
    test = torchvision.datasets.ImageFolder(str(test_dir), transform=eval_tf) if test_dir.is_dir() else None
    if test is not None and test.classes != train_full.classes:
        raise ValueError(f"{test_dir} has classes {test.classes} but {train_dir} has {train_full.classes}: the "
                         "test split must hold the same class folders")
    return ImageSplits(
        train=Subset(train_full, train_idx.tolist()),
        val=Subset(held_out, val_idx.tolist()) if len(val_idx) else None,
        test=test, num_classes=len(train_full.classes), image_size=image_size, in_channels=3,
        mean=IMAGENET_MEAN, std=IMAGENET_STD, name=root.name or "image_folder", resize_size=resize_size,
        label_names=tuple(train_full.classes),
    )


def synthetic_splits(num_classes: int = 4, image_size: int = 8, in_channels: int = 3, train_size: int = 64,
                     test_size: int = 16, val_fraction: float = 0.5, noise: float = 0.3, seed: int = 0) -> ImageSplits:
    """Random class prototypes plus Gaussian noise: a learnable task with no files, for tests."""
    generator = torch.Generator().manual_seed(seed)
    prototypes = torch.rand(num_classes, in_channels, image_size, image_size, generator=generator)

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.arange(n) % num_classes
        noise_part = noise * torch.randn(n, in_channels, image_size, image_size, generator=generator)
        return (prototypes[labels] + noise_part).clamp(0.0, 1.0), labels

    images, labels = draw(train_size)
    test_images, test_labels = draw(test_size)
    return _tensor_splits(
        images, labels, test_images, test_labels, val_fraction, seed,
        num_classes=num_classes, image_size=image_size, in_channels=in_channels,
        mean=(0.5,) * in_channels, std=(0.3,) * in_channels, name="synthetic",
        channel_order="RGB" if in_channels == 3 else "L" if in_channels == 1 else f"{in_channels} channels",
        label_names=tuple(f"class_{i}" for i in range(num_classes)),
    )


DATASET_NAMES: Sequence[str] = ("digits", "cifar10", "image_folder", "synthetic")
# image side each dataset is read at when none is asked for (CIFAR-10 is always 32)
DEFAULT_IMAGE_SIZES = {"digits": 16, "cifar10": 32, "image_folder": 224, "synthetic": 8}


def resolve_image_size(name: str, image_size: int | None) -> int:
    """The image side ``load_splits(name, image_size=...)`` will use, checked without loading anything."""
    if name not in DEFAULT_IMAGE_SIZES:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)}")
    if image_size is None:
        return DEFAULT_IMAGE_SIZES[name]
    if name == "cifar10" and image_size != 32:
        raise ValueError(f"--image-size {image_size}: CIFAR-10 images are read at 32x32; drop the flag")
    if name == "digits" and image_size < 8:
        raise ValueError(f"--image-size {image_size}: digits are 8x8, so the size must be >= 8")
    return int(image_size)


def load_splits(name: str, data_dir: str | pathlib.Path | None = None, image_size: int | None = None,
                val_fraction: float = 0.5, seed: int = 0) -> ImageSplits:
    """Build the splits of a dataset by name (``digits``, ``cifar10``, ``image_folder``, ``synthetic``)."""
    image_size = resolve_image_size(name, image_size)
    if name == "digits":
        return load_digits_splits(image_size=image_size, val_fraction=val_fraction, seed=seed)
    if name == "cifar10":
        if data_dir is None:
            raise ValueError("cifar10 needs --data-dir: the folder that holds cifar-10-batches-py")
        return load_cifar10_splits(data_dir, val_fraction=val_fraction, seed=seed)
    if name == "image_folder":
        if data_dir is None:
            raise ValueError("image_folder needs --data-dir: a folder with train/<class>/ and val/<class>/")
        return load_image_folder_splits(data_dir, image_size=image_size, val_fraction=val_fraction, seed=seed)
    if name == "synthetic":
        return synthetic_splits(image_size=image_size, val_fraction=val_fraction, seed=seed)
    raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)}")


def _as_tensor_dataset(dataset: Dataset) -> TensorImageDataset | None:
    """The tensors behind a :class:`TensorImageDataset` (or a ``Subset`` of one), else ``None``."""
    if isinstance(dataset, TensorImageDataset):
        return dataset
    if isinstance(dataset, Subset) and isinstance(dataset.dataset, TensorImageDataset):
        index = torch.as_tensor(list(dataset.indices), dtype=torch.long)
        return TensorImageDataset(dataset.dataset.images[index], dataset.dataset.labels[index])
    return None


class BatchStream:
    """A resumable stream of (images, labels) batches on ``device``, sharded across processes.

    Tensor datasets are copied to ``device`` once and cut, augmented and normalised there; any other
    dataset goes through a ``DataLoader`` fed with the stream's own index batches. The order comes from
    one seeded ``torch.Generator``; :meth:`state_dict` holds it with the epoch's permutation and the
    cursor, so a resumed stream yields exactly the batches an uninterrupted one would.

    Parameters
    ----------
    dataset : Dataset
        Items are ``(image tensor, label)``.
    batch_size : int
        Global batch size; process ``i`` of ``n`` takes every ``n``-th item of each batch.
    shuffle : bool
        Reshuffle each epoch (training) or keep order (scoring; then the last batch may be short).
    mean, std : sequence of float
        Normalisation applied after augmentation.
    augmentation : Augmentation, optional
        Applied to training batches of tensor datasets (image datasets carry their own transforms).
    """

    def __init__(self, dataset: Dataset, batch_size: int, *, shuffle: bool, mean: Sequence[float],
                 std: Sequence[float], augmentation: Augmentation | None = None, device: torch.device | str = "cpu",
                 seed: int = 0, process_index: int = 0, num_processes: int = 1, num_workers: int = 0,
                 channels_last: bool = False) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if len(dataset) == 0:
            raise ValueError("the dataset is empty: check the split fractions")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.device = torch.device(device)
        self.augmentation = augmentation or Augmentation()
        self.process_index, self.num_processes = process_index, num_processes
        self.num_workers = num_workers
        self.channels_last = channels_last
        self.generator = torch.Generator().manual_seed(seed)
        self._mean = torch.tensor(list(mean), dtype=torch.float32, device=self.device)[None, :, None, None]
        self._std = torch.tensor(list(std), dtype=torch.float32, device=self.device)[None, :, None, None]
        tensors = _as_tensor_dataset(dataset)
        self._images = tensors.images.to(self.device) if tensors is not None else None
        self._labels = tensors.labels.to(self.device) if tensors is not None else None
        self._permutation: torch.Tensor | None = None
        self._cursor = 0

    @property
    def batches_per_epoch(self) -> int:
        """Number of batches in one pass (training drops a short last batch unless it is the only one)."""
        n = len(self.dataset)
        return max(1, n // self.batch_size) if self.shuffle else -(-n // self.batch_size)

    def _next_indices(self) -> torch.Tensor:
        if self._permutation is None or self._cursor >= self.batches_per_epoch:
            n = len(self.dataset)
            self._permutation = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
            self._cursor = 0
        start = self._cursor * self.batch_size
        self._cursor += 1
        indices = self._permutation[start:start + self.batch_size]
        return indices[self.process_index::self.num_processes]

    def _finish(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if images.dtype == torch.uint8:
            images = images.float() / 255.0
        if self.shuffle and self._images is not None:
            images = augment_batch(images, self.augmentation, self.generator)
        images = (images - self._mean) / self._std
        if self.shuffle and self._images is not None and self.augmentation.cutout_length > 0:
            images = cutout_batch(images, self.augmentation.cutout_length, self.generator)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return images, labels

    def take(self, steps: int | None = None):
        """Yield the next ``steps`` batches (continuing across epochs); ``None``: to the end of this epoch."""
        if steps is None:
            at_start = self._permutation is None or self._cursor >= self.batches_per_epoch
            steps = self.batches_per_epoch - (0 if at_start else self._cursor)
        index_batches = [self._next_indices() for _ in range(steps)]
        if self._images is not None:
            for indices in index_batches:
                device_indices = indices.to(self.device)
                yield self._finish(self._images[device_indices], self._labels[device_indices])
            return
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_sampler=[i.tolist() for i in index_batches if len(i)],
            num_workers=self.num_workers, pin_memory=self.device.type == "cuda",
        )
        for images, labels in loader:
            yield self._finish(images.to(self.device, non_blocking=True), labels.to(self.device))

    def state_dict(self) -> dict:
        """Generator state, current permutation and cursor."""
        return {"generator": self.generator.get_state(), "permutation": self._permutation, "cursor": self._cursor}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.generator.set_state(state["generator"])
        self._permutation = state["permutation"]
        self._cursor = int(state["cursor"])
