import random

import numpy as np
import pytest
import torch

from ddp_vision.darts.operations import PRIMITIVES
from ddp_vision.darts.space import DartsSupernetConfig, build_search_space, split_architecture
from ddp_vision.darts.supernet import DartsSupernet

NONE = PRIMITIVES.index("none")


@pytest.fixture(scope="module")
def supernet():
    torch.manual_seed(0)
    return DartsSupernet(DartsSupernetConfig(channels=4, layers=3, in_channels=3, num_classes=5, image_size=8))


def one_hot(ops):
    weights = torch.zeros(len(ops), len(PRIMITIVES))
    weights[torch.arange(len(ops)), torch.tensor(ops)] = 1.0
    return weights


def test_space_has_28_tagged_decisions_and_paper_floors():
    space = build_search_space()
    assert space.num_decisions == 28 and space.decisions[0].name == "normal.edge0"
    assert space.decisions[27].name == "reduce.edge13"
    assert all(len(d.candidates) == 8 for d in space.decisions)
    tags = [c.tags for c in space.decisions[5].candidates]
    assert tags.count(("param",)) == 4 and tags.count(("nonparam",)) == 4
    assert space.tag_floors == {"param": 1, "nonparam": 1}
    assert space.metadata["kind"] == "darts" and space.metadata["generator"] == "ddp_vision.darts.generate:cli"
    assert space.metadata["supernet"]["layers"] == 8 and space.metadata["supernet"]["channels"] == 16


@pytest.mark.parametrize("seed", range(4))
def test_single_path_equals_mixed_ops_with_one_hot_weights(supernet, seed):
    rng = random.Random(seed)
    architecture = tuple(rng.randrange(8) for _ in range(28))
    if seed == 0:  # node 0 of the normal cell with both inputs `none`
        architecture = (NONE, NONE) + architecture[2:]
    cells = split_architecture(architecture, 14)
    x = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(seed))
    supernet.eval()
    with torch.no_grad():
        single = supernet(x, architecture)
        mixed = supernet.forward_mixed(x, one_hot(cells["normal"]), one_hot(cells["reduce"]))
    assert single.shape == (3, 5)
    assert torch.allclose(single, mixed, atol=1e-6), (single - mixed).abs().max()


def test_all_none_architecture_runs_and_unsampled_ops_get_no_gradient(supernet):
    supernet.train()
    supernet.zero_grad(set_to_none=True)
    all_none = (NONE,) * 28
    out = supernet(torch.randn(2, 3, 8, 8), all_none)
    assert out.shape == (2, 5) and torch.isfinite(out).all()
    architecture = (0,) * 14 + (6,) * 14  # sep_conv_3x3 everywhere in normal cells, skip in reduction cells
    supernet.zero_grad(set_to_none=True)
    supernet(torch.randn(2, 3, 8, 8), architecture).sum().backward()
    normal_cell = supernet.cells[0]
    assert normal_cell.edges[0][0][0][1].weight.grad is not None  # sampled sep_conv_3x3
    assert normal_cell.edges[0][1][0][1].weight.grad is None  # unsampled sep_conv_5x5
    reduction_cell = supernet.cells[1]
    assert reduction_cell.edges[0][6].conv_1.weight.grad is not None  # stride-2 skip = factorised reduce


def test_weights_are_shared_across_sampled_architectures(supernet):
    a = (0,) * 28
    b = (0,) * 13 + (1,) + (0,) * 14
    params_a = {id(p) for p in supernet.cells[0].edges[0][0].parameters()}
    params_b = {id(p) for p in supernet.cells[0].edges[0][0].parameters()}
    assert params_a == params_b
    supernet.eval()
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        assert not torch.allclose(supernet(x, a), supernet(x, b))


def test_wrong_architecture_length_is_a_clear_error(supernet):
    with pytest.raises(ValueError, match="28 op indices"):
        supernet(torch.randn(1, 3, 8, 8), (0,) * 27)
    with pytest.raises(ValueError, match="even"):
        DartsSupernetConfig(channels=5)
    assert np.all(np.array(supernet.reduction_indices) == (1, 2))
