"""ddp_seg: DDPNAS backbones for mmsegmentation.

Importing this package (directly, or through ``custom_imports = dict(imports=["ddp_seg"])`` in an mmseg config)

1. checks that torch, mmengine, mmcv(-lite) and mmsegmentation versions work together
   (:class:`~ddp_seg.environment.IncompatibleVersionError` names what to install otherwise);
2. makes ``mmcv.ops`` importable when mmcv's compiled extension is missing (mmcv-lite), with pure-PyTorch
   stand-ins for the ops mmseg imports at module level (:mod:`ddp_seg.mmcv_ops_compat`);
3. allow-lists the objects mmengine checkpoints hold for torch's ``weights_only`` loader;
4. registers :class:`DDPNASDartsBackbone`, :class:`DDPNASLayerwiseBackbone` and :class:`DDPNASBackbone` in
   mmseg's ``MODELS`` registry.
"""

from ddp_seg.environment import IncompatibleVersionError, check_versions

INSTALLED_VERSIONS = check_versions()

from ddp_seg import mmcv_ops_compat  # noqa: E402

MMCV_OPS_STAND_IN = mmcv_ops_compat.install()

from ddp_seg.checkpoint_globals import allow_mmengine_checkpoint_globals  # noqa: E402

allow_mmengine_checkpoint_globals()

from ddp_seg.backbones import (  # noqa: E402
    DDPNASBackbone,
    DDPNASDartsBackbone,
    DDPNASLayerwiseBackbone,
    build_vision_network,
)

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
