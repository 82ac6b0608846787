"""A compressed BERT: ``BertModel`` / ``BertForSequenceClassification`` with per-layer heads and FFN widths.

Self-contained on purpose (standard library, torch and transformers only): exported models carry this file
and ``configuration_ddp_compressed_bert.py`` next to their weights, and ``auto_map`` in their config.json
names the classes, so ``trust_remote_code=True`` loads them without ddp-bert. ddp-bert registers the same
classes natively.

Stock ``BertConfig`` describes one head count and one FFN width for all layers, and transformers 5 removed
``prune_heads``; the classes here build every layer's Linear layers at its own size before ``post_init()``,
so ``from_pretrained`` loads the saved weights into layers of the right shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn
from transformers import BertForSequenceClassification, BertModel
from transformers.models.bert.modeling_bert import BertEmbeddings, BertEncoder, BertPooler

from .configuration_ddp_compressed_bert import CompressedBertConfig


@contextmanager
def _one_head_per_layer(config: CompressedBertConfig) -> Iterator[None]:
    """Let ``BertEncoder`` build uniform layers (one full-width head, any hidden size); they are resized next."""
    heads = config.num_attention_heads
    config.num_attention_heads = 1
    try:
        yield
    finally:
        config.num_attention_heads = heads


def resize_encoder(encoder: BertEncoder, config: CompressedBertConfig) -> None:
    """Replace every layer's Linear layers by ones holding only its kept heads and FFN neurons."""
    hidden = config.hidden_size
    head_size = config.attention_head_size
    for layer, heads, width in zip(
        encoder.layer, config.layer_num_heads, config.layer_intermediate_sizes, strict=True
    ):
        kept = heads * head_size
        attention = layer.attention.self
        attention.query = nn.Linear(hidden, kept)
        attention.key = nn.Linear(hidden, kept)
        attention.value = nn.Linear(hidden, kept)
        attention.num_attention_heads = heads
        attention.attention_head_size = head_size
        attention.all_head_size = kept
        attention.scaling = head_size**-0.5
        layer.attention.output.dense = nn.Linear(kept, hidden)
        layer.intermediate.dense = nn.Linear(hidden, width)
        layer.output.dense = nn.Linear(width, hidden)


class CompressedBertModel(BertModel):
    """``BertModel`` with per-layer head counts and FFN widths."""

    config_class = CompressedBertConfig
    config: CompressedBertConfig

    def __init__(self, config: CompressedBertConfig, add_pooling_layer: bool = True) -> None:
        # BertModel.__init__ would call post_init() before the layers are resized: build here instead.
        super(BertModel, self).__init__(config)
        self.config = config
        self.gradient_checkpointing = False
        self.embeddings = BertEmbeddings(config)
        with _one_head_per_layer(config):
            self.encoder = BertEncoder(config)
        resize_encoder(self.encoder, config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self.post_init()


class CompressedBertForSequenceClassification(BertForSequenceClassification):
    """``BertForSequenceClassification`` on a :class:`CompressedBertModel`."""

    config_class = CompressedBertConfig
    config: CompressedBertConfig

    def __init__(self, config: CompressedBertConfig) -> None:
        super(BertForSequenceClassification, self).__init__(config)
        self.num_labels = config.num_labels
        self.config = config
        self.bert = CompressedBertModel(config)
        dropout = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()


# save_pretrained copies this file (and the configuration file it imports) next to the weights and fills auto_map.
CompressedBertModel.register_for_auto_class("AutoModel")
CompressedBertForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")
