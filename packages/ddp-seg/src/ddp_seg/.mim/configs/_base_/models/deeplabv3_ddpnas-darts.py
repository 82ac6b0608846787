# DeepLabV3 (ASPP head) on a DDPNAS DARTS-space backbone, trained from scratch as in the paper (Sec. 4.4.2).
# The backbone is DARTS' ImageNet-style network (three stride-2 stem convolutions, then cells; reductions at
# one and two thirds of the depth), so its feature maps have strides 8, 16 and 32 with 4x, 8x and 16x
# `channels` channels. The ASPP head reads the stride-16 and stride-32 maps, resized to stride 16 and
# concatenated (output stride 16, dilations 1/6/12/18); an FCN auxiliary head on the stride-8 map adds a
# training-only loss. With 32 channels and 12 cells the segmentor has 2.99M parameters and 5.40 GFLOPs
# (MACs) at 512x1024 (tools/seg_complexity.py), near the paper's Table 6 (3.01M, 5.2 GFLOPs).
norm_cfg = dict(type='SyncBN', requires_grad=True)  # reverted to BatchNorm by mmengine without distributed
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='DDPNASDartsBackbone',
        # A searched genotype: the JSON tools/generate.py writes, Genotype(...) text, a dict, or a published
        # name. DARTS_V2 stands in until you pass your own (--cfg-options model.backbone.genotype=PATH).
        genotype='DARTS_V2',
        model_name='ddpnas_darts_imagenet',
        channels=32,
        layers=12,
        out_indices=(0, 1, 2),
        norm_eval=False),
    decode_head=dict(
        type='ASPPHead',
        in_channels=[256, 512],
        in_index=[1, 2],
        input_transform='resize_concat',
        channels=64,
        dilations=(1, 6, 12, 18),
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=dict(
        type='FCNHead',
        in_channels=128,
        in_index=0,
        channels=64,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
