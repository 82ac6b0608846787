"""A stand-in for ``mmcv.ops`` when mmcv's compiled extension (``mmcv._ext``) is not installed.

mmsegmentation 1.2.2 imports ``mmcv.ops`` unconditionally on its model import path
(``mmseg.utils.mask_classification`` needs ``point_sample``; ``mmseg.models.losses.focal_loss`` needs
``sigmoid_focal_loss``). With ``mmcv-lite`` (the pure-Python wheel) that import fails on ``mmcv._ext`` even
for models, such as DeepLabV3's ASPP head, that use no compiled op at all.

:func:`install` registers a small module under that name, with pure-PyTorch versions of the few ops mmseg
imports at module level, only when the compiled extension is truly absent: no ``mmcv._ext`` module exists at
all (mmcv-lite, or mmcv built without ops). With a compiled mmcv nothing is replaced, and if its extension
exists but fails to load (an ABI mismatch, say), mmcv's own error surfaces instead of being papered over.
Any other op name raises :class:`CompiledOpUnavailableError` saying which op is missing and how to get it.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import types

import torch
import torch.nn.functional as F

__all__ = [
    "CompiledOpUnavailableError",
    "STAND_IN_OPS",
    "bilinear_grid_sample",
    "compiled_ops_present",
    "install",
    "is_stand_in_installed",
    "point_sample",
    "sigmoid_focal_loss",
]

STAND_IN_MODULE_FLAG = "__ddp_seg_stand_in__"
FULL_MMCV_HINT = (
    "it needs mmcv's compiled extension, which the installed mmcv (mmcv-lite) does not have. Install full mmcv "
    "with ops instead: `pip uninstall -y mmcv-lite && pip install 'mmcv==2.1.0'` (on PyPI it builds from source, "
    "over an hour on a small CPU, and its C++17 sources need torch <= 2.13; see "
    "https://mmcv.readthedocs.io/en/latest/get_started/installation.html), or choose a model without this op."
)


class CompiledOpUnavailableError(ModuleNotFoundError):
    """A compiled ``mmcv.ops`` operator was requested but only the pure-PyTorch stand-in is installed.

    It derives from ``ModuleNotFoundError`` because mmseg guards its optional ops with
    ``try: from mmcv.ops import X / except ModuleNotFoundError`` and then reports the missing op itself.
    """


def bilinear_grid_sample(im: torch.Tensor, grid: torch.Tensor, align_corners: bool = False) -> torch.Tensor:
    """Bilinear sampling with zero padding, as ``mmcv.ops.bilinear_grid_sample``.

    Parameters
    ----------
    im:
        Input feature map, shape ``(N, C, H, W)``.
    grid:
        Sampling grid in ``[-1, 1]``, shape ``(N, Hg, Wg, 2)``.
    align_corners:
        As in :func:`torch.nn.functional.grid_sample`.

    Returns
    -------
    torch.Tensor
        Sampled values, shape ``(N, C, Hg, Wg)``.
    """
    return F.grid_sample(im, grid, mode="bilinear", padding_mode="zeros", align_corners=align_corners)


def point_sample(
    input: torch.Tensor, points: torch.Tensor, align_corners: bool = False, **kwargs: object
) -> torch.Tensor:
    """Sample ``input`` at points given in ``[0, 1] x [0, 1]`` image coordinates, as ``mmcv.ops.point_sample``.

    Parameters
    ----------
    input:
        Feature map, shape ``(N, C, H, W)``.
    points:
        Normalised point coordinates, shape ``(N, P, 2)`` or ``(N, Hg, Wg, 2)``.
    align_corners:
        As in :func:`torch.nn.functional.grid_sample`.
    **kwargs:
        Passed to :func:`torch.nn.functional.grid_sample`.

    Returns
    -------
    torch.Tensor
        Shape ``(N, C, P)`` or ``(N, C, Hg, Wg)``.
    """
    one_row = points.dim() == 3
    if one_row:
        points = points.unsqueeze(2)
    output = F.grid_sample(input, points * 2.0 - 1.0, align_corners=align_corners, **kwargs)
    return output.squeeze(3) if one_row else output


def sigmoid_focal_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    gamma: float = 2.0,
    alpha: float = 0.25,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Sigmoid focal loss over class indices, as ``mmcv.ops.sigmoid_focal_loss``.

    Parameters
    ----------
    input:
        Logits, shape ``(N, C)``.
    target:
        Class indices in ``[0, C]``, shape ``(N,)``; ``C`` means background (no positive class).
    gamma, alpha:
        Focusing and balance parameters of the focal loss.
    weight:
        Optional per-class weight, shape ``(C,)``, applied to each sample's row by its target class.
    reduction:
        ``"none"``, ``"mean"`` (sum divided by N) or ``"sum"``.

    Returns
    -------
    torch.Tensor
        The loss, shape ``(N, C)`` for ``"none"``, else a scalar.
    """
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
    if input.dim() != 2 or target.dim() != 1 or input.size(0) != target.size(0):
        raise ValueError(
            f"sigmoid_focal_loss expects input (N, C) and target (N,), got {tuple(input.shape)} and "
            f"{tuple(target.shape)}"
        )
    num_classes = input.size(1)
    positives = F.one_hot(target.long(), num_classes + 1)[:, :num_classes].to(input.dtype)
    probability = input.sigmoid()
    # log(sigmoid(x)) and log(1 - sigmoid(x)) written with logsigmoid for stability at large |x|.
    positive_term = -alpha * positives * (1 - probability).pow(gamma) * F.logsigmoid(input)
    negative_term = -(1 - alpha) * (1 - positives) * probability.pow(gamma) * F.logsigmoid(-input)
    loss = positive_term + negative_term
    if weight is not None:
        padded = torch.cat([weight.to(input.dtype), weight.new_ones(1).to(input.dtype)])
        loss = loss * padded[target.long()].unsqueeze(1)
    if reduction == "mean":
        return loss.sum() / input.size(0)
    if reduction == "sum":
        return loss.sum()
    return loss


STAND_IN_OPS: dict[str, object] = {
    "bilinear_grid_sample": bilinear_grid_sample,
    "point_sample": point_sample,
    "sigmoid_focal_loss": sigmoid_focal_loss,
}


def _missing_op(name: str) -> CompiledOpUnavailableError:
    return CompiledOpUnavailableError(f"mmcv.ops.{name} is not available: {FULL_MMCV_HINT}", name=name)


class _StandInOpsModule(types.ModuleType):
    """``mmcv.ops`` stand-in: the pure-PyTorch ops above, a clear error for every other name."""

    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):
            raise AttributeError(name)
        # An import error (not AttributeError) so that `from mmcv.ops import X` inside mmseg's own
        # `try: ... except ModuleNotFoundError` blocks degrades as with a missing op, and elsewhere names it.
        raise _missing_op(name)


class _StandInSubmoduleFinder(importlib.abc.MetaPathFinder):
    """Turns ``import mmcv.ops.<anything>`` into a clear error while the stand-in is installed."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if fullname.startswith("mmcv.ops.") and is_stand_in_installed():
            raise _missing_op(fullname.removeprefix("mmcv.ops."))
        return None


def is_stand_in_installed() -> bool:
    """Return whether ``sys.modules["mmcv.ops"]`` is this module's stand-in (not mmcv's real ops)."""
    return getattr(sys.modules.get("mmcv.ops"), STAND_IN_MODULE_FLAG, False)


def compiled_ops_present() -> bool:
    """Return whether mmcv's compiled extension module ``mmcv._ext`` exists (found, not imported).

    False when mmcv is not installed at all or is mmcv-lite (or mmcv built without ops).
    """
    try:
        return importlib.util.find_spec("mmcv._ext") is not None
    except ModuleNotFoundError:  # no mmcv
        return False


def install() -> bool:
    """Make ``import mmcv.ops`` work when mmcv's compiled extension is truly absent.

    Returns
    -------
    bool
        True if the stand-in is installed (now or earlier); False if it is not needed: mmcv's real ``mmcv.ops``
        is already imported, or ``mmcv._ext`` exists (a compiled mmcv, left untouched: ``mmcv.ops`` imports
        from it, or fails with mmcv's own error), or mmcv is not installed.
    """
    if "mmcv.ops" in sys.modules:
        return is_stand_in_installed()
    if importlib.util.find_spec("mmcv") is None or compiled_ops_present():
        return False
    module = _StandInOpsModule("mmcv.ops", __doc__)
    module.__dict__.update(STAND_IN_OPS)
    module.__dict__[STAND_IN_MODULE_FLAG] = True
    module.__dict__["__path__"] = []
    module.__dict__["__all__"] = sorted(STAND_IN_OPS)
    sys.modules["mmcv.ops"] = module
    import mmcv

    mmcv.ops = module  # type: ignore[attr-defined]
    if not any(isinstance(finder, _StandInSubmoduleFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _StandInSubmoduleFinder())
    return True
