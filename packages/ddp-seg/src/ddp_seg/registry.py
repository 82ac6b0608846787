"""ddp_seg's registry scope: a child of mmseg's ``MODELS``, as OpenMMLab's downstream packages declare theirs.

mmengine gives every dict with a ``type`` in a config inherited as ``ddp_seg::<path>`` the key
``_scope_='ddp_seg'``, and builds it in the registry of that scope: it imports ``ddp_seg.registry`` and
searches the registry tree for a registry whose scope is ``ddp_seg``. This one has none of its own modules
and falls back to its parent, mmseg's ``MODELS`` (where :mod:`ddp_seg.backbones` registers the backbones,
so mmseg-scoped configs find them too), and from there to mmengine's root registry (mmcv's layers).

A child's lookup reads its parents' tables without importing their ``locations``, so this registry's own
locations import mmseg's models as well as ddp_seg's backbones before the first lookup.
"""

from mmengine.registry import Registry
from mmseg.registry import MODELS as MMSEG_MODELS

__all__ = ["MODELS"]

MODELS = Registry("model", parent=MMSEG_MODELS, scope="ddp_seg", locations=["mmseg.models", "ddp_seg.backbones"])
