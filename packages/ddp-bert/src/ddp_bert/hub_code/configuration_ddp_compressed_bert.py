"""Configuration of a compressed BERT: every layer keeps its own number of heads and FFN width.

Self-contained on purpose (standard library and transformers only): exported models carry this file next to
their weights so that ``trust_remote_code=True`` loads them without ddp-bert.
"""

from __future__ import annotations

from transformers import BertConfig

COMPRESSED_MODEL_TYPE = "ddp_compressed_bert"
# BertConfig's one-size-for-all-layers fields: the per-layer lists replace them, so config.json leaves them out.
UNIFORM_SIZE_FIELDS = ("num_attention_heads", "intermediate_size")


class CompressedBertConfig(BertConfig):
    """``BertConfig`` whose layers each keep their own number of attention heads and FFN width.

    Attributes
    ----------
    attention_head_size
        Width of one head (the teacher's ``hidden_size / num_attention_heads``).
    layer_num_heads, layer_intermediate_sizes
        Heads and FFN width of each layer (one entry per layer, ``num_hidden_layers`` of them).

    ``config.json`` describes the sizes only through these fields (with ``hidden_size`` and
    ``num_hidden_layers``). In memory, ``num_attention_heads`` and ``intermediate_size`` hold the widest
    layer's values for code that reads them generically; they are never written. Built from a plain BERT
    config without the lists, every layer keeps that config's uniform sizes.
    """

    model_type = COMPRESSED_MODEL_TYPE

    attention_head_size: int | None = None
    layer_num_heads: list[int] | None = None
    layer_intermediate_sizes: list[int] | None = None

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        layers = self.num_hidden_layers
        if self.attention_head_size is None:  # from a uniform (teacher) config
            if self.hidden_size % self.num_attention_heads:
                raise ValueError(f"hidden_size {self.hidden_size} is not a multiple of num_attention_heads "
                                 f"{self.num_attention_heads}; pass attention_head_size")
            self.attention_head_size = self.hidden_size // self.num_attention_heads
        if self.layer_num_heads is None:
            self.layer_num_heads = [self.num_attention_heads] * layers
        if self.layer_intermediate_sizes is None:
            self.layer_intermediate_sizes = [self.intermediate_size] * layers
        self.attention_head_size = int(self.attention_head_size)
        self.layer_num_heads = [int(h) for h in self.layer_num_heads]
        self.layer_intermediate_sizes = [int(w) for w in self.layer_intermediate_sizes]
        if len(self.layer_num_heads) != layers or len(self.layer_intermediate_sizes) != layers:
            raise ValueError(
                f"layer_num_heads ({len(self.layer_num_heads)}) and layer_intermediate_sizes "
                f"({len(self.layer_intermediate_sizes)}) need one entry per layer (num_hidden_layers={layers})"
            )
        if self.attention_head_size <= 0:
            raise ValueError(f"attention_head_size must be positive, got {self.attention_head_size}")
        if any(h < 0 for h in self.layer_num_heads) or any(w < 0 for w in self.layer_intermediate_sizes):
            raise ValueError(f"negative sizes in layer_num_heads {self.layer_num_heads} or "
                             f"layer_intermediate_sizes {self.layer_intermediate_sizes}")
        self.num_attention_heads = max(self.layer_num_heads, default=0)
        self.intermediate_size = max(self.layer_intermediate_sizes, default=0)

    def to_dict(self) -> dict:
        output = super().to_dict()
        for key in UNIFORM_SIZE_FIELDS:
            output.pop(key, None)
        return output


CompressedBertConfig.register_for_auto_class()
