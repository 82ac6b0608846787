# DeepLabV3 with a DDPNAS DARTS-space backbone on Cityscapes 512x1024 crops, from scratch (no ImageNet
# weights), 80k iterations of batch 2 on each of 4 GPUs: the paper's Table 6 setting.
# Train with mmseg's own entry (shipped in its wheel under mmseg/.mim/tools/train.py) or tools/train_seg.py;
# see packages/ddp-seg/README.md for the exact commands.
# Your searched cell:  --cfg-options model.backbone.genotype=runs/darts/generated/genotype.json
_base_ = [
    '../_base_/models/deeplabv3_ddpnas-darts.py',
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
