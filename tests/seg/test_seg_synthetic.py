"""The synthetic Cityscapes-layout writer: mmseg's CityscapesDataset finds its files; labels are train ids."""

import numpy as np
import pytest
from PIL import Image

from ddp_seg.synthetic_cityscapes import IGNORE_INDEX, main, write_synthetic_cityscapes


def test_mmseg_cityscapes_dataset_reads_the_layout(tiny_cityscapes):
    from mmseg.datasets import CityscapesDataset

    for split, count in (("train", 4), ("val", 2)):
        dataset = CityscapesDataset(
            data_root=str(tiny_cityscapes),
            data_prefix=dict(img_path=f"leftImg8bit/{split}", seg_map_path=f"gtFine/{split}"),
            pipeline=[],
        )
        assert len(dataset) == count
        info = dataset.get_data_info(0)
        image = np.asarray(Image.open(info["img_path"]))
        label = np.asarray(Image.open(info["seg_map_path"]))
        assert image.shape == (64, 128, 3) and label.shape == (64, 128)
        values = set(np.unique(label).tolist())
        assert values <= set(range(19)) | {IGNORE_INDEX} and len(values - {IGNORE_INDEX}) >= 1


def test_same_seed_same_files(tmp_path):
    first = write_synthetic_cityscapes(tmp_path / "a", num_train=1, num_val=1, seed=3)
    second = write_synthetic_cityscapes(tmp_path / "b", num_train=1, num_val=1, seed=3)
    other = write_synthetic_cityscapes(tmp_path / "c", num_train=1, num_val=1, seed=4)
    files = sorted(p.relative_to(first) for p in first.rglob("*.png"))
    assert len(files) == 4
    assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files)
    assert any((first / f).read_bytes() != (other / f).read_bytes() for f in files)


def test_bad_sizes_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="at least one image per split"):
        write_synthetic_cityscapes(tmp_path, num_train=0)
    with pytest.raises(ValueError, match="at least 16 x 16"):
        write_synthetic_cityscapes(tmp_path, height=8)


def test_command_line(tmp_path, capsys):
    assert main([str(tmp_path / "d"), "--train", "2", "--val", "1", "--size", "32", "48"]) == 0
    assert len(list((tmp_path / "d" / "leftImg8bit" / "train").rglob("*.png"))) == 2
    assert "wrote 2 training and 1 validation" in capsys.readouterr().out
