"""The decoding Linears (``W @ x.T``, one row ``torch.mv``) give nn.Linear's values: the reference is
``torch.nn.functional.linear`` on the same parameters, in float32 and bfloat16, with and without a bias, at the
row counts a decoding step has (1 row per answer) and past the threshold (nn.Linear's own path)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from emox_core.modeling.cpu_linears import STREAM_MAX_ROWS, StreamingLinear, stream_linears


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(1, 1), (3, 1), (2, 8), (STREAM_MAX_ROWS,), (1, STREAM_MAX_ROWS + 1), (5, 40)])
def test_streaming_linear_equals_nn_linear(dtype: torch.dtype, bias: bool, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    linear = nn.Linear(96, 200, bias=bias).to(dtype)
    x = torch.randn(*shape, 96, dtype=dtype)
    with torch.no_grad():
        expected = F.linear(x, linear.weight, linear.bias)
        linear.__class__ = StreamingLinear
        got = linear(x)
    assert got.shape == expected.shape and got.dtype == dtype and got.is_contiguous()
    # float32: the same sums in another order; bfloat16: float32 sums rounded once, so at most one bf16 step
    tolerance = 1e-5 if dtype == torch.float32 else 2 ** -7
    assert torch.allclose(got.float(), expected.float(), rtol=tolerance, atol=tolerance)


def test_gradients_take_nn_linears_path() -> None:
    linear = nn.Linear(8, 4)
    linear.__class__ = StreamingLinear
    x = torch.randn(1, 8, requires_grad=True)
    linear(x).sum().backward()
    assert x.grad is not None and linear.weight.grad is not None


def test_stream_linears_keeps_parameters_and_a_tied_head() -> None:
    """Only the class changes: names, tensors (the tied embedding/head one tensor) and the state dict stay."""
    model = nn.ModuleDict({"embed": nn.Embedding(50, 16), "proj": nn.Linear(16, 16), "head": nn.Linear(16, 50,
                                                                                                        bias=False)})
    model["head"].weight = model["embed"].weight
    before = copy.deepcopy(model.state_dict())
    assert stream_linears(model) == 2
    assert isinstance(model["proj"], StreamingLinear) and model["head"].weight is model["embed"].weight
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()) and list(before) == list(
        model.state_dict())
