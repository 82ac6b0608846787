"""Parameters and multiply-accumulates (MACs) of a segmentor: the one place ddp-seg counts them.

Counting convention: the same as ``ddp_vision``'s cost tables (and the paper's "FLOPs"): MACs of
convolutions and linear layers only; BatchNorm, activations, additions, pooling, resizing and biases cost no
MACs. MACs are counted by forward hooks on a real forward pass at the given input size, so any decode head
mmseg builds is covered. Parameters are every parameter tensor (BatchNorm weight and bias included; running
statistics are buffers). For a DDPNAS backbone the counts equal ``ddp_vision``'s symbolic ones without the
classification head (``tests/seg`` checks this).

``tools/seg_complexity.py`` is the command-line entry (:func:`main`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

__all__ = [
    "ComplexityReport",
    "PartComplexity",
    "count_macs",
    "count_params",
    "main",
    "module_macs_and_params",
    "segmentor_complexity",
]


@dataclass(frozen=True)
class PartComplexity:
    """Cost of one top-level part of a segmentor (``backbone``, ``decode_head``, ...).

    Attributes
    ----------
    macs:
        Multiply-accumulates for one image at the report's input size (0 if the part does not run at
        inference, like an auxiliary head).
    params:
        Parameters.
    used_at_inference:
        Whether the part runs in ``mode="tensor"`` (auxiliary heads only train).
    """

    macs: int
    params: int
    used_at_inference: bool

    @property
    def flops_g(self) -> float:
        """MACs in billions (the paper's "GFLOPs")."""
        return self.macs / 1e9

    @property
    def params_m(self) -> float:
        """Parameters in millions."""
        return self.params / 1e6


@dataclass(frozen=True)
class ComplexityReport:
    """Whole-segmentor cost at one input size.

    Attributes
    ----------
    height, width:
        Input size in pixels.
    parts:
        Cost per top-level child module, by attribute name.
    backbone_out_channels:
        Channels of each backbone output (for decode heads' ``in_channels``); empty if unknown.
    """

    height: int
    width: int
    parts: dict[str, PartComplexity]
    backbone_out_channels: tuple[int, ...] = ()

    @property
    def macs(self) -> int:
        """Inference MACs for one image (all parts that run in ``mode="tensor"``)."""
        return sum(part.macs for part in self.parts.values())

    @property
    def params(self) -> int:
        """Parameters used at inference (auxiliary heads excluded)."""
        return sum(part.params for part in self.parts.values() if part.used_at_inference)

    @property
    def params_with_training_heads(self) -> int:
        """All parameters, auxiliary heads included."""
        return sum(part.params for part in self.parts.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary with ``flops_g`` (GMACs) and ``params_m`` per part and in total."""
        return {
            "input_hw": [self.height, self.width],
            "flops_g": self.macs / 1e9,
            "params_m": self.params / 1e6,
            "params_m_with_training_heads": self.params_with_training_heads / 1e6,
            "backbone_out_channels": list(self.backbone_out_channels),
            "parts": {
                name: {**asdict(part), "flops_g": part.flops_g, "params_m": part.params_m}
                for name, part in self.parts.items()
            },
            "convention": "MACs of convolutions and linear layers (FLOPs = MACs); all parameter tensors",
        }

    def format_table(self) -> str:
        """A plain-text table, one row per part and a total."""
        lines = [f"input {self.height}x{self.width}", f"{'part':<18}{'GFLOPs (MACs)':>15}{'params (M)':>12}"]
        for name, part in self.parts.items():
            note = "" if part.used_at_inference else "  (training only)"
            lines.append(f"{name:<18}{part.flops_g:>15.3f}{part.params_m:>12.3f}{note}")
        lines.append(f"{'total (inference)':<18}{self.macs / 1e9:>15.3f}{self.params / 1e6:>12.3f}")
        if self.backbone_out_channels:
            lines.append(f"backbone out_channels: {list(self.backbone_out_channels)}")
        return "\n".join(lines)


def _layer_macs(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> int:
    """MACs of one convolution or linear call, per batch element."""
    batch = output.shape[0] if output.dim() > 1 else 1
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        per_input = module.out_channels // module.groups * math.prod(module.kernel_size)
        return inputs[0].numel() * per_input // inputs[0].shape[0]
    if isinstance(module, nn.modules.conv._ConvNd):
        per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
        return output.numel() * per_output // batch
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features // batch
    return 0


def count_macs(
    model: nn.Module,
    run: Callable[[], Any],
    groups: dict[str, nn.Module] | None = None,
    groups_that_ran: set[str] | None = None,
) -> dict[str, int]:
    """Count MACs per group of modules while ``run()`` does one forward pass.

    Parameters
    ----------
    model:
        The module whose convolutions and linear layers are hooked.
    run:
        Performs the forward pass (one image: MACs are divided by the batch size).
    groups:
        Name to sub-module; each layer is credited to the group containing it. Default: ``{"total": model}``.
    groups_that_ran:
        If given, the names of groups with at least one counted layer called are added to it.

    Returns
    -------
    dict[str, int]
        MACs per group name.
    """
    groups = groups if groups is not None else {"total": model}
    owner: dict[nn.Module, str] = {}
    for name, group in groups.items():
        for layer in group.modules():
            owner.setdefault(layer, name)
    totals = dict.fromkeys(groups, 0)
    counted = (nn.modules.conv._ConvNd, nn.Linear)
    handles = []

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        if module in owner:
            totals[owner[module]] += _layer_macs(module, inputs, output)
            if groups_that_ran is not None:
                groups_that_ran.add(owner[module])

    for layer in model.modules():
        if isinstance(layer, counted):
            handles.append(layer.register_forward_hook(hook))
    try:
        with torch.no_grad():
            run()
    finally:
        for handle in handles:
            handle.remove()
    return totals


def count_params(module: nn.Module) -> int:
    """Number of parameter elements of ``module`` (shared parameters counted once)."""
    return sum(p.numel() for p in module.parameters())


def module_macs_and_params(module: nn.Module, input_shape: Sequence[int]) -> tuple[int, int]:
    """MACs and parameters of a plain module called on one zero tensor of ``input_shape`` (N C H W).

    Parameters
    ----------
    module:
        E.g. a backbone; it is put in eval mode for the count and restored afterwards.
    input_shape:
        Full input shape; MACs are per batch element.
    """
    was_training = module.training
    module.eval()
    try:
        parameter = next(module.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
        x = torch.zeros(*input_shape, device=device)
        macs = count_macs(module, lambda: module(x))["total"]
    finally:
        module.train(was_training)
    return macs, count_params(module)


def segmentor_complexity(model: nn.Module, height: int, width: int) -> ComplexityReport:
    """Cost of an mmseg segmentor (e.g. ``EncoderDecoder``) for one ``3 x height x width`` image.

    Parameters
    ----------
    model:
        A built segmentor; its ``forward(inputs, mode="tensor")`` is run once without gradients.
    height, width:
        Input size in pixels (Cityscapes: 1024 x 2048).

    Returns
    -------
    ComplexityReport
    """
    if height < 1 or width < 1:
        raise ValueError(f"input size must be positive, got {height} x {width}")
    parts = {name: child for name, child in model.named_children() if name != "data_preprocessor"}
    was_training = model.training
    model.eval()
    try:
        parameter = next(model.parameters())
        x = torch.zeros(1, 3, height, width, device=parameter.device)
        # mmseg calls heads' .forward() directly (no module hooks fire), so "ran" means "a counted layer of
        # the part ran"; auxiliary heads never do in mode="tensor".
        ran: set[str] = set()
        macs = count_macs(model, lambda: model(x, mode="tensor"), parts, ran)
    finally:
        model.train(was_training)
    report_parts = {
        name: PartComplexity(macs=macs[name], params=count_params(child), used_at_inference=name in ran)
        for name, child in parts.items()
    }
    out_channels = tuple(getattr(getattr(model, "backbone", None), "out_channels", ()) or ())
    return ComplexityReport(height, width, report_parts, out_channels)


def _write_json_atomic(path: pathlib.Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def main(argv: Sequence[str] | None = None) -> int:
    """``tools/seg_complexity.py CONFIG --shape H W [--cfg-options ...] [--json PATH]``."""
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(description="Parameters and FLOPs (MACs) of a segmentor from its config")
    parser.add_argument("config", help="mmseg config file")
    parser.add_argument("--shape", type=int, nargs="+", default=[1024, 2048], help="input H W (or one size)")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, help="override config keys")
    parser.add_argument("--json", type=pathlib.Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    if len(args.shape) not in (1, 2):
        parser.error(f"--shape takes H W or one size, got {args.shape}")
    height, width = (args.shape * 2)[:2]

    from ddp_seg.training import build_segmentor, load_config

    try:
        model = build_segmentor(load_config(args.config, args.cfg_options))
        report = segmentor_complexity(model, height, width)
    except (FileNotFoundError, KeyError, TypeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report.format_table())
    if args.json is not None:
        _write_json_atomic(args.json, report.to_dict())
        print(f"wrote {args.json}")
    return 0
