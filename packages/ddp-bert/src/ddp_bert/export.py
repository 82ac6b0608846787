"""Cut a chosen sub-network out of the elastic supernet as a standalone transformers model that loads anywhere.

The saved directory holds the weights, ``config.json`` (with ``auto_map``), the tokenizer and the two modeling
files of :mod:`ddp_bert.hub_code`, so ``from_pretrained(dir, trust_remote_code=True)`` needs no ddp-bert.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ddp_bert.compressed import CompressedBertConfig, CompressedBertForSequenceClassification, hub_auto_map
from ddp_bert.elastic import ElasticBertForSequenceClassification
from ddp_bert.space import SubnetworkShape


def compressed_config(
    supernet: ElasticBertForSequenceClassification, shape: SubnetworkShape
) -> CompressedBertConfig:
    """The ``CompressedBertConfig`` of a sub-network: the teacher's config with per-layer sizes.

    The teacher's uniform ``num_attention_heads`` / ``intermediate_size`` are replaced by the width of one head
    and the per-layer lists; ``auto_map`` names the remote-code classes.
    """
    supernet.check_shape(shape)
    values = supernet.config.to_dict()
    for key in ("model_type", "architectures", "transformers_version", "_name_or_path", "auto_map",
                "num_attention_heads", "intermediate_size"):
        values.pop(key, None)
    values.update(
        num_hidden_layers=shape.depth,
        attention_head_size=supernet.teacher.head_size,
        layer_num_heads=list(shape.num_heads),
        layer_intermediate_sizes=list(shape.intermediate_sizes),
        auto_map=hub_auto_map(),
    )
    return CompressedBertConfig(**values)


@torch.no_grad()
def extract_subnetwork(
    supernet: ElasticBertForSequenceClassification, shape: SubnetworkShape
) -> CompressedBertForSequenceClassification:
    """Copy a sub-network's slices of the shared weights into a standalone model.

    Parameters
    ----------
    supernet
        The (trained) elastic supernet.
    shape
        The sub-network to cut out.

    Returns
    -------
    CompressedBertForSequenceClassification
        On the CPU, in eval mode; its logits equal ``supernet(..., subnetwork=shape)`` in eval mode.
    """
    config = compressed_config(supernet, shape)
    model = CompressedBertForSequenceClassification(config)
    source = supernet.model
    head_size = supernet.teacher.head_size
    target_state = model.state_dict()
    for name, tensor in source.state_dict().items():
        if name not in target_state:
            continue  # layers beyond the sub-network's depth
        wanted = target_state[name].shape
        if tensor.shape == wanted:
            target_state[name].copy_(tensor)
            continue
        # Sliced weights keep their leading rows / columns (kept heads or neurons come first).
        index = tuple(slice(0, size) for size in wanted)
        target_state[name].copy_(tensor[index])
    for layer, heads in enumerate(shape.num_heads):
        rows = model.bert.encoder.layer[layer].attention.self.query.weight.shape[0]
        if rows != heads * head_size:
            raise RuntimeError(f"layer {layer}: built {rows} attention rows for {heads} heads")
    model.eval()
    return model


def save_compressed(
    supernet: ElasticBertForSequenceClassification,
    shape: SubnetworkShape,
    directory: str | os.PathLike,
    tokenizer=None,
    card=None,
) -> CompressedBertForSequenceClassification:
    """Extract a sub-network and ``save_pretrained`` it to ``directory``.

    ``save_pretrained`` also copies the modeling files (``auto_map`` names them); the tokenizer and a
    ``huggingface_hub.ModelCard`` (written as README.md) are saved too when given.
    """
    model = extract_subnetwork(supernet, shape)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    if tokenizer is not None:
        tokenizer.save_pretrained(directory)
    if card is not None:
        card.save(directory / "README.md")
    return model
