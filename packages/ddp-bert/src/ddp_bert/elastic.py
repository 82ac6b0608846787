"""An elastic BERT supernet: every sub-network runs on slices of the teacher's shared weights.

A sub-network keeps the first ``depth`` layers and, in layer ``n``, the first ``num_heads[n]`` attention heads
and the first ``intermediate_sizes[n]`` FFN neurons. "First" is in the order of the stored weights, which
:func:`ddp_bert.importance.reorder_by_importance` can sort by importance once (DynaBERT-style), so that
smaller sub-networks keep the most important heads and neurons.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn
from transformers import BertConfig, BertForSequenceClassification

from ddp_bert.model_loading import load_bert_classifier, load_config
from ddp_bert.space import SubnetworkShape, TeacherShape


def leading_rows(tensor: torch.Tensor, count: int) -> torch.Tensor:
    """The first ``count`` rows; the tensor itself when that is all of it (its gradient then needs no
    scatter into a zero-filled full-size buffer)."""
    return tensor if count == tensor.shape[0] else tensor[:count]


def leading_columns(tensor: torch.Tensor, count: int) -> torch.Tensor:
    """The first ``count`` columns of a matrix (the matrix itself when that is all of it)."""
    return tensor if count == tensor.shape[1] else tensor[:, :count]


def task_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy for classification, mean squared error for a one-output regression (STS-B)."""
    if logits.shape[-1] == 1:
        return F.mse_loss(logits.squeeze(-1), labels.to(logits.dtype))
    return F.cross_entropy(logits, labels.long())


def distillation_loss(logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Soft-target loss against a teacher's logits: KL divergence, or MSE for regression."""
    if logits.shape[-1] == 1:
        return F.mse_loss(logits, teacher_logits)
    log_student = F.log_softmax(logits / temperature, dim=-1)
    teacher = F.softmax(teacher_logits / temperature, dim=-1)
    return F.kl_div(log_student, teacher, reduction="batchmean") * temperature**2


class ElasticBertForSequenceClassification(nn.Module):
    """A ``BertForSequenceClassification`` whose forward runs any sub-network on sliced weights.

    Parameters
    ----------
    model
        The teacher; its weights are shared (not copied) by every sub-network.

    Notes
    -----
    Only encoder (non-decoder) BERT-family models with absolute position embeddings are supported.
    """

    def __init__(self, model: BertForSequenceClassification) -> None:
        super().__init__()
        config = model.config
        if getattr(config, "is_decoder", False) or getattr(config, "add_cross_attention", False):
            raise ValueError("ddp-bert compresses encoder BERTs; this checkpoint is configured as a decoder")
        if model.bert.pooler is None:
            raise ValueError("the teacher has no pooler; build it with add_pooling_layer=True")
        self.model = model
        self.teacher = TeacherShape.from_config(config)

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | os.PathLike, num_labels: int, label_names: tuple[str, ...] = (), **kwargs
    ) -> ElasticBertForSequenceClassification:
        """Load any BERT-family checkpoint (a hub name or a local directory) with a fresh classifier.

        Parameters
        ----------
        name_or_path
            e.g. ``"bert-base-uncased"`` or a directory holding ``config.json`` and weights.
        num_labels
            Classifier outputs; 1 means regression (STS-B).
        label_names
            Optional class names in label order (become the config's ``id2label``).
        **kwargs
            Passed to ``BertForSequenceClassification.from_pretrained``.
        """
        config = load_config(name_or_path, num_labels=num_labels)  # trust_remote_code=False
        if label_names:
            if len(label_names) != num_labels:
                raise ValueError(f"{len(label_names)} label names for {num_labels} labels")
            config.id2label = dict(enumerate(label_names))
            config.label2id = {name: index for index, name in enumerate(label_names)}
        if not isinstance(config, BertConfig):
            raise ValueError(
                f"{name_or_path} is a {type(config).__name__} (model_type {config.model_type!r}); "
                "ddp-bert needs a BERT-family checkpoint (model_type 'bert')"
            )
        config.problem_type = "regression" if num_labels == 1 else "single_label_classification"
        model = load_bert_classifier(name_or_path, config, **kwargs)
        return cls(model)

    @property
    def config(self) -> BertConfig:
        """The teacher's configuration."""
        return self.model.config

    def full_shape(self) -> SubnetworkShape:
        """The sub-network that is the whole teacher."""
        return SubnetworkShape.full(self.teacher)

    def check_shape(self, shape: SubnetworkShape) -> None:
        """Raise ``ValueError`` if ``shape`` does not fit inside the teacher."""
        teacher = self.teacher
        if not 1 <= shape.depth <= teacher.num_layers:
            raise ValueError(f"depth {shape.depth} outside [1, {teacher.num_layers}]")
        if any(not 0 <= h <= teacher.num_heads for h in shape.num_heads):
            raise ValueError(f"head counts {shape.num_heads} outside [0, {teacher.num_heads}]")
        if any(not 0 <= w <= teacher.intermediate_size for w in shape.intermediate_sizes):
            raise ValueError(f"FFN widths {shape.intermediate_sizes} outside [0, {teacher.intermediate_size}]")

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        subnetwork: SubnetworkShape | None = None,
        head_masks: list[torch.Tensor] | None = None,
        neuron_masks: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Logits of one sub-network.

        Parameters
        ----------
        input_ids, attention_mask, token_type_ids
            As for ``BertForSequenceClassification`` (batch, sequence).
        subnetwork
            The sub-network to run; ``None`` runs the whole teacher.
        head_masks, neuron_masks
            Optional per-layer multipliers of each kept head's context / each kept FFN neuron; their
            gradients measure importance (see :mod:`ddp_bert.importance`).

        Returns
        -------
        torch.Tensor
            Logits, (batch, num_labels).
        """
        shape = subnetwork or self.full_shape()
        bert = self.model.bert
        hidden = bert.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
        # A boolean mask (True = attend) has no dtype to disagree with bf16/fp16 queries under autocast.
        keep_mask = None if attention_mask is None else attention_mask[:, None, None, :].to(torch.bool)
        for index in range(shape.depth):
            layer = bert.encoder.layer[index]
            hidden = self._attention(
                layer.attention, hidden, keep_mask, shape.num_heads[index],
                None if head_masks is None else head_masks[index],
            )
            hidden = self._feed_forward(
                layer, hidden, shape.intermediate_sizes[index],
                None if neuron_masks is None else neuron_masks[index],
            )
        pooled = bert.pooler(hidden)
        return self.model.classifier(self.model.dropout(pooled))

    def _attention(self, attention, hidden, keep_mask, num_heads, head_mask):
        self_attention = attention.self
        output = attention.output
        if num_heads == 0:  # the block then adds only the output bias before its LayerNorm
            projected = output.dense.bias.expand_as(hidden)
            return output.LayerNorm(output.dropout(projected) + hidden)
        head_size = self.teacher.head_size
        kept = num_heads * head_size
        batch, length, _ = hidden.shape

        def project(linear: nn.Linear) -> torch.Tensor:
            result = F.linear(hidden, leading_rows(linear.weight, kept), leading_rows(linear.bias, kept))
            return result.view(batch, length, num_heads, head_size).transpose(1, 2)

        query, key, value = project(self_attention.query), project(self_attention.key), project(self_attention.value)
        dropout = self_attention.dropout.p if self.training else 0.0
        context = F.scaled_dot_product_attention(query, key, value, attn_mask=keep_mask, dropout_p=dropout)
        if head_mask is not None:
            context = context * head_mask.view(1, num_heads, 1, 1)
        context = context.transpose(1, 2).reshape(batch, length, kept)
        projected = F.linear(context, leading_columns(output.dense.weight, kept), output.dense.bias)
        return output.LayerNorm(output.dropout(projected) + hidden)

    @staticmethod
    def _feed_forward(layer, hidden, width, neuron_mask):
        intermediate, output = layer.intermediate, layer.output
        if width == 0:
            return output.LayerNorm(output.dropout(output.dense.bias.expand_as(hidden)) + hidden)
        inner = intermediate.intermediate_act_fn(
            F.linear(hidden, leading_rows(intermediate.dense.weight, width), leading_rows(intermediate.dense.bias, width))
        )
        if neuron_mask is not None:
            inner = inner * neuron_mask
        projected = F.linear(inner, leading_columns(output.dense.weight, width), output.dense.bias)
        return output.LayerNorm(output.dropout(projected) + hidden)
