"""Export a layer-wise network to TorchScript or ONNX and check the exported outputs match PyTorch's."""

from __future__ import annotations

import os
import pathlib

import numpy as np
import torch
from torch import nn

EXPORT_FORMATS = ("torchscript", "onnx")


def export_torchscript(model: nn.Module, path: str | os.PathLike[str], example: torch.Tensor) -> float:
    """Trace ``model`` to TorchScript at ``path``; return the largest absolute output difference on ``example``."""
    model = model.eval()
    path = pathlib.Path(path)
    with torch.no_grad():
        traced = torch.jit.trace(model, example)
        tmp = path.with_name(path.name + ".tmp")
        traced.save(str(tmp))
        os.replace(tmp, path)
        loaded = torch.jit.load(str(path))
        return float((loaded(example) - model(example)).abs().max())


def export_onnx(model: nn.Module, path: str | os.PathLike[str], example: torch.Tensor, opset: int = 17) -> float:
    """Export ``model`` to ONNX (dynamic batch) at ``path``; return the largest output difference on ``example``.

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
    os.replace(tmp, path)
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph)
    (got,) = ReferenceEvaluator(graph).run(None, {"images": example.numpy()})
    return float(np.abs(got - expected).max())


def export_network(
    model: nn.Module, path: str | os.PathLike[str], example: torch.Tensor, fmt: str, tolerance: float = 1e-4
) -> float:
    """Export in ``fmt`` (``torchscript`` or ``onnx``) and raise if the outputs differ by more than ``tolerance``."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {EXPORT_FORMATS}")
    difference = (export_torchscript if fmt == "torchscript" else export_onnx)(model, path, example)
    if not difference <= tolerance:
        raise RuntimeError(
            f"the exported {fmt} model's outputs differ from PyTorch's by {difference:.3g} (> {tolerance:g})"
        )
    return difference
