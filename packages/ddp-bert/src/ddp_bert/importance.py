"""Importance-ordered slicing (DynaBERT-style): sort heads and FFN neurons once so slices keep the best.

The importance of a head (or neuron) is the accumulated absolute gradient of the task loss with respect to a
multiplier on its output, evaluated at 1 (Michel et al., 2019; Hou et al., 2020). Reordering permutes rows
and columns of the weights; the whole teacher computes exactly the same function afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch

from ddp_bert.elastic import ElasticBertForSequenceClassification, task_loss


def measure_importance(
    model: ElasticBertForSequenceClassification,
    batches: Iterable[Mapping[str, torch.Tensor]],
    max_batches: int = 8,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Head and neuron importance of the whole teacher on a few labelled batches.

    Parameters
    ----------
    model
        The elastic supernet (its gradients are left untouched).
    batches
        Mappings with ``input_ids``, ``attention_mask``, optional ``token_type_ids`` and ``labels``.
    max_batches
        How many batches to use.

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        Head importance (layers, heads) and neuron importance (layers, intermediate size), on the CPU.
    """
    teacher = model.teacher
    device = next(model.parameters()).device
    head_masks = [torch.ones(teacher.num_heads, device=device, requires_grad=True)
                  for _ in range(teacher.num_layers)]
    neuron_masks = [torch.ones(teacher.intermediate_size, device=device, requires_grad=True)
                    for _ in range(teacher.num_layers)]
    head_importance = torch.zeros(teacher.num_layers, teacher.num_heads)
    neuron_importance = torch.zeros(teacher.num_layers, teacher.intermediate_size)
    was_training = model.training
    model.eval()
    used = 0
    for batch in batches:
        if used >= max_batches:
            break
        logits = model(
            batch["input_ids"].to(device), batch["attention_mask"].to(device),
            batch["token_type_ids"].to(device) if "token_type_ids" in batch else None,
            head_masks=head_masks, neuron_masks=neuron_masks,
        )
        loss = task_loss(logits, batch["labels"].to(device))
        head_grads = torch.autograd.grad(loss, head_masks + neuron_masks)
        for layer in range(teacher.num_layers):
            head_importance[layer] += head_grads[layer].abs().detach().cpu()
            neuron_importance[layer] += head_grads[teacher.num_layers + layer].abs().detach().cpu()
        used += 1
    model.train(was_training)
    if used == 0:
        raise ValueError("no batches to measure importance on; the training split is empty")
    return head_importance, neuron_importance


@torch.no_grad()
def apply_order(
    model: ElasticBertForSequenceClassification,
    head_order: torch.Tensor,
    neuron_order: torch.Tensor,
) -> None:
    """Permute every layer's heads and FFN neurons in place (row ``n`` of each order lists old indices)."""
    head_size = model.teacher.head_size
    for layer_index, layer in enumerate(model.model.bert.encoder.layer):
        heads = head_order[layer_index].long()
        rows = (heads[:, None] * head_size + torch.arange(head_size)[None, :]).reshape(-1)
        rows = rows.to(layer.attention.self.query.weight.device)
        for linear in (layer.attention.self.query, layer.attention.self.key, layer.attention.self.value):
            linear.weight.copy_(linear.weight[rows])
            linear.bias.copy_(linear.bias[rows])
        dense = layer.attention.output.dense
        dense.weight.copy_(dense.weight[:, rows])
        neurons = neuron_order[layer_index].long().to(rows.device)
        up, down = layer.intermediate.dense, layer.output.dense
        up.weight.copy_(up.weight[neurons])
        up.bias.copy_(up.bias[neurons])
        down.weight.copy_(down.weight[:, neurons])


def reorder_by_importance(
    model: ElasticBertForSequenceClassification,
    batches: Iterable[Mapping[str, torch.Tensor]],
    max_batches: int = 8,
) -> dict[str, list[list[int]]]:
    """Measure importance and sort every layer's heads and neurons, most important first.

    Returns
    -------
    dict
        ``{"head_order": [[old index, ...] per layer], "neuron_order": [...]}``, for the run's log.
    """
    head_importance, neuron_importance = measure_importance(model, batches, max_batches)
    head_order = torch.argsort(head_importance, dim=1, descending=True, stable=True)
    neuron_order = torch.argsort(neuron_importance, dim=1, descending=True, stable=True)
    apply_order(model, head_order, neuron_order)
    return {"head_order": head_order.tolist(), "neuron_order": neuron_order.tolist()}
