"""The CPU fast paths give the original modules' values. The decoding Linears (``W @ x.T``, one row
``torch.mv``) against ``torch.nn.functional.linear`` on the same parameters, in float32 and bfloat16, with and
without a bias, at the row counts a decoding step has (1 row per answer) and past the threshold (nn.Linear's own
path); the MLPs in row blocks against the same MLP run on the whole input."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from emox_core.modeling.cpu_linears import (
    STREAM_MAX_ROWS,
    RowBlocks,
    StreamingLinear,
    block_mlps,
    fuse_linears,
    stream_linears,
)


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


def _clip_l_mlp() -> nn.Module:
    """CLIP-L's MLP at its real widths (1,024 -> 4,096 quick-GELU -> 1,024) in bf16, prepared as the tower is."""
    from transformers import CLIPVisionConfig
    from transformers.models.clip.modeling_clip import CLIPMLP

    torch.manual_seed(0)
    mlp = CLIPMLP(CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_attention_heads=16,
                                   hidden_act="quick_gelu"))
    mlp = mlp.to(torch.bfloat16).eval()
    fuse_linears(mlp)
    return mlp


@pytest.mark.parametrize(("frames", "blocks"), [(8, [1028, 1028]), (5, [1285]), (12, [1028, 1028, 1028])])
def test_mlp_row_blocks_give_the_whole_inputs_values(frames: int, blocks: list[int]) -> None:
    """CLIP-L's MLP over 8 frames x 257 tokens (a clip) runs as two blocks of 1,028 rows; 5 frames (1,285 rows)
    stays whole. Reference: the same module unblocked on the same input."""
    mlp = _clip_l_mlp()
    x = torch.randn(frames, 257, 1024, dtype=torch.bfloat16)
    with torch.no_grad():
        expected = mlp(x)
        assert block_mlps(mlp) == 1 and isinstance(mlp, RowBlocks)
        seen: list[int] = []
        mlp.fc1.register_forward_pre_hook(lambda _, args: seen.append(args[0].numel() // 1024))
        got = mlp(x)
    assert seen == blocks and got.shape == expected.shape and got.is_contiguous()
    # each row is computed by the same operations (bit for bit on this project's machine); elsewhere oneDNN may
    # pick another kernel for another row count: at most one bf16 step apart
    torch.testing.assert_close(got, expected, rtol=2 ** -7, atol=2 ** -7)


def test_mlp_row_blocks_keep_gradients_and_the_state_dict() -> None:
    mlp = _clip_l_mlp()
    before = copy.deepcopy(mlp.state_dict())
    block_mlps(mlp)
    assert list(mlp.state_dict()) == list(before) and all(torch.equal(before[k], v) for k, v in
                                                          mlp.state_dict().items())
    seen: list[int] = []
    mlp.fc1.register_forward_pre_hook(lambda _, args: seen.append(args[0].numel() // 1024))
    x = torch.randn(2056, 1024, dtype=torch.bfloat16, requires_grad=True)
    mlp(x).float().sum().backward()
    assert seen == [2056] and x.grad is not None  # with gradients: the whole input, the module's own forward
