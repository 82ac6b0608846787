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


class _ReadOnly:
    """Makes directories a tool cannot write into, and the command prefix that makes it so even for root.

    Root ignores permission bits through CAP_DAC_OVERRIDE; ``setpriv`` drops that capability for the tool's
    process, so the directory's mode (r-x) applies to it as to any user.
    """

    def __init__(self) -> None:
        self.made = []

    def __call__(self, path):
        path.mkdir(parents=True)
        path.chmod(0o555)
        self.made.append(path)
        return path

    def command(self, command):
        import os
        import shutil

        if os.geteuid() != 0:
            return command
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without util-linux setpriv: no way to make a directory read-only here "
                        "(test_read_only_file_system_is_one_line covers the message)")
        drop = "-dac_override,-dac_read_search"
        return [setpriv, f"--inh-caps={drop}", f"--bounding-set={drop}", *command]


@pytest.fixture
def read_only_directory():
    maker = _ReadOnly()
    yield maker
    for path in maker.made:
        path.chmod(0o755)
