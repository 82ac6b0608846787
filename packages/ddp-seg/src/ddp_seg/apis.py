"""mmseg's inference API with ddp_seg ready: ``init_model`` and ``inference_model``.

``from mmseg.apis import init_model`` fails with mmcv-lite (``No module named 'mmcv._ext'``) unless ddp_seg's
``mmcv.ops`` stand-in is installed first, and mmseg's ``init_model`` cannot read a ``ddp_seg::`` config name.
These functions import ddp_seg, resolve the config (a path or a shipped ``ddp_seg::`` name, with
``cfg_options``) and call mmseg's own functions: same arguments, same results.

Command line (one image, writes the predicted label map as an 8-bit PNG of class indices)::

    python -m ddp_seg.apis CONFIG IMAGE [--checkpoint CKPT] [--out-file labels.png] [--device cpu]
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

import ddp_seg  # noqa: F401  (mmcv.ops stand-in before mmseg.apis; ddp_seg:: scope; checkpoint allow-list)

__all__ = ["inference_model", "init_model", "main"]


def init_model(
    config: str | os.PathLike[str] | Any,
    checkpoint: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    cfg_options: Mapping[str, Any] | None = None,
) -> Any:
    """Build a segmentor from a config and load a checkpoint, as ``mmseg.apis.init_model``.

    Parameters
    ----------
    config:
        A config file, a shipped config's name (``ddp_seg::ddpnas/<file>.py``), or an mmengine ``Config``.
    checkpoint:
        A checkpoint written by mmengine's Runner (``iter_N.pth``), loaded with torch's ``weights_only``
        loader; None keeps the initial weights.
    device:
        ``"cpu"`` (SyncBN reverted to BatchNorm, as mmseg does) or ``"cuda:0"`` etc.
    cfg_options:
        Dotted-key overrides merged into the config.

    Returns
    -------
    torch.nn.Module
        The segmentor in eval mode, with ``cfg`` and ``dataset_meta`` set.
    """
    from mmengine.config import Config
    from mmseg.apis import init_model as mmseg_init_model

    from ddp_seg.training import load_config

    if isinstance(config, Config):
        cfg = config.copy()
        if cfg_options:
            cfg.merge_from_dict(dict(cfg_options))
    else:
        cfg = load_config(config, cfg_options)
    if checkpoint is not None and not pathlib.Path(checkpoint).is_file():
        raise FileNotFoundError(f"checkpoint {checkpoint} does not exist")
    return mmseg_init_model(cfg, None if checkpoint is None else str(checkpoint), device=device)


def inference_model(model: Any, img: str | os.PathLike[str] | np.ndarray | Sequence[Any]) -> Any:
    """Segment one image (path or HxWx3 BGR array) or a list of them, as ``mmseg.apis.inference_model``.

    Returns
    -------
    SegDataSample or list[SegDataSample]
        ``.pred_sem_seg.data`` holds the class index of every pixel (1 x H x W).
    """
    from mmseg.apis import inference_model as mmseg_inference_model

    if isinstance(img, os.PathLike):
        img = os.fspath(img)
    return mmseg_inference_model(model, img)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ddp_seg.apis CONFIG IMAGE [--checkpoint CKPT] [--out-file PNG]``; exit 2 on bad input."""
    from PIL import Image

    from ddp_seg.command_line import EXPECTED_ERRORS, CfgOptionsAction, argument_parser, report

    parser = argument_parser("Segment one image with a DDPNAS segmentor (mmseg's inference API)",
                             prog="python -m ddp_seg.apis")
    parser.add_argument("config", help="config file or ddp_seg::ddpnas/<file>.py")
    parser.add_argument("image", help="image file")
    parser.add_argument("--checkpoint", help="checkpoint (iter_N.pth); without it the weights are untrained")
    parser.add_argument("--out-file", type=pathlib.Path, help="write the label map here (8-bit PNG of class ids)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cfg-options", nargs="+", action=CfgOptionsAction, help="override config keys")
    parser.add_argument("--debug", action="store_true", help="show a traceback on bad input")
    args = parser.parse_args(argv)
    try:
        if not pathlib.Path(args.image).is_file():
            raise FileNotFoundError(f"image {args.image} does not exist")
        model = init_model(args.config, args.checkpoint, args.device, args.cfg_options)
    except EXPECTED_ERRORS as error:
        return report(error, args.debug)
    result = inference_model(model, args.image)
    labels = result.pred_sem_seg.data[0].cpu().numpy().astype(np.uint8)
    classes = model.dataset_meta.get("classes", ())
    ids, counts = np.unique(labels, return_counts=True)
    shares = ", ".join(
        f"{classes[i] if i < len(classes) else i} {100 * c / labels.size:.1f}%"
        for i, c in sorted(zip(ids.tolist(), counts.tolist(), strict=True), key=lambda pair: -pair[1])
    )
    print(f"{labels.shape[0]}x{labels.shape[1]} label map: {shares}")
    if args.out_file is not None:
        args.out_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out_file.with_name(args.out_file.name + ".tmp.png")
        Image.fromarray(labels).save(tmp)
        os.replace(tmp, args.out_file)
        print(f"wrote {args.out_file}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
