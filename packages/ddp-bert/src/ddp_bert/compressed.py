"""A compressed BERT that transformers saves and reloads: per-layer head counts and FFN widths.

The classes live in :mod:`ddp_bert.hub_code`, two self-contained files that ``save_pretrained`` copies next to
the weights of every exported model; ``auto_map`` in its config.json names them, so
``from_pretrained(dir, trust_remote_code=True)`` works without ddp-bert. Importing :mod:`ddp_bert` registers
the same classes (``model_type "ddp_compressed_bert"``) with ``AutoConfig``, ``AutoModel`` and
``AutoModelForSequenceClassification``, so where ddp-bert is imported no remote code is needed.
"""

from __future__ import annotations

from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

from ddp_bert.hub_code.configuration_ddp_compressed_bert import COMPRESSED_MODEL_TYPE, CompressedBertConfig
from ddp_bert.hub_code.modeling_ddp_compressed_bert import (
    CompressedBertForSequenceClassification,
    CompressedBertModel,
    resize_encoder,
)

__all__ = [
    "COMPRESSED_MODEL_TYPE",
    "CompressedBertConfig",
    "CompressedBertForSequenceClassification",
    "CompressedBertModel",
    "hub_auto_map",
    "register_auto_classes",
    "resize_encoder",
]


def hub_auto_map() -> dict[str, str]:
    """``auto_map`` of an exported model: Auto class -> ``"<file>.<class>"`` of the remote-code files."""
    classes = {"AutoConfig": CompressedBertConfig, "AutoModel": CompressedBertModel,
               "AutoModelForSequenceClassification": CompressedBertForSequenceClassification}
    return {auto: f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__name__}" for auto, cls in classes.items()}


def register_auto_classes() -> None:
    """Register the compressed model with transformers' Auto classes (idempotent)."""
    try:
        AutoConfig.register(COMPRESSED_MODEL_TYPE, CompressedBertConfig)
    except ValueError:  # already registered by an earlier import
        pass
    for auto_class, model_class in (
        (AutoModel, CompressedBertModel),
        (AutoModelForSequenceClassification, CompressedBertForSequenceClassification),
    ):
        try:
            auto_class.register(CompressedBertConfig, model_class)
        except ValueError:
            pass
