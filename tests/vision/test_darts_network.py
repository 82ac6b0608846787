import json
import random

import pytest
import torch

from ddp_vision.darts.costs import EvalNetworkSpec, count_parameters, eval_cost_tables, network_costs
from ddp_vision.darts.genotypes import (
    PUBLISHED_GENOTYPES,
    Genotype,
    cell_edges,
    format_genotype,
    genotype_to_dict,
    parse_genotype,
)
from ddp_vision.darts.operations import PRIMITIVES
from ddp_vision.darts.space import DartsSupernetConfig, build_search_space
from ddp_vision.registry import create_model, list_models


def random_genotype(rng, steps=4):
    cells = {}
    for cell in ("normal", "reduce"):
        pairs = []
        for node in range(steps):
            for j in rng.sample(range(node + 2), 2):
                pairs.append((rng.choice([p for p in PRIMITIVES if p != "none"]), j))
        cells[cell] = pairs
    concat = list(range(2, steps + 2))
    return Genotype(normal=cells["normal"], normal_concat=concat, reduce=cells["reduce"], reduce_concat=concat)


def test_darts_v2_counts_3_35m_parameters_at_36_channels_20_cells():
    network = create_model("ddpnas_darts_cifar", genotype="DARTS_V2", channels=36, layers=20, auxiliary=True)
    params_m = count_parameters(network) / 1e6  # DARTS convention: auxiliary head excluded
    assert round(params_m, 2) == 3.35
    assert count_parameters(network, exclude="\0") > count_parameters(network)  # the head exists, not counted


def test_published_genotypes_match_their_papers_sizes():
    # CIFAR-10 parameters as published: PC-DARTS 3.6M, P-DARTS 3.4M; ImageNet mobile DARTS 4.7M
    sizes = {name: count_parameters(create_model("ddpnas_darts_cifar", genotype=name)) / 1e6 for name in
             ("PC_DARTS", "PDARTS")}
    assert round(sizes["PC_DARTS"], 1) == 3.6 and round(sizes["PDARTS"], 1) == 3.4
    imagenet = create_model("ddpnas_darts_imagenet", genotype="DARTS_V2")
    assert round(count_parameters(imagenet) / 1e6, 1) == 4.7


def test_genotype_text_and_json_round_trip_and_bad_input_errors():
    for genotype in PUBLISHED_GENOTYPES.values():
        text = format_genotype(genotype)
        assert parse_genotype(text) == parse_genotype(format_genotype(parse_genotype(text)))
        assert parse_genotype(json.dumps(genotype_to_dict(genotype))) == parse_genotype(text)
    published_text = ("Genotype(normal=[('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 0), ('dil_conv_3x3', 1), "
                      "('sep_conv_5x5', 0), ('sep_conv_3x3', 1), ('avg_pool_3x3', 0), ('dil_conv_3x3', 1)], "
                      "normal_concat=range(2, 6), reduce=[('sep_conv_5x5', 1), ('max_pool_3x3', 0), ('sep_conv_5x5', 1), "
                      "('sep_conv_5x5', 2), ('sep_conv_3x3', 0), ('sep_conv_3x3', 3), ('sep_conv_3x3', 1), "
                      "('sep_conv_3x3', 2)], reduce_concat=range(2, 6))")
    assert parse_genotype(published_text) == parse_genotype("PC_DARTS")
    with pytest.raises(ValueError, match="published name"):
        parse_genotype("__import__('os')")
    with pytest.raises(ValueError, match="not a DARTS op"):
        parse_genotype(published_text.replace("avg_pool_3x3", "none"))
    with pytest.raises(ValueError, match="input 4"):
        parse_genotype(published_text.replace("('sep_conv_3x3', 3)", "('sep_conv_3x3', 4)"))


def test_features_strides_channels_and_auxiliary_head():
    network = create_model("ddpnas_darts_cifar", genotype="DARTS_V2", channels=8, layers=5, num_classes=7)
    network.train()
    x = torch.randn(2, 3, 16, 16)
    features = network.forward_features(x)
    assert [f.shape[1] for f in features] == network.feature_channels
    assert [16 // f.shape[-1] for f in features] == network.feature_strides == [1, 2, 4]
    logits, aux = network.forward_train(x)
    assert logits.shape == (2, 7) and aux.shape == (2, 7)
    network.eval()
    assert network.forward_train(x)[1] is None
    assert torch.allclose(network(x), network.forward_head(network.forward_features(x)))
    imagenet = create_model("ddpnas_darts_imagenet", genotype="PDARTS", channels=8, layers=5, num_classes=3)
    assert imagenet.feature_strides == [8, 16, 32]
    assert imagenet(torch.randn(1, 3, 64, 64)).shape == (1, 3)
    assert {"ddpnas_darts_cifar", "ddpnas_darts_imagenet"} <= set(list_models("ddpnas_darts_*"))


@pytest.mark.parametrize("spec", [
    EvalNetworkSpec(channels=6, layers=5, num_classes=4, in_channels=1, image_size=8),
    EvalNetworkSpec.imagenet(channels=8, layers=4, num_classes=5, image_size=40),
])
def test_cost_tables_add_up_to_the_built_network(spec):
    space = build_search_space(DartsSupernetConfig())
    tables = eval_cost_tables(space, spec, steps=4)
    rng = random.Random(0)
    for _ in range(3):
        genotype = random_genotype(rng)
        expected = {"params_m": tables["params_m"].fixed, "flops_m": tables["flops_m"].fixed}
        for offset, cell in ((0, "normal"), (14, "reduce")):
            for position, (op, j) in enumerate(getattr(genotype, cell)):
                e = offset + cell_edges(4).index((position // 2, j))
                k = PRIMITIVES.index(op)
                for name in expected:
                    expected[name] += tables[name].per_candidate[e][k]
        built = network_costs(spec.build(genotype), spec.image_size, spec.in_channels)
        assert built["params_m"] == pytest.approx(expected["params_m"], abs=1e-9)
        assert built["flops_m"] == pytest.approx(expected["flops_m"], abs=1e-9)
