"""Export a trained network (DARTS or layer-wise) to TorchScript or ONNX and check the outputs match PyTorch's.

``metadata`` (the network's ``config.json`` as string pairs: input size, mean/std, architecture; see
:mod:`ddp_vision.artifacts`) travels with the file: ONNX ``metadata_props``, a TorchScript extra file
``config.json``.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

EXPORT_FORMATS = ("torchscript", "onnx")


def export_torchscript(model: nn.Module, path: str | os.PathLike[str], example: torch.Tensor,
                       metadata: Mapping[str, str] | None = None) -> float:
    """Trace ``model`` to TorchScript at ``path``; return the largest absolute output difference on ``example``.

    ``metadata`` is stored as the extra file ``config.json`` (``torch.jit.load(path, _extra_files=...)``).
    """
    model = model.eval()
    path = pathlib.Path(path)
    with torch.no_grad():
        traced = torch.jit.trace(model, example)
        tmp = path.with_name(path.name + ".tmp")
        extra = {"config.json": json.dumps(dict(metadata))} if metadata else {}
        traced.save(str(tmp), _extra_files=extra)
        os.replace(tmp, path)
        loaded = torch.jit.load(str(path))
        return float((loaded(example) - model(example)).abs().max())


def export_onnx(model: nn.Module, path: str | os.PathLike[str], example: torch.Tensor, opset: int = 17,
                metadata: Mapping[str, str] | None = None) -> float:
    """Export ``model`` to ONNX (dynamic batch) at ``path``; return the largest output difference on ``example``.

    ``metadata`` becomes the file's ``metadata_props`` (read them with ``onnx.load(path).metadata_props`` or
    onnxruntime's ``get_modelmeta().custom_metadata_map``).

    The check runs the file with ``onnx.reference.ReferenceEvaluator`` (no onnxruntime needed); it is exact but
    slow, so keep ``example`` small.
    """
    import onnx
    from onnx.reference import ReferenceEvaluator

    model = model.eval()
    path = pathlib.Path(path)
    tmp = path.with_name(path.stem + ".tmp.onnx")
    with torch.no_grad():
        # the TorchScript-based exporter: the dynamo one needs onnxscript, which is not a dependency
        torch.onnx.export(
            model, (example,), str(tmp), dynamo=False, input_names=["images"], output_names=["logits"],
            dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}, opset_version=opset,
        )
        expected = model(example).numpy()
    if metadata:
        exported = onnx.load(str(tmp))
        onnx.helper.set_model_props(exported, {str(k): str(v) for k, v in metadata.items()})
        onnx.save(exported, str(tmp))
    os.replace(tmp, path)
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph)
    (got,) = ReferenceEvaluator(graph).run(None, {"images": example.numpy()})
    return float(np.abs(got - expected).max())


def export_network(
    model: nn.Module, path: str | os.PathLike[str], example: torch.Tensor, fmt: str, tolerance: float = 1e-4,
    metadata: Mapping[str, str] | None = None,
) -> float:
    """Export in ``fmt`` (``torchscript`` or ``onnx``) and raise if the outputs differ by more than ``tolerance``."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {EXPORT_FORMATS}")
    exporter = export_torchscript if fmt == "torchscript" else export_onnx
    difference = exporter(model, path, example, metadata=metadata)
    if not difference <= tolerance:
        raise RuntimeError(
            f"the exported {fmt} model's outputs differ from PyTorch's by {difference:.3g} (> {tolerance:g})"
        )
    return difference
