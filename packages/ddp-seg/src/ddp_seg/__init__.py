"""ddp_seg: DDPNAS backbones for mmsegmentation.

Importing this package (directly, or through ``custom_imports = dict(imports=["ddp_seg"])`` in an mmseg config)

1. checks that torch, mmengine, mmcv(-lite) and mmsegmentation versions work together
   (:class:`~ddp_seg.environment.IncompatibleVersionError` names what to install otherwise);
2. makes ``mmcv.ops`` importable when mmcv's compiled extension is truly absent (mmcv-lite), with pure-PyTorch
   stand-ins for the ops mmseg imports at module level (:mod:`ddp_seg.mmcv_ops_compat`); a compiled mmcv is
   left alone;
3. allow-lists exactly the objects mmengine checkpoints hold for torch's ``weights_only`` loader
   (:mod:`ddp_seg.checkpoint_globals`), and makes mmengine load every checkpoint with ``weights_only=True``
   whatever ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` says (:mod:`ddp_seg.checkpoint_loading`);
4. registers :class:`DDPNASDartsBackbone`, :class:`DDPNASLayerwiseBackbone` and :class:`DDPNASBackbone` in
   mmseg's ``MODELS`` registry, declares the ``ddp_seg`` registry scope (:mod:`ddp_seg.registry`) and lets
   mmengine configs inherit the shipped configs as ``ddp_seg::<path>`` (:mod:`ddp_seg.configs`).

Entry points that import it before reading a config: ``python -m ddp_seg.mmseg_tools`` (mmseg's own
``tools/`` scripts), :mod:`ddp_seg.apis` (``init_model``, ``inference_model``), ``tools/train_seg.py``.
"""

from ddp_seg.environment import IncompatibleVersionError, check_versions

INSTALLED_VERSIONS = check_versions()

from ddp_seg import mmcv_ops_compat  # noqa: E402

MMCV_OPS_STAND_IN = mmcv_ops_compat.install()

from ddp_seg.checkpoint_globals import allow_mmengine_checkpoint_globals  # noqa: E402

allow_mmengine_checkpoint_globals()

from ddp_seg.checkpoint_loading import force_weights_only_loading  # noqa: E402

force_weights_only_loading()

from ddp_seg.backbones import (  # noqa: E402
    DDPNASBackbone,
    DDPNASDartsBackbone,
    DDPNASLayerwiseBackbone,
    build_vision_network,
)
from ddp_seg.configs import register_config_scope  # noqa: E402
from ddp_seg.registry import MODELS  # noqa: E402, F401  (the ``ddp_seg`` scope's registry)

register_config_scope()

__all__ = [
    "DDPNASBackbone",
    "DDPNASDartsBackbone",
    "DDPNASLayerwiseBackbone",
    "INSTALLED_VERSIONS",
    "IncompatibleVersionError",
    "MMCV_OPS_STAND_IN",
    "build_vision_network",
    "check_versions",
]
