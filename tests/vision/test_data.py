import numpy as np
import pytest
import torch

from ddp_vision.data import (
    Augmentation,
    BatchStream,
    TensorImageDataset,
    augment_batch,
    cutout_batch,
    load_cifar10_splits,
    load_digits_splits,
    load_image_folder_splits,
    load_splits,
    split_indices,
    synthetic_splits,
)


def test_split_indices_are_disjoint_seeded_and_cover_everything():
    train, val = split_indices(101, 0.5, seed=3)
    assert len(val) == 50 and len(train) == 51
    assert set(train).isdisjoint(val) and set(train) | set(val) == set(range(101))
    again_train, _ = split_indices(101, 0.5, seed=3)
    other_train, _ = split_indices(101, 0.5, seed=4)
    assert np.array_equal(train, again_train) and not np.array_equal(train, other_train)
    with pytest.raises(ValueError, match="val_fraction"):
        split_indices(10, 1.0, seed=0)


def test_digits_are_real_resized_and_split_without_touching_test():
    splits = load_digits_splits(image_size=16, val_fraction=0.5, test_fraction=0.2, seed=0)
    assert splits.num_classes == 10 and splits.in_channels == 1 and splits.image_size == 16
    assert len(splits.train) + len(splits.val) + len(splits.test) == 1797
    assert abs(len(splits.train) - len(splits.val)) <= 1
    image, label = splits.train[0]
    assert image.shape == (1, 16, 16) and 0 <= label < 10
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    train_set = {tuple(x.flatten().tolist()) for x in splits.train.images[:200]}
    test_set = {tuple(x.flatten().tolist()) for x in splits.test.images}
    assert len(train_set & test_set) < 5  # a handful of digits are pixel-identical duplicates in the data


def test_cifar10_missing_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_cifar10_splits(tmp_path)
    with pytest.raises(ValueError, match="--data-dir"):
        load_splits("cifar10")


def test_image_folder_layout(tmp_path):
    from PIL import Image

    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            folder = tmp_path / split / cls
            folder.mkdir(parents=True)
            for i in range(3):
                Image.fromarray(np.full((12, 12, 3), 40 * i, dtype=np.uint8)).save(folder / f"{i}.png")
    splits = load_image_folder_splits(tmp_path, image_size=8, val_fraction=0.5, seed=0)
    assert splits.num_classes == 2 and len(splits.train) + len(splits.val) == 6 and len(splits.test) == 6
    stream = BatchStream(splits.train, 2, shuffle=True, mean=splits.mean, std=splits.std)
    images, labels = next(iter(stream.take(1)))
    assert images.shape == (2, 3, 8, 8) and labels.shape == (2,)
    with pytest.raises(FileNotFoundError, match="train"):
        load_image_folder_splits(tmp_path / "nothing")


def test_stream_resumes_exactly_and_covers_an_epoch():
    splits = synthetic_splits(train_size=40, val_fraction=0.25, seed=1)
    aug = Augmentation(crop_padding=2, horizontal_flip=True, cutout_length=3)
    stream = BatchStream(splits.train, 8, shuffle=True, mean=splits.mean, std=splits.std, augmentation=aug, seed=5)
    list(stream.take(2))
    state = stream.state_dict()
    first = [x for x, _ in stream.take(7)]
    stream.load_state_dict(state)
    second = [x for x, _ in stream.take(7)]
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    eval_stream = BatchStream(splits.val, 4, shuffle=False, mean=splits.mean, std=splits.std)
    labels = torch.cat([y for _, y in eval_stream.take()])
    assert torch.equal(labels, splits.val.labels)


def test_stream_shards_batches_across_processes():
    data = TensorImageDataset(torch.rand(12, 1, 4, 4), torch.arange(12))
    shards = [
        BatchStream(data, 6, shuffle=False, mean=[0], std=[1], process_index=i, num_processes=2) for i in range(2)
    ]
    seen = torch.cat([y for s in shards for _, y in s.take()])
    assert sorted(seen.tolist()) == list(range(12))


def test_augmentation_moves_pixels_and_cutout_zeroes_a_square():
    images = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6) + 1
    gen = torch.Generator().manual_seed(0)
    shifted = augment_batch(images, Augmentation(crop_padding=2), gen)
    assert shifted.shape == images.shape and not torch.equal(shifted, images)
    cut = cutout_batch(images, 2, torch.Generator().manual_seed(1))
    zeros = (cut == 0).sum(dim=(1, 2, 3))
    assert torch.all((zeros >= 1) & (zeros <= 4))


def test_unknown_dataset_name_lists_choices():
    with pytest.raises(ValueError, match="digits"):
        load_splits("mnist")


def test_cifar10_layout_loads_through_torchvision(tmp_path, monkeypatch):
    """A tiny file-for-file CIFAR-10 layout (checksums bypassed) goes through torchvision's own class."""
    import os
    import pickle

    import torchvision

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), "labels": [0, 1, 2, 3]}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda path, md5=None: os.path.exists(path))
    splits = load_cifar10_splits(tmp_path, val_fraction=0.5, seed=0)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (10, 10, 4)
    assert splits.train.images.dtype == torch.uint8 and splits.train.images.shape[1:] == (3, 32, 32)
    assert splits.train_augmentation.horizontal_flip and splits.num_classes == 10
    stream = BatchStream(splits.train, 5, shuffle=True, mean=splits.mean, std=splits.std,
                         augmentation=splits.train_augmentation)
    images, labels = next(iter(stream.take(1)))
    assert images.dtype == torch.float32 and images.shape == (5, 3, 32, 32)
