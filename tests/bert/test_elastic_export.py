"""Elastic supernet forward, importance reordering, export and reload through transformers' Auto classes."""

import json

import pytest
import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, BertForSequenceClassification

import ddp_bert
from ddp_bert.compressed import (
    COMPRESSED_MODEL_TYPE,
    CompressedBertConfig,
    CompressedBertForSequenceClassification,
)
from ddp_bert.elastic import ElasticBertForSequenceClassification
from ddp_bert.export import extract_subnetwork, save_compressed
from ddp_bert.importance import measure_importance, reorder_by_importance
from ddp_bert.space import SubnetworkShape


@pytest.fixture()
def supernet(tiny_bert_dir):
    torch.manual_seed(0)
    return ElasticBertForSequenceClassification.from_pretrained(tiny_bert_dir, num_labels=3).eval()


@pytest.fixture()
def batch():
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(1000, 3000, (4, 12), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 8:] = 0
    attention_mask[3, 5:] = 0
    token_type_ids = torch.zeros_like(input_ids)
    token_type_ids[:, 6:] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids,
            "labels": torch.tensor([0, 1, 2, 1])}


def inputs(batch):
    return {key: value for key, value in batch.items() if key != "labels"}


def test_whole_supernet_equals_the_transformers_model(supernet, batch):
    expected = supernet.model(**inputs(batch)).logits
    assert torch.allclose(supernet(**inputs(batch)), expected, atol=1e-5)


def test_smaller_subnetworks_change_the_output(supernet, batch):
    full = supernet(**inputs(batch))
    small = supernet(**inputs(batch), subnetwork=SubnetworkShape(2, (1, 2), (8, 16)))
    assert not torch.allclose(full, small)


def test_importance_reordering_keeps_the_function_and_sorts(supernet, batch):
    before = supernet(**inputs(batch))
    orders = reorder_by_importance(supernet, [batch], max_batches=1)
    assert sorted(orders["head_order"][0]) == [0, 1, 2, 3]
    assert torch.allclose(supernet(**inputs(batch)), before, atol=1e-5)
    heads, neurons = measure_importance(supernet, [batch], max_batches=1)
    assert torch.all(heads[:, :-1] >= heads[:, 1:] - 1e-6)
    assert torch.all(neurons[:, :-1] >= neurons[:, 1:] - 1e-6)


def test_export_matches_subnetwork_and_reloads_bit_exactly(supernet, batch, tmp_path, tiny_bert_dir):
    from transformers import AutoTokenizer

    reorder_by_importance(supernet, [batch], max_batches=1)
    shape = SubnetworkShape(3, (1, 4, 2), (16, 64, 8))
    expected = supernet(**inputs(batch), subnetwork=shape)
    model = save_compressed(supernet, shape, tmp_path / "export", AutoTokenizer.from_pretrained(tiny_bert_dir))
    saved_logits = model(**inputs(batch)).logits
    assert torch.allclose(saved_logits, expected, atol=1e-5)
    assert AutoConfig.from_pretrained(tmp_path / "export").model_type == COMPRESSED_MODEL_TYPE
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "export").eval()
    assert isinstance(reloaded, CompressedBertForSequenceClassification)
    assert reloaded.config.layer_num_heads == [1, 4, 2]
    assert reloaded.config.layer_intermediate_sizes == [16, 64, 8]
    assert torch.equal(reloaded(**inputs(batch)).logits, saved_logits)
    assert sum(p.numel() for p in reloaded.parameters()) == ddp_bert.subnetwork_parameters(
        supernet.teacher, shape, 3)
    saved = json.loads((tmp_path / "export" / "config.json").read_text())
    assert "num_attention_heads" not in saved and "intermediate_size" not in saved  # only per-layer sizes
    assert saved["attention_head_size"] == 8 and saved["layer_num_heads"] == [1, 4, 2]
    assert (reloaded.config.num_attention_heads, reloaded.config.intermediate_size) == (4, 64)  # widest layer
    assert {"configuration_ddp_compressed_bert.py", "modeling_ddp_compressed_bert.py"} <= {
        path.name for path in (tmp_path / "export").iterdir()}


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
def test_exports_written_before_attention_head_size_still_load(tmp_path):
    """Older exports stored the teacher's num_attention_heads / intermediate_size beside the per-layer lists."""
    old = {"model_type": COMPRESSED_MODEL_TYPE, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
           "intermediate_size": 64, "layer_num_heads": [2, 0], "layer_intermediate_sizes": [16, 64],
           "vocab_size": 100, "max_position_embeddings": 16}
    (tmp_path / "config.json").write_text(json.dumps(old))
    config = AutoConfig.from_pretrained(tmp_path)
    assert config.attention_head_size == 8 and config.num_attention_heads == 2
    model = CompressedBertForSequenceClassification(config).eval()
    assert model.bert.encoder.layer[0].attention.self.query.weight.shape == (16, 32)
    assert model.bert.encoder.layer[1].attention.self.query.weight.shape == (0, 32)  # a layer without heads runs
    logits = model(input_ids=torch.tensor([[1, 2, 3]])).logits
    assert logits.shape == (1, 2) and torch.isfinite(logits).all()
    with pytest.raises(ValueError, match="one entry per layer"):
        CompressedBertConfig(hidden_size=32, num_hidden_layers=2, attention_head_size=8, layer_num_heads=[1],
                             layer_intermediate_sizes=[8, 8])


def test_exported_model_trains(supernet, batch):
    model = extract_subnetwork(supernet, SubnetworkShape(2, (2, 2), (16, 16))).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    losses = []
    for _ in range(5):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]


def test_bad_shapes_and_models_are_rejected(supernet, tmp_path):
    with pytest.raises(ValueError, match="depth"):
        supernet.check_shape(SubnetworkShape(5, (1,) * 5, (8,) * 5))
    with pytest.raises(ValueError, match="needs 2 head counts"):
        SubnetworkShape(2, (1,), (8, 8))
    from transformers import BertConfig

    decoder = BertForSequenceClassification(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                                                       intermediate_size=16, vocab_size=50, is_decoder=True))
    with pytest.raises(ValueError, match="decoder"):
        ElasticBertForSequenceClassification(decoder)
