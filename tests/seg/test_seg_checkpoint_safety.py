"""ddp_seg's weights_only allow-list: mmengine checkpoints load, crafted ones do not (issue 11)."""

import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer

import ddp_seg  # noqa: F401  (adds the allow-list, process-wide)
from ddp_seg.checkpoint_globals import history_buffer_statistic, mmengine_checkpoint_globals


class BuiltinsModule:
    """Unpickles as getattr(getattr, "__self__"): the ``builtins`` module."""

    def __reduce__(self):
        return (getattr, (getattr, "__self__"))


class ImportFunction:
    """Unpickles as getattr(<builtins>, "__import__")."""

    def __reduce__(self):
        return (getattr, (BuiltinsModule(), "__import__"))


class System:
    """Unpickles as os.system(command)."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class HistoryBufferAttribute:
    """Unpickles as getattr(HistoryBuffer, name), the way mmengine pickles its statistics methods."""

    def __init__(self, name):
        self.name = name

    def __reduce__(self):
        return (getattr, (HistoryBuffer, self.name))


def save(tmp_path, payload):
    path = tmp_path / "crafted.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "payload": payload}, path)
    return path


def test_allow_list_is_exact():
    ours = mmengine_checkpoint_globals()
    safe = torch.serialization.get_safe_globals()
    assert all(entry in safe for entry in ours)  # import ddp_seg added them
    assert getattr not in safe and not any(isinstance(entry, tuple) and entry[0] is getattr for entry in safe)
    named = {entry[1]: entry[0] for entry in ours if isinstance(entry, tuple)}
    assert named["builtins.getattr"] is history_buffer_statistic
    assert set(named) == {"builtins.getattr", "numpy.core.multiarray._reconstruct", "numpy.core.multiarray.scalar"}
    plain = {entry for entry in ours if not isinstance(entry, tuple)}
    classes = {entry for entry in plain if isinstance(entry, type)}
    assert plain - classes == {np._core.multiarray._reconstruct, np._core.multiarray.scalar}
    assert {HistoryBuffer, np.ndarray, np.dtype, np.dtypes.Float64DType, np.dtypes.Int64DType} <= classes
    assert all(cls in (HistoryBuffer, np.ndarray, np.dtype) or cls.__module__ == "numpy.dtypes" for cls in classes)
    assert not classes & {np.dtypes.ObjectDType, np.dtypes.StrDType, np.dtypes.VoidDType}


def test_crafted_getattr_chain_to_import_is_refused(tmp_path):
    path = save(tmp_path, ImportFunction())
    # "builtins.getattr" in the file now names ddp_seg's restricted lookup, which refuses the first step
    with pytest.raises(pickle.UnpicklingError, match=r"refusing getattr\(<function history_buffer_statistic .*'__self__'\)"):
        torch.load(path, weights_only=True)
    # The same file is an exploit under an allow-list that holds getattr itself (ddp_seg's old one):
    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        torch.serialization.add_safe_globals([getattr])
        assert torch.load(path, weights_only=True)["payload"] is __import__
    finally:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(saved)
    with pytest.raises(pickle.UnpicklingError):  # and refused again once restored
        torch.load(path, weights_only=True)


def test_crafted_os_system_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = save(tmp_path, System(f"touch {marker}"))
    with pytest.raises(pickle.UnpicklingError, match="system"):
        torch.load(path, weights_only=True)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["__init__", "update", "__class__", "_statistics_methods"])
def test_getattr_on_history_buffer_admits_only_statistics_methods(tmp_path, name):
    with pytest.raises(pickle.UnpicklingError, match=f"refusing getattr.*'{name}'"):
        torch.load(save(tmp_path, HistoryBufferAttribute(name)), weights_only=True)
    loaded = torch.load(save(tmp_path, HistoryBufferAttribute("min")), weights_only=True)
    assert loaded["payload"] is HistoryBuffer.min


def test_mmengine_message_hub_state_loads(tmp_path):
    buffer = HistoryBuffer()
    buffer.update(0.5)
    payload = {"buffer": buffer, "array": np.arange(3), "scalar": np.float64(1.5), "dtype": np.dtype("int64"),
               "counts": np.array([1, 2], dtype=np.int32)}
    path = tmp_path / "hub.pth"
    torch.save(payload, path)
    loaded = torch.load(path, weights_only=True)
    assert loaded["buffer"].current() == 0.5 and loaded["buffer"].mean() == 0.5
    assert loaded["array"].tolist() == [0, 1, 2] and loaded["scalar"] == 1.5 and loaded["dtype"] == np.int64
    assert loaded["counts"].dtype == np.int32
