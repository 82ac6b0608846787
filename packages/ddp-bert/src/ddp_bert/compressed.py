"""A compressed BERT that plain transformers can save and reload: per-layer head counts and FFN widths.

Stock ``BertConfig`` describes one head count and one FFN width for all layers, so it cannot reload a
sub-network. Importing :mod:`ddp_bert` registers ``CompressedBertConfig`` (``model_type
"ddp_compressed_bert"``) with ``AutoConfig``, ``AutoModel`` and ``AutoModelForSequenceClassification``; the
model classes build the sliced Linear layers before ``post_init()``, so ``from_pretrained`` loads the saved
weights into layers of the right size.
"""

from __future__ import annotations

from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForSequenceClassification,
    BertConfig,
    BertForSequenceClassification,
    BertModel,
)
from transformers.models.bert.modeling_bert import BertEmbeddings, BertEncoder, BertPooler

COMPRESSED_MODEL_TYPE = "ddp_compressed_bert"


class CompressedBertConfig(BertConfig):
    """``BertConfig`` plus the head count and FFN width of every layer.

    ``num_attention_heads`` stays the teacher's count, so that ``hidden_size / num_attention_heads`` is still
    the width of one head; ``layer_num_heads[n]`` heads of that width are kept in layer ``n``.
    """

    model_type = COMPRESSED_MODEL_TYPE

    layer_num_heads: list[int] | None = None
    layer_intermediate_sizes: list[int] | None = None

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        layers = self.num_hidden_layers
        if self.layer_num_heads is None:
            self.layer_num_heads = [self.num_attention_heads] * layers
        if self.layer_intermediate_sizes is None:
            self.layer_intermediate_sizes = [self.intermediate_size] * layers
        self.layer_num_heads = [int(h) for h in self.layer_num_heads]
        self.layer_intermediate_sizes = [int(w) for w in self.layer_intermediate_sizes]
        if len(self.layer_num_heads) != layers or len(self.layer_intermediate_sizes) != layers:
            raise ValueError(
                f"layer_num_heads ({len(self.layer_num_heads)}) and layer_intermediate_sizes "
                f"({len(self.layer_intermediate_sizes)}) need one entry per layer ({layers})"
            )
        if any(not 0 <= h <= self.num_attention_heads for h in self.layer_num_heads):
            raise ValueError(
                f"layer_num_heads {self.layer_num_heads} must lie in [0, num_attention_heads="
                f"{self.num_attention_heads}]"
            )


def resize_encoder(encoder: BertEncoder, config: CompressedBertConfig) -> None:
    """Replace every layer's Linear layers by ones holding only the kept heads and neurons."""
    hidden = config.hidden_size
    head_size = hidden // config.num_attention_heads
    for layer, heads, width in zip(
        encoder.layer, config.layer_num_heads, config.layer_intermediate_sizes, strict=True
    ):
        kept = heads * head_size
        attention = layer.attention.self
        attention.query = nn.Linear(hidden, kept)
        attention.key = nn.Linear(hidden, kept)
        attention.value = nn.Linear(hidden, kept)
        attention.num_attention_heads = heads
        attention.all_head_size = kept
        layer.attention.output.dense = nn.Linear(kept, hidden)
        layer.intermediate.dense = nn.Linear(hidden, width)
        layer.output.dense = nn.Linear(width, hidden)


class CompressedBertModel(BertModel):
    """``BertModel`` with per-layer head counts and FFN widths (encoder only)."""

    config_class = CompressedBertConfig
    config: CompressedBertConfig

    def __init__(self, config: CompressedBertConfig, add_pooling_layer: bool = True) -> None:
        # BertModel.__init__ would call post_init() before the layers are resized: build here instead.
        super(BertModel, self).__init__(config)
        self.config = config
        self.gradient_checkpointing = False
        self.embeddings = BertEmbeddings(config)
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
