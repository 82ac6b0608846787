"""Parameters and multiply-accumulates (MACs) of a segmentor, counted by mmengine's analysis tools.

The counts come from ``mmengine.analysis`` (``FlopAnalyzer``, ``parameter_count``): the same tracer behind
``mmengine.analysis.get_model_complexity_info`` (which mmseg's ``tools/analysis_tools/get_flops.py`` calls). One
traced forward pass (``mode="tensor"``) at the given input size gives two figures per part:

- ``macs``: MACs of convolutions and linear layers (and matrix products) only, the convention of
  ``ddp_vision``'s cost tables and of the paper's "FLOPs": BatchNorm, activations, additions, pooling and
  resizing cost nothing;
- ``flops_all``: everything mmengine counts by default, i.e. also BatchNorm, upsampling and adaptive pooling:
  the total ``get_model_complexity_info`` returns for the same input (``tests/seg`` checks it). mmseg
  1.2.2's ``get_flops.py`` itself fails against mmengine 0.10.7 (it passes both ``input_shape`` and
  ``inputs``, which mmengine rejects), so this module is the way to that figure with these versions.

Parameters are every parameter tensor (BatchNorm weight and bias included; running statistics are buffers).
For a DDPNAS backbone ``macs`` and parameters equal ``ddp_vision``'s symbolic counts without the
classification head (``tests/seg`` checks this). The command line (:func:`main`) is
``python -m ddp_seg.complexity CONFIG --shape H W`` or, in this repository, ``tools/seg_complexity.py``.
"""

from __future__ import annotations

import pathlib
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from mmengine.analysis import FlopAnalyzer, parameter_count
from torch import nn

__all__ = [
    "MAC_OPERATORS",
    "ComplexityReport",
    "PartComplexity",
    "analyze",
    "count_params",
    "main",
    "module_macs_and_params",
    "segmentor_complexity",
]

# mmengine's operator names (its handles' keys) that are multiply-accumulates: convolutions, linear layers,
# matrix products. The other operators it counts (batch_norm, upsample_*, adaptive_avg_pool2d, ...) are not.
MAC_OPERATORS = frozenset({"conv", "linear", "addmm", "matmul", "mm", "bmm", "einsum"})


@dataclass(frozen=True)
class PartComplexity:
    """Cost of one top-level part of a segmentor (``backbone``, ``decode_head``, ...).

    Attributes
    ----------
    macs:
        Multiply-accumulates for one image at the report's input size (0 if the part does not run at
        inference, like an auxiliary head).
    flops_all:
        Everything mmengine's ``FlopAnalyzer`` counts by default for the part (MACs plus BatchNorm,
        upsampling, pooling), one image.
    params:
        Parameters.
    used_at_inference:
        Whether the part runs in ``mode="tensor"`` (auxiliary heads only train).
    """

    macs: int
    flops_all: int
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
    outside_parts:
        ``(macs, flops_all)`` traced outside every part's sub-modules: mmseg calls its heads through
        ``.forward()``/``.predict()``, so operators a head runs itself (the resizes of ``resize_concat``)
        are attributed to the segmentor rather than to the head. Included in the totals.
    """

    height: int
    width: int
    parts: dict[str, PartComplexity]
    backbone_out_channels: tuple[int, ...] = ()
    outside_parts: tuple[int, int] = (0, 0)

    @property
    def macs(self) -> int:
        """Inference MACs for one image (all parts that run in ``mode="tensor"``)."""
        return sum(part.macs for part in self.parts.values()) + self.outside_parts[0]

    @property
    def flops_all(self) -> int:
        """mmengine's default count for one image (``get_model_complexity_info``'s total)."""
        return sum(part.flops_all for part in self.parts.values()) + self.outside_parts[1]

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
            "mmengine_flops_g": self.flops_all / 1e9,
            "params_m": self.params / 1e6,
            "params_m_with_training_heads": self.params_with_training_heads / 1e6,
            "backbone_out_channels": list(self.backbone_out_channels),
            "outside_parts": {"flops_g": self.outside_parts[0] / 1e9, "mmengine_flops_g": self.outside_parts[1] / 1e9},
            "parts": {
                name: {**asdict(part), "flops_g": part.flops_g, "params_m": part.params_m}
                for name, part in self.parts.items()
            },
            "convention": "flops_g: MACs of convolutions and linear layers (FLOPs = MACs); mmengine_flops_g: "
            "mmengine FlopAnalyzer's default operators (adds BatchNorm, upsampling, pooling); all parameter tensors",
        }

    def format_table(self) -> str:
        """A plain-text table, one row per part and a total."""
        lines = [
            f"input {self.height}x{self.width}",
            f"{'part':<18}{'GFLOPs (MACs)':>15}{'mmengine GFLOPs':>17}{'params (M)':>12}",
        ]
        for name, part in self.parts.items():
            note = "" if part.used_at_inference else "  (training only)"
            lines.append(f"{name:<18}{part.flops_g:>15.3f}{part.flops_all / 1e9:>17.3f}{part.params_m:>12.3f}{note}")
        if any(self.outside_parts):
            macs, flops_all = self.outside_parts
            lines.append(f"{'(in no part)':<18}{macs / 1e9:>15.3f}{flops_all / 1e9:>17.3f}{'':>12}")
        lines.append(
            f"{'total (inference)':<18}{self.macs / 1e9:>15.3f}{self.flops_all / 1e9:>17.3f}{self.params / 1e6:>12.3f}"
        )
        lines.append(
            "GFLOPs (MACs): convolutions and linear layers; mmengine GFLOPs: all operators mmengine's FlopAnalyzer "
            "counts (+ BatchNorm, upsampling, pooling), get_model_complexity_info's total"
        )
        if self.backbone_out_channels:
            lines.append(f"backbone out_channels: {list(self.backbone_out_channels)}")
        return "\n".join(lines)


def analyze(model: nn.Module, inputs: tuple[Any, ...]) -> FlopAnalyzer:
    """mmengine's ``FlopAnalyzer`` of ``model(*inputs)`` with its default operators, warnings off, run once.

    The caller puts the model in eval mode; gradients are off during the trace.
    """
    analyzer = FlopAnalyzer(model, inputs)
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # jit tracer warnings about data-dependent control flow
        analyzer.by_module_and_operator()  # traces now; later queries read the cached statistics
    return analyzer


def _macs(counter: Any) -> int:
    return int(sum(value for name, value in counter.items() if name in MAC_OPERATORS))


def count_params(module: nn.Module) -> int:
    """Number of parameter elements of ``module`` (shared parameters counted once), by mmengine."""
    return int(parameter_count(module)[""])


def module_macs_and_params(module: nn.Module, input_shape: Sequence[int]) -> tuple[int, int]:
    """MACs (per batch element) and parameters of a plain module called on one zero tensor of ``input_shape``.

    Parameters
    ----------
    module:
        E.g. a backbone; it is put in eval mode for the count and restored afterwards.
    input_shape:
        Full input shape (N C H W); MACs are divided by N.
    """
    was_training = module.training
    module.eval()
    try:
        parameter = next(module.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
        x = torch.zeros(*input_shape, device=device)
        operators = analyze(module, (x,)).by_operator()
    finally:
        module.train(was_training)
    return _macs(operators) // input_shape[0], count_params(module)


def segmentor_complexity(model: nn.Module, height: int, width: int) -> ComplexityReport:
    """Cost of an mmseg segmentor (e.g. ``EncoderDecoder``) for one ``3 x height x width`` image.

    Parameters
    ----------
    model:
        A built segmentor; its ``forward(inputs, mode="tensor")`` is traced once without gradients.
    height, width:
        Input size in pixels (Cityscapes: 1024 x 2048).

    Returns
    -------
    ComplexityReport
        One part per top-level child (``backbone``, ``decode_head``, ``auxiliary_head``, ...). A part with no
        counted operator in the trace and never called (auxiliary heads: mmseg's ``mode="tensor"`` skips
        them) is marked training-only and left out of the inference totals of parameters.
    """
    if height < 1 or width < 1:
        raise ValueError(f"input size must be positive, got {height} x {width}")
    parts = {name: child for name, child in model.named_children() if name != "data_preprocessor"}
    was_training = model.training
    model.eval()
    try:
        parameter = next(model.parameters())
        x = torch.zeros(1, 3, height, width, device=parameter.device)
        analyzer = analyze(model, (x,))
    finally:
        model.train(was_training)
    per_module = analyzer.by_module_and_operator()
    uncalled = analyzer.uncalled_modules()
    report_parts = {}
    for name, child in parts.items():
        counter = per_module.get(name, {})
        flops_all = int(sum(counter.values()))
        report_parts[name] = PartComplexity(
            macs=_macs(counter),
            flops_all=flops_all,
            params=count_params(child),
            used_at_inference=flops_all > 0 or name not in uncalled,
        )
    whole = per_module.get("", {})
    outside = (
        _macs(whole) - sum(part.macs for part in report_parts.values()),
        int(sum(whole.values())) - sum(part.flops_all for part in report_parts.values()),
    )
    out_channels = tuple(getattr(getattr(model, "backbone", None), "out_channels", ()) or ())
    return ComplexityReport(height, width, report_parts, out_channels, outside)


def main(argv: Sequence[str] | None = None) -> int:
    """``tools/seg_complexity.py CONFIG --shape H W [--cfg-options ...] [--json PATH]``."""
    from ddp_seg.command_line import EXPECTED_ERRORS, CfgOptionsAction, argument_parser, report, shape_size

    parser = argument_parser("Parameters and FLOPs (MACs) of a segmentor from its config", prog="tools/seg_complexity.py")
    parser.add_argument("config", help="mmseg config file, or ddp_seg::ddpnas/<file>.py")
    parser.add_argument("--shape", type=shape_size, nargs="+", default=[1024, 2048], help="input H W (or one size)")
    parser.add_argument("--cfg-options", nargs="+", action=CfgOptionsAction, help="override config keys")
    parser.add_argument("--json", type=pathlib.Path, help="also write the report as JSON here")
    parser.add_argument("--debug", action="store_true", help="show a traceback on bad input")
    args = parser.parse_args(argv)
    if len(args.shape) not in (1, 2):
        parser.error(f"--shape takes H W or one size, got {args.shape}")
    height, width = (args.shape * 2)[:2]
    if args.json is not None and args.json.is_dir():
        parser.error(f"--json {args.json} is a directory: pass a file path such as {args.json / 'complexity.json'}")

    from ddp_core.persistence import write_json_atomic
    from ddp_seg.training import build_segmentor, load_config

    try:
        model = build_segmentor(load_config(args.config, args.cfg_options))
        complexity = segmentor_complexity(model, height, width)
    except EXPECTED_ERRORS as error:
        return report(error, args.debug)
    print(complexity.format_table())
    if args.json is not None:
        try:
            write_json_atomic(args.json, complexity.to_dict())
        except OSError as error:
            return report(error, args.debug)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
