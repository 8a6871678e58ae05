"""The CPU fast paths give the original modules' values. The decoding Linears (``W @ x.T``, one row
``torch.mv``) against ``torch.nn.functional.linear`` on the same parameters, in float32 and bfloat16, with and
without a bias, at the row counts a decoding step has (1 row per answer) and past the threshold (a prefill's:
one oneDNN product); a Qwen2 LM's grouped projections (q/k/v and gate/up as one product) against the same LM's
separate ones; the LM's MLP in row blocks against the same MLP run on the whole input; CLIP's MLP with its
quick-GELU folded into a swish against transformers' own module."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from emox_core.modeling.cpu_linears import (
    STREAM_MAX_ROWS,
    GroupedLinear,
    InputScaledLinear,
    ProjectionGroup,
    RowBlocks,
    StreamingLinear,
    SwishLinear,
    as_rows,
    block_mlps,
    fuse_linears,
    group_projections,
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


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("shape", [(17920, 8), (200, 16), (7, 2), (1, 3), (4, 1)])
def test_columns_turn_into_rows_unchanged(dtype: torch.dtype, shape: tuple[int, int]) -> None:
    """A decoding step's products come out as columns (out_features, rows); as_rows copies them to the rows
    the layer expects, as the 2-D transpose would, only by another copy loop."""
    columns = torch.randn(*shape).to(dtype)
    rows = as_rows(columns)
    assert rows.is_contiguous() and rows.dtype == dtype
    assert torch.equal(rows, columns.t().contiguous())


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="torch without oneDNN")
def test_a_prefills_rows_are_one_onednn_product() -> None:
    """More rows than a decoding step's (a prefill) go to oneDNN with the bias fused, as the towers' Linears."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Ops(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.names: list[str] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
            self.names.append(str(func))
            return func(*args, **(kwargs or {}))

    linear = nn.Linear(96, 200).to(torch.bfloat16)
    linear.__class__ = StreamingLinear
    for rows, expected in ((STREAM_MAX_ROWS + 1, "mkldnn._linear_pointwise.default"), (1, "aten.addmv.default")):
        x = torch.randn(rows, 96, dtype=torch.bfloat16)
        with torch.no_grad(), Ops() as ops:
            linear(x)
        products = [n for n in ops.names if n.split(".")[1] in ("_linear_pointwise", "addmv", "addmm", "mm", "mv")]
        assert products == [expected], rows


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


def _qwen2_lm(dtype: torch.dtype) -> nn.Module:
    """A small Qwen2 LM (the architecture the 2.2B model decodes with: q/k/v with a bias, gate/up without),
    its Linears streaming, every bias non-zero."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=300, hidden_size=64, intermediate_size=176, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
    model = Qwen2ForCausalLM(config).to(dtype).eval().requires_grad_(False)
    for name, parameter in model.named_parameters():
        if name.endswith("bias"):
            parameter.normal_()
    stream_linears(model)
    return model


def _greedy_logits(model: nn.Module, prompt: torch.Tensor, steps: int) -> torch.Tensor:
    """The prefill's last logits, then each greedy decoding step's (one row per answer: the grouped path)."""
    with torch.no_grad():
        out = model(input_ids=prompt, use_cache=True)
        logits = [out.logits[:, -1:]]
        for _ in range(steps):
            out = model(input_ids=logits[-1].argmax(-1), past_key_values=out.past_key_values, use_cache=True)
            logits.append(out.logits[:, -1:])
    return torch.cat(logits, dim=1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("answers", [1, 3])
def test_grouped_projections_decode_as_separate_ones(dtype: torch.dtype, answers: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Reference: the same LM with its streaming Linears separate. Each output is the same dot product over
    the same row of weights, so the logits are equal bit for bit (on this project's machine; elsewhere at
    most one bf16 step apart), and the group's one product is what the step ran."""
    separate = _qwen2_lm(dtype)
    grouped = copy.deepcopy(separate)
    assert group_projections(grouped) == 4  # two layers x (q/k/v, gate/up)
    products: list[int] = []
    compute = ProjectionGroup.compute
    monkeypatch.setattr(ProjectionGroup, "compute", lambda group, x, rows: products.append(rows) or compute(
        group, x, rows))
    prompt = torch.randint(0, 300, (answers, STREAM_MAX_ROWS + 4))
    expected, got = _greedy_logits(separate, prompt, 4), _greedy_logits(grouped, prompt, 4)
    assert products == [answers] * 4 * 4  # 4 steps x 4 groups; the prefill: each Linear's own
    tolerance = 1e-5 if dtype == torch.float32 else 2 ** -7
    torch.testing.assert_close(got, expected, rtol=tolerance, atol=tolerance)


def test_grouped_projections_keep_names_values_and_state_dict(tmp_path: Path) -> None:
    """Same parameter names and values, the members' weights views of the group's one tensor; saved and loaded
    back (``save_pretrained``) as the model was."""
    from transformers import Qwen2ForCausalLM

    model = _qwen2_lm(torch.float32)
    before = copy.deepcopy(model.state_dict())
    group_projections(model)
    model.save_pretrained(tmp_path)
    loaded = Qwen2ForCausalLM.from_pretrained(tmp_path).state_dict()
    assert all(torch.equal(before[k], loaded[k]) for k in before)
    attention = model.model.layers[0].self_attn
    assert isinstance(attention.k_proj, GroupedLinear) and list(model.state_dict()) == list(before)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    group = attention.q_proj.group
    assert group.intact() and attention.v_proj.weight.untyped_storage().data_ptr() == (
        group.weight.untyped_storage().data_ptr())


def test_a_member_that_left_its_group_uses_its_own_weights() -> None:
    """A parameter replaced after grouping (or a model moved by ``.to``): the group's stale rows are not used;
    a follower called without its leader computes its own product."""
    model = _qwen2_lm(torch.float32)
    group_projections(model)
    attention = model.model.layers[0].self_attn
    x = torch.randn(1, 1, 64)
    with torch.no_grad():
        assert torch.equal(attention.v_proj(x), F.linear(x, attention.v_proj.weight, attention.v_proj.bias))
        attention.k_proj.weight = nn.Parameter(torch.zeros_like(attention.k_proj.weight), requires_grad=False)
        assert not attention.q_proj.group.intact()
        attention.q_proj(x)
        assert torch.equal(attention.k_proj(x), attention.k_proj.bias.expand(1, 1, -1))
        model.double()
        expected = F.linear(x.double(), attention.q_proj.weight, attention.q_proj.bias)
        assert torch.equal(attention.q_proj(x.double()), expected) and not attention.q_proj.group.intact()


def _plain_clip_l_mlp(dtype: torch.dtype = torch.bfloat16) -> nn.Module:
    """transformers' CLIP MLP at CLIP-L's real widths (1,024 -> 4,096 quick-GELU -> 1,024), biases randomised."""
    from transformers import CLIPVisionConfig
    from transformers.models.clip.modeling_clip import CLIPMLP

    torch.manual_seed(0)
    mlp = CLIPMLP(CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_attention_heads=16,
                                   hidden_act="quick_gelu"))
    with torch.no_grad():
        for linear in (mlp.fc1, mlp.fc2):
            linear.bias.normal_(0, 0.5)
    return mlp.to(dtype).eval()


def _clip_l_mlp() -> nn.Module:
    """CLIP-L's MLP in bf16, prepared as the tower is."""
    mlp = _plain_clip_l_mlp()
    fuse_linears(mlp)
    return mlp


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_quick_gelu_folded_into_a_swish_gives_clip_mlps_values(dtype: torch.dtype) -> None:
    """CLIP-L's MLP with its quick-GELU folded into the first Linear's swish (and the factor divided out by the
    second) against transformers' CLIPMLP on the same parameters: float32 to float32 rounding; bf16 no further
    from the float32 values than transformers' module in bf16 is, give or take one bf16 step. The parameters
    stay the module's own; with gradients, the plain path gives the same values and input gradients."""
    plain = _plain_clip_l_mlp(dtype)
    folded = copy.deepcopy(plain)
    assert fuse_linears(folded) == 2
    assert type(folded.fc1) is SwishLinear and type(folded.fc2) is InputScaledLinear
    assert isinstance(folded.activation_fn, nn.Identity)
    assert all(torch.equal(v, plain.state_dict()[k]) for k, v in folded.state_dict().items())
    assert list(folded.state_dict()) == list(plain.state_dict())
    x = torch.randn(2, 257, 1024, dtype=dtype) * 2
    with torch.no_grad():
        expected, got = plain(x), folded(x)
        exact = copy.deepcopy(plain).float()(x.float())
    scale = exact.abs().max().item()
    if dtype == torch.float32:
        assert (got - expected).abs().max().item() <= 1e-5 * scale
    else:
        plain_error = (expected.float() - exact).abs().max().item()
        assert (got.float() - exact).abs().max().item() <= plain_error + 2 ** -7 * scale
    x.requires_grad_(True)
    folded(x).float().square().sum().backward()
    folded_grad, x.grad = x.grad, None
    plain(x).float().square().sum().backward()
    torch.testing.assert_close(folded_grad, x.grad, rtol=1e-4 if dtype == torch.float32 else 2 ** -6,
                               atol=1e-4 * x.grad.abs().max().item() if dtype == torch.float32 else 2 ** -5)


def _qwen2_mlp() -> nn.Module:
    """Qwen2.5-1.5B's MLP at its real widths (1,536 -> 8,960 SiLU x up -> 1,536), bf16, prepared as the LM is."""
    from transformers import Qwen2Config
    from transformers.models.qwen2.modeling_qwen2 import Qwen2MLP

    torch.manual_seed(0)
    mlp = Qwen2MLP(Qwen2Config(hidden_size=1536, intermediate_size=8960)).to(torch.bfloat16).eval()
    stream_linears(mlp)
    return mlp


@pytest.mark.parametrize(("prompts", "blocks"), [(8, [1020, 1020]), (5, [1275]), (12, [1020, 1020, 1020])])
def test_mlp_row_blocks_give_the_whole_inputs_values(prompts: int, blocks: list[int]) -> None:
    """The LM's MLP over a prefill of 8 prompts x 255 tokens runs as two blocks of 1,020 rows; 5 prompts (1,275
    rows) stays whole. Reference: the same module unblocked on the same input."""
    mlp = _qwen2_mlp()
    x = torch.randn(prompts, 255, 1536, dtype=torch.bfloat16)
    with torch.no_grad():
        expected = mlp(x)
        assert block_mlps(mlp) == 1 and isinstance(mlp, RowBlocks)
        seen: list[int] = []
        mlp.gate_proj.register_forward_pre_hook(lambda _, args: seen.append(args[0].numel() // 1536))
        got = mlp(x)
    assert seen == blocks and got.shape == expected.shape and got.is_contiguous()
    # each row is computed by the same operations (bit for bit on this project's machine); elsewhere oneDNN may
    # pick another kernel for another row count: at most one bf16 step apart
    torch.testing.assert_close(got, expected, rtol=2 ** -7, atol=2 ** -7)


def test_clips_mlp_stays_whole() -> None:
    """CLIP's MLP, its quick-GELU folded into the first product, runs whole (faster than in blocks since)."""
    mlp = _clip_l_mlp()
    assert block_mlps(mlp) == 0 and not isinstance(mlp, RowBlocks)


def test_mlp_row_blocks_keep_gradients_and_the_state_dict() -> None:
    mlp = _qwen2_mlp()
    before = copy.deepcopy(mlp.state_dict())
    block_mlps(mlp)
    assert list(mlp.state_dict()) == list(before) and all(torch.equal(before[k], v) for k, v in
                                                          mlp.state_dict().items())
    seen: list[int] = []
    mlp.gate_proj.register_forward_pre_hook(lambda _, args: seen.append(args[0].numel() // 1536))
    x = torch.randn(2040, 1536, dtype=torch.bfloat16, requires_grad=True)
    mlp(x).float().sum().backward()
    assert seen == [2040] and x.grad is not None  # with gradients: the whole input, the module's own forward
