import pytest
import torch

from ddp_vision.darts.operations import (
    NONPARAMETRIC_OPS,
    PARAMETRIC_OPS,
    PRIMITIVES,
    FactorizedReduce,
    build_op,
    drop_path,
    op_tag,
)


@pytest.mark.parametrize("name", PRIMITIVES)
@pytest.mark.parametrize("stride,size", [(1, 8), (2, 8), (2, 7), (1, 5)])
def test_every_op_keeps_channels_and_divides_resolution_by_stride(name, stride, size):
    op = build_op(name, 6, stride, affine=False, pool_batchnorm=True)
    out = op(torch.randn(2, 6, size, size))
    expected = -(-size // stride)
    assert out.shape == (2, 6, expected, expected)


def test_tags_split_the_eight_ops_four_and_four():
    assert len(PRIMITIVES) == 8 and set(PRIMITIVES) == set(PARAMETRIC_OPS) | set(NONPARAMETRIC_OPS)
    assert [op_tag(n) for n in PARAMETRIC_OPS] == ["param"] * 4
    assert [op_tag(n) for n in NONPARAMETRIC_OPS] == ["nonparam"] * 4
    with pytest.raises(KeyError, match="known ops"):
        op_tag("conv_7x1_1x7")
    with pytest.raises(KeyError, match="known ops"):
        build_op("conv_7x1_1x7", 4, 1)


def test_parametric_ops_have_weights_and_stride_one_nonparametric_ones_do_not():
    for name in PARAMETRIC_OPS:
        assert sum(p.numel() for p in build_op(name, 4, 1).parameters()) > 0
    for name in NONPARAMETRIC_OPS:
        assert sum(p.numel() for p in build_op(name, 4, 1).parameters()) == 0
    # a stride-2 skip connection is a factorised reduction, which does carry weights
    assert isinstance(build_op("skip_connect", 4, 2), FactorizedReduce)


def test_none_is_zero_and_skip_is_identity():
    x = torch.randn(1, 3, 4, 4)
    assert torch.count_nonzero(build_op("none", 3, 1)(x)) == 0
    assert torch.equal(build_op("skip_connect", 3, 1)(x), x)


def test_factorized_reduce_needs_even_channels():
    with pytest.raises(ValueError, match="even"):
        FactorizedReduce(3, 5)


def test_drop_path_zeroes_whole_samples_and_rescales():
    torch.manual_seed(0)
    x = torch.ones(400, 2, 2, 2)
    y = drop_path(x, 0.25)
    per_sample = y.flatten(1)
    assert torch.all((per_sample == 0).all(1) | torch.isclose(per_sample, torch.tensor(1 / 0.75)).all(1))
    assert 0.15 < float((per_sample == 0).all(1).float().mean()) < 0.35
    assert torch.equal(drop_path(x, 0.0), x)
