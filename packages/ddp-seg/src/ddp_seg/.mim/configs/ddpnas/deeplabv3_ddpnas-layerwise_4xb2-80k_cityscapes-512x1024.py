# DeepLabV3 with a DDPNAS layer-wise backbone on Cityscapes 512x1024, from scratch (no ImageNet weights).
# Train with mmseg's own entry (shipped in its wheel under mmseg/.mim/tools/train.py) or tools/train_seg.py;
# see packages/ddp-seg/README.md for the exact commands.
# Swap in a searched network:  --cfg-options model.backbone.network_config=runs/mbv/generated/flops400.json
# (then set decode_head/auxiliary_head in_channels to the new backbone's out_channels; tools/seg_complexity.py
# prints them).
_base_ = [
    '../_base_/models/deeplabv3_ddpnas-layerwise.py',
    'mmseg::_base_/datasets/cityscapes.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]
custom_imports = dict(imports=['ddp_seg'], allow_failed_imports=False)
crop_size = (512, 1024)
data_preprocessor = dict(size=crop_size)
model = dict(data_preprocessor=data_preprocessor)
# Multi-GPU runs: turn the backbone's BatchNorm into SyncBatchNorm (ignored in a single process).
sync_bn = 'torch'
