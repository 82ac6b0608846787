"""Let torch >= 2.6 load mmengine checkpoints with ``weights_only=True``, allowing nothing more.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``, which refuses any Python object that is not
allow-listed. mmengine 0.10.7 checkpoints (``resume=True``, ``load_from``, ``tools/test.py``) hold its message
hub's ``HistoryBuffer`` log buffers, numpy arrays and numpy scalars, so loading fails with an
``UnpicklingError``. A checkpoint of an mmseg run (``torch.serialization.get_unsafe_globals_in_checkpoint``)
names exactly: ``HistoryBuffer``, ``numpy.ndarray``, ``numpy.dtype``, numpy's ``_reconstruct`` and ``scalar``,
and ``builtins.getattr``; restoring a numpy dtype's state also needs its class allow-listed (numpy 2's
``numpy.dtypes.Float64DType`` and so on), of which only the numeric ones (bool, integer, float, complex) can
occur in mmengine's numeric logs.

The last one is the risk: ``HistoryBuffer`` pickles its statistics methods as ``getattr(HistoryBuffer,
"min")``, but allow-listing ``getattr`` itself would let a crafted file fetch anything reachable by attribute
(``getattr(getattr, "__self__")`` is the ``builtins`` module, and from it ``__import__``). So the name
``builtins.getattr`` is bound to :func:`history_buffer_statistic` instead, which returns only a statistics
method of ``HistoryBuffer`` and refuses every other lookup. The safe loader stays on; ``weights_only=False``
would run arbitrary pickled code.
"""

from __future__ import annotations

import inspect
import pickle
from typing import Any

import numpy as np
import torch

__all__ = ["allow_mmengine_checkpoint_globals", "history_buffer_statistic", "mmengine_checkpoint_globals"]

GETATTR_NAME = "builtins.getattr"
DEFAULT_STATISTICS = frozenset({"min", "max", "current", "mean"})


def history_buffer_statistic(owner: Any, name: str) -> Any:
    """``getattr`` as mmengine checkpoints use it: one of ``HistoryBuffer``'s statistics methods, nothing else.

    Parameters
    ----------
    owner:
        Must be mmengine's ``HistoryBuffer`` class.
    name:
        A registered statistics method (``min``, ``max``, ``current``, ``mean`` or one added with
        ``HistoryBuffer.register_statistics``) that ``HistoryBuffer`` defines itself.

    Raises
    ------
    pickle.UnpicklingError
        For any other object or attribute.
    """
    from mmengine.logging.history_buffer import HistoryBuffer

    # HistoryBuffer fills its class-level table of methods only when a first instance is made, which a
    # process that only loads (tools/test.py) may not have done yet: the four defaults are named here.
    statistics = DEFAULT_STATISTICS | set(HistoryBuffer._statistics_methods)
    defined = vars(HistoryBuffer).get(name) if isinstance(name, str) else None
    if owner is HistoryBuffer and name in statistics and inspect.isfunction(defined):
        return defined
    raise pickle.UnpicklingError(
        f"refusing getattr({owner!r}, {name!r}) from a checkpoint: ddp_seg's weights_only allow-list admits only "
        "getattr(HistoryBuffer, <statistics method>), which mmengine checkpoints need"
    )


def mmengine_checkpoint_globals() -> list[object]:
    """The allow-list entries for mmengine 0.10 checkpoints, as ``torch.serialization.add_safe_globals`` takes them.

    Returns
    -------
    list[object]
        ``HistoryBuffer``, ``numpy.ndarray``, ``numpy.dtype``, the numeric dtype classes of numpy 2
        (``numpy.dtypes.Float64DType``, ...; no object, string, void or datetime dtypes), numpy's
        ``_reconstruct`` and ``scalar`` (also under numpy 1's ``numpy.core.multiarray`` names, for checkpoints
        written with numpy 1), and ``(history_buffer_statistic, "builtins.getattr")``.
    """
    from mmengine.logging.history_buffer import HistoryBuffer

    multiarray = (getattr(np, "_core", None) or np.core).multiarray
    allowed: list[object] = [
        HistoryBuffer,
        np.ndarray,
        np.dtype,
        multiarray._reconstruct,
        multiarray.scalar,
        (history_buffer_statistic, GETATTR_NAME),
    ]
    dtypes = getattr(np, "dtypes", None)  # numpy >= 1.25
    for name in dir(dtypes) if dtypes is not None else ():
        cls = getattr(dtypes, name)
        if isinstance(cls, type) and name.endswith("DType") and np.dtype(cls.type).kind in "biufc":
            allowed.append(cls)
    for function in (multiarray._reconstruct, multiarray.scalar):
        for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            if module != function.__module__:
                allowed.append((function, f"{module}.{function.__name__}"))
    return allowed


def allow_mmengine_checkpoint_globals() -> bool:
    """Allow-list :func:`mmengine_checkpoint_globals` for ``torch.load(weights_only=True)``.

    Returns
    -------
    bool
        False on torch < 2.6: ``torch.load`` defaults to ``weights_only=False`` there, and its allow-list does
        not take the ``(object, name)`` entries used here.
    """
    if torch.__version__ < "2.6":
        return False
    torch.serialization.add_safe_globals(mmengine_checkpoint_globals())
    return True
