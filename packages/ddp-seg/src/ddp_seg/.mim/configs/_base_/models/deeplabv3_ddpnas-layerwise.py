# DeepLabV3 (ASPP head) on a DDPNAS layer-wise (MobileNet-family) backbone, trained from scratch.
# The backbone's feature maps: index i has stride 2 ** (i + 1) (2, 4, 8, 16, 32). The ASPP head reads the
# stride-16 and stride-32 maps, resized to stride 16 and concatenated (output stride 16, DeepLabV3's
# dilations 1/6/12/18); an FCN auxiliary head on the stride-8 map adds a training-only loss.
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
        type='DDPNASLayerwiseBackbone',
        # An ENG answer (tools/generate.py RUN_DIR ...) as a JSON path, a NetworkConfig dict, or a
        # registered ddp_vision model name.
        network_config='mobilenetv2_100_layerwise',
        out_indices=(2, 3, 4),
        norm_eval=False),
    decode_head=dict(
        type='ASPPHead',
        in_channels=[96, 320],
        in_index=[1, 2],
        input_transform='resize_concat',
        channels=128,
        dilations=(1, 6, 12, 18),
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=dict(
        type='FCNHead',
        in_channels=32,
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
