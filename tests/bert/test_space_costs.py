"""Search space derivation, architecture coding, exact parameter costs and ENG budgets."""

import random

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from ddp_bert.costs import parameter_cost_table, subnetwork_parameters
from ddp_bert.elastic import ElasticBertForSequenceClassification
from ddp_bert.export import extract_subnetwork
from ddp_bert.space import (
    SubnetworkShape,
    TeacherShape,
    build_search_space,
    decode_architecture,
    encode_subnetwork,
)
from ddp_core import CategoricalDistribution, InfeasibleBudgetError, generate


def tiny_config(num_labels=2):
    return BertConfig(vocab_size=120, hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
                      intermediate_size=64, max_position_embeddings=40, num_labels=num_labels)


def candidates(space, name):
    return [c.name for c in space.decisions[space.decision_index(name)].candidates]


def test_bert_base_space_has_the_paper_choices():
    space = build_search_space(TeacherShape.from_config(BertConfig()))
    assert candidates(space, "depth") == ["6", "8", "10", "12"]
    assert candidates(space, "layer0.ffn") == ["512", "768", "1024", "3072"]
    assert candidates(space, "layer11.heads") == ["4", "8", "12"]
    assert space.num_decisions == 1 + 2 * 12
    assert space.decisions[space.decision_index("layer5.ffn")].requires is None
    assert space.decisions[space.decision_index("layer6.ffn")].requires.candidates == ("8", "10", "12")
    assert space.decisions[space.decision_index("layer11.heads")].requires.candidates == ("12",)
    assert space.metadata["kind"] == "bert" and space.metadata["generator"] == "ddp_bert.generate:cli"


def test_minilm_space_is_proportional(minilm_path):
    from transformers import AutoConfig

    space = build_search_space(TeacherShape.from_config(AutoConfig.from_pretrained(minilm_path)))
    assert candidates(space, "depth") == ["3", "4", "5", "6"]
    assert candidates(space, "layer0.ffn") == ["256", "384", "512", "1536"]
    assert candidates(space, "layer0.heads") == ["4", "8", "12"]


def test_inactive_layers_follow_depth():
    space = build_search_space(TeacherShape.from_config(BertConfig()))
    shape = SubnetworkShape(8, (4,) * 8, (512,) * 8)
    architecture = encode_subnetwork(space, shape)
    active = space.active_mask(architecture)
    assert active[space.decision_index("layer7.heads")]
    assert not active[space.decision_index("layer8.heads")]
    assert decode_architecture(space, architecture) == shape


def test_bad_choices_name_the_flag():
    teacher = TeacherShape.from_config(tiny_config())
    with pytest.raises(ValueError, match="--heads"):
        build_search_space(teacher, head_counts=[2, 8])
    with pytest.raises(ValueError, match="--depths"):
        build_search_space(teacher, depths=[0, 2])


@pytest.mark.parametrize("num_labels", [1, 2, 3])
def test_parameter_costs_match_built_models(num_labels):
    torch.manual_seed(0)
    config = tiny_config(num_labels)
    supernet = ElasticBertForSequenceClassification(BertForSequenceClassification(config))
    teacher = supernet.teacher
    full = sum(p.numel() for p in supernet.model.parameters())
    assert subnetwork_parameters(teacher, supernet.full_shape(), num_labels) == full
    space = build_search_space(teacher, depths=[2, 3, 4], ffn_widths=[8, 16, 64], head_counts=[1, 2, 4])
    table = parameter_cost_table(space, num_labels)
    rng = random.Random(num_labels)
    for _ in range(4):
        depth = rng.choice([2, 3, 4])
        shape = SubnetworkShape(depth, tuple(rng.choice([1, 2, 4]) for _ in range(depth)),
                                tuple(rng.choice([8, 16, 64]) for _ in range(depth)))
        built = sum(p.numel() for p in extract_subnetwork(supernet, shape).parameters())
        assert table(space, encode_subnetwork(space, shape)) == pytest.approx(built / 1e6, abs=1e-9)


def test_eng_respects_the_paper_budget_and_reports_infeasible_ones():
    space = build_search_space(TeacherShape.from_config(BertConfig()))
    table = parameter_cost_table(space, 2)
    assert table(space, encode_subnetwork(space, SubnetworkShape.full(TeacherShape.from_config(BertConfig())))) \
        == pytest.approx(109.483778)
    distribution = CategoricalDistribution.uniform(space)
    depth = space.decision_index("depth")
    distribution.theta[depth, :4] = [0.1, 0.1, 0.1, 0.7]  # prefer depth 12
    answer = generate(space, distribution, {"params_m": table}, {"params_m": 67.0})
    assert answer.costs["params_m"] <= 67.0
    assert decode_architecture(space, answer.architecture).depth == 12
    with pytest.raises(InfeasibleBudgetError, match="smallest achievable"):
        generate(space, distribution, {"params_m": table}, {"params_m": 10.0})
