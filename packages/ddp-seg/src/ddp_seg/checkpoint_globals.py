"""Let torch >= 2.6 load mmengine checkpoints with ``weights_only=True``.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``, which refuses any Python object that is not
allow-listed. mmengine 0.10.7 checkpoints (``resume=True``, ``load_from``, ``tools/test.py``) hold its
``HistoryBuffer`` log buffers, numpy arrays, scalars and dtypes in the message hub, so loading fails with an
``UnpicklingError``. Allow-listing exactly those types keeps the safe loader on (safer than passing
``weights_only=False``, which would run arbitrary pickled code from a checkpoint file).

``HistoryBuffer`` pickles its statistics methods as ``getattr(HistoryBuffer, "min")``, so ``getattr`` is on
the list too. That stays narrow: torch's safe unpickler only *calls* allow-listed callables, so an attribute
fetched with ``getattr`` can be stored but never invoked unless it is itself allow-listed.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["mmengine_checkpoint_globals", "allow_mmengine_checkpoint_globals"]


def mmengine_checkpoint_globals() -> list[object]:
    """Return the classes and functions that mmengine 0.10 checkpoints pickle besides tensors.

    Returns
    -------
    list[object]
        ``HistoryBuffer``, ``getattr`` (for its pickled methods), numpy's array reconstruction helpers, ``ndarray``, ``dtype`` and every concrete
        numpy dtype class (numpy 2 pickles dtypes as e.g. ``numpy.dtypes.Float64DType``).
    """
    from mmengine.logging.history_buffer import HistoryBuffer

    multiarray = getattr(np, "_core", None) or np.core
    allowed: list[object] = [
        HistoryBuffer,
        getattr,
        multiarray.multiarray._reconstruct,
        multiarray.multiarray.scalar,
        np.ndarray,
        np.dtype,
    ]
    dtypes_module = getattr(np, "dtypes", None)
    if dtypes_module is not None:
        allowed.extend(
            getattr(dtypes_module, name)
            for name in dir(dtypes_module)
            if name.endswith("DType") and isinstance(getattr(dtypes_module, name), type)
        )
    return allowed


def allow_mmengine_checkpoint_globals() -> bool:
    """Allow-list :func:`mmengine_checkpoint_globals` for ``torch.load(weights_only=True)``.

    Returns
    -------
    bool
        False on torch versions without ``torch.serialization.add_safe_globals`` (they load without it).
    """
    add_safe_globals = getattr(torch.serialization, "add_safe_globals", None)
    if add_safe_globals is None:
        return False
    add_safe_globals(mmengine_checkpoint_globals())
    return True
