"""Checkpoint files that cannot run code: weights as safetensors, training state through ``weights_only`` loads.

Everything a search or a training run writes to disk and reads back goes through here:

- :func:`save_weights` / :func:`load_weights`: a model's ``state_dict`` as a ``.safetensors`` file (tensors
  only, no pickle at all);
- :func:`save_tree` / :func:`load_tree`: any nest of dicts, lists, tuples, numbers, strings and tensors (an
  optimiser's state, data order, RNG states) as ``NAME.json`` plus ``NAME.safetensors`` holding every tensor
  in one flat buffer per dtype: no pickle, and a few milliseconds for thousands of small tensors;
- :func:`save_state` / :func:`load_state`: the same kind of data with ``torch.save``, read back with
  ``torch.load(weights_only=True)``, which refuses any object other than tensors and plain Python data (a
  crafted pickle whose ``__reduce__`` calls ``os.system`` is rejected before it runs);
- :func:`rng_state` / :func:`set_rng_state`: this process's torch, CUDA, Python and numpy RNG states as plain
  data (numpy's key array becomes a list, so the weights-only loader accepts it).

A file that fails to load raises :class:`CheckpointError` (a ``ValueError``) with one line naming the file and
the fix, which the tools print as ``error: ...`` (exit status 2).
"""

from __future__ import annotations

import json
import os
import pathlib
import pickle
import random
import re
from typing import Any

import numpy as np
import torch

__all__ = ["CheckpointError", "atomic_torch_save", "load_state", "load_tree", "load_weights", "rng_state",
           "save_state", "save_tree", "save_weights", "set_rng_state"]


class CheckpointError(ValueError):
    """A checkpoint file that is missing, corrupt, or holds something other than tensors and plain data."""


def _temporary(path: pathlib.Path) -> pathlib.Path:
    return path.with_name(f".{path.name}.tmp")


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file beside ``path``, then ``os.replace`` (no half-written files)."""
    path = pathlib.Path(path)
    tmp = _temporary(path)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_state(obj: Any, path: str | os.PathLike) -> None:
    """Write training state (tensors, numbers, strings, lists, dicts, tuples) atomically."""
    atomic_torch_save(obj, path)


def load_state(path: str | os.PathLike) -> Any:
    """Read what :func:`save_state` wrote with ``torch.load(weights_only=True)``; nothing in the file can run."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: the checkpoint is incomplete; restore it or start a new run")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"{path} holds objects other than tensors and plain data, so it was not loaded (loading it could run "
            f"code: {first}); restore the checkpoint from a trusted copy or start a new run"
        ) from None
    except (RuntimeError, EOFError, OSError) as error:
        text = " ".join(str(error).split()) or type(error).__name__
        raise CheckpointError(f"{path} is not a readable checkpoint ({text}); restore it or start a new run") from None


def save_weights(state_dict: dict[str, torch.Tensor], path: str | os.PathLike,
                 metadata: dict[str, str] | None = None) -> None:
    """A ``state_dict`` as safetensors, atomically (tensors made contiguous and moved to the CPU)."""
    path = pathlib.Path(path)
    tensors = {name: tensor.detach().to("cpu").contiguous() for name, tensor in state_dict.items()}
    tmp = _temporary(path)
    try:
        if all(t.dtype != torch.bfloat16 for t in tensors.values()):
            # the numpy writer is about 3x faster for thousands of small tensors (a supernet); same file format
            from safetensors.numpy import save_file

            save_file({name: t.numpy() for name, t in tensors.items()}, str(tmp), metadata=metadata)
        else:
            from safetensors.torch import save_file

            save_file(tensors, str(tmp), metadata=metadata)
        os.replace(tmp, path)
    except Exception as error:
        raise safetensors_os_error(error, path) from None
    finally:
        tmp.unlink(missing_ok=True)


def safetensors_os_error(error: Exception, path: pathlib.Path) -> Exception:
    """safetensors reports a failed write (a full disk, a missing folder) as ``SafetensorError``, which no tool
    expects: as the ``OSError`` it wraps (``os error 28``), so it is one line naming the file and the fix."""
    found = re.search(r"os error (\d+)", str(error))
    if type(error).__name__ != "SafetensorError" or found is None:
        return error
    code = int(found.group(1))
    return OSError(code, os.strerror(code), str(path))


def _encode(obj: Any, groups: dict[str, list[torch.Tensor]], sizes: dict[str, int]) -> Any:
    if isinstance(obj, torch.Tensor):
        tensor = obj.detach().to("cpu")
        dtype = str(tensor.dtype).removeprefix("torch.")
        offset = sizes.get(dtype, 0)
        groups.setdefault(dtype, []).append(tensor.reshape(-1))
        sizes[dtype] = offset + tensor.numel()
        return {"__tensor__": [dtype, offset, list(tensor.shape)]}
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _encode(v, groups, sizes) for k, v in obj.items()}
        return {"__items__": [[_encode(k, groups, sizes), _encode(v, groups, sizes)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, groups, sizes) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, groups, sizes) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store a {type(obj).__name__} in a checkpoint: only tensors and plain data")


def _decode(obj: Any, flat: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, list):
        return [_decode(v, flat) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        dtype, offset, shape = obj["__tensor__"]
        count = int(np.prod(shape)) if shape else 1
        return flat[dtype][offset:offset + count].clone().view(shape)
    if "__tuple__" in obj:
        return tuple(_decode(v, flat) for v in obj["__tuple__"])
    if "__items__" in obj:
        return {_decode(k, flat): _decode(v, flat) for k, v in obj["__items__"]}
    return {k: _decode(v, flat) for k, v in obj.items()}


def save_tree(obj: Any, stem: str | os.PathLike) -> None:
    """Write ``obj`` as ``STEM.json`` + ``STEM.safetensors`` (tensors concatenated per dtype); see :func:`load_tree`."""
    from safetensors.torch import save_file

    stem = pathlib.Path(stem)
    groups: dict[str, list[torch.Tensor]] = {}
    tree = _encode(obj, groups, {})
    flat = {dtype: torch.cat(parts) if parts else torch.empty(0) for dtype, parts in groups.items()}
    tensors, text = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
    tmp_tensors, tmp_text = _temporary(tensors), _temporary(text)
    try:
        save_file(flat, str(tmp_tensors))
        tmp_text.write_text(json.dumps(tree, separators=(",", ":")))
        os.replace(tmp_tensors, tensors)
        os.replace(tmp_text, text)
    finally:
        tmp_tensors.unlink(missing_ok=True)
        tmp_text.unlink(missing_ok=True)


def load_tree(stem: str | os.PathLike) -> Any:
    """Read what :func:`save_tree` wrote (JSON and safetensors only: nothing in the files can run)."""
    stem = pathlib.Path(stem)
    text = stem.with_suffix(".json")
    flat = load_weights(stem.with_suffix(".safetensors"))
    if not text.is_file():
        raise CheckpointError(f"{text} is missing: the checkpoint is incomplete; restore it or start a new run")
    try:
        return _decode(json.loads(text.read_text()), flat)
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError, RuntimeError) as error:
        text_error = " ".join(str(error).split())[:200] or type(error).__name__
        raise CheckpointError(f"{text} is not a valid checkpoint ({text_error}); restore it or start a new run") from None


def load_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file (on the CPU), or a :class:`CheckpointError` naming the file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = pathlib.Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: the checkpoint is incomplete; restore it or start a new run")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        text = " ".join(str(error).split()) or type(error).__name__
        raise CheckpointError(f"{path} is not a valid safetensors file ({text}); restore it or start a new run") from None


def rng_state() -> dict[str, Any]:
    """This process's RNG states as plain data (loadable with ``weights_only=True``)."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": (kind, [int(k) for k in keys], int(position), int(has_gauss), float(cached)),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), position, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
