"""Faster CPU kernels for the Linears of a model prepared for inference, with the same parameters and values.

What each does (``benchmarks/infer_latency.py`` times each against the machine's floor, and the earlier way):

- the frozen towers multiply thousands of rows: :func:`fuse_linears` makes each Linear add its bias (and apply
  the activation that follows it: an erf GELU, or CLIP's quick-GELU folded into a swish) inside oneDNN's matrix
  product, one pass over the output instead of two to four;
- a decoding step multiplies one row per answer by every LM weight, so its time is the time to read the
  weights: :func:`stream_linears` computes those few rows as ``W @ x.T`` (one row: a matrix-vector product),
  which on CPU reads the weight about 1.4x faster than ``nn.Linear``'s ``x @ W.T`` (measured on this project's
  machine: 15-16 GB/s against 11; the prefill's hundreds of rows are oneDNN products, as the towers');
- the projections of an LM layer that read the same input (q/k/v, gate/up) are seven small products a step;
  :func:`group_projections` stores each group's weights as one matrix (the members' parameters become views
  of it), so a decoding step makes four larger ones a layer, which read the weights a little faster (measured
  on the 2.2B LM: a step 1.03x faster at 1 answer and 1.04x at 8, medians of 10 pairs; the same logits);
- the LM's MLP over thousands of rows (a batched prefill) makes a hidden tensor 5.8 times its input's width,
  which then goes through memory for the SiLU times the up projection and the down projection:
  :func:`block_mlps` runs it on blocks of about :data:`MLP_BLOCK_ROWS` rows, so the hidden block is still in
  the caches when it is used.

All only swap the module's class: the state dict, the parameters (a tied LM head included) and every
path they do not cover (another device, gradients, other dtypes) are the original module's own.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import nn
from torch.nn import functional as F

# (Linear, activation) attribute pairs of the towers' MLPs: CLIP/Swin ``fc1, activation_fn``, HuBERT
# ``intermediate_dense, intermediate_act_fn``. An exact (erf) GELU is fused into the Linear.
_MLP_PAIRS = (("fc1", "activation_fn"), ("intermediate_dense", "intermediate_act_fn"))
# CLIP's quick-GELU is ``x * sigmoid(1.702 x)`` (transformers' ``QuickGELUActivation``), which is
# ``swish(1.702 x) / 1.702``: oneDNN's swish (``x * sigmoid(x)``, no factor through torch) applies it once the
# first Linear's output is scaled by 1.702, and the second Linear divides the factor back out. The MLPs whose
# forward is ``fc2(activation_fn(fc1(x)))``, by class name (transformers' CLIPMLP).
QUICK_GELU_FACTOR = 1.702
_QUICK_GELU_MLPS = frozenset({"CLIPMLP"})

# Up to this many rows ``W @ x.T`` beats ``x @ W.T`` (measured for Qwen2.5-1.5B's shapes at 1-64 rows; from 32
# rows on both read the weight at the same rate and the product is no longer memory-bound).
STREAM_MAX_ROWS = 16

# MLPs run in row blocks of about this many rows (1,024-2,047 rows a block; whole below 1,536). Chosen on
# CLIP-L's MLP when its quick-GELU was three passes over the hidden tensor (over 2,056 rows 1.6x faster in blocks
# of 1,024 than whole, the same from 512 to 1,024, slower from 256 down); the LM's batch-8 prefill is 0.99-1.27x
# faster in blocks (benchmarks/infer_latency.py times it both ways). Left whole: CLIP-L's MLP since its
# quick-GELU runs in the first product's epilogue (whole 1.02-1.10x faster at one clip, 0.96-1.11x at 8, over
# seven runs alternating in one process), HuBERT-L's (its erf GELU fused likewise: 1.00x) and Swin's narrow ones
# (128-1,024 wide, slower in blocks).
MLP_BLOCK_ROWS = 1024
# The MLP modules run in blocks, by class name (transformers' Qwen2 MLP: each row independent).
_BLOCKED_MLPS = frozenset({"Qwen2MLP"})


@functools.cache
def _has_onednn() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def _fast_path(x: torch.Tensor, weight: torch.Tensor) -> bool:
    return (x.device.type == "cpu" and weight.device.type == "cpu" and not torch.is_grad_enabled()
            and x.dtype == weight.dtype)


class OneDNNLinear(nn.Linear):
    """An ``nn.Linear`` (same parameters, same state dict) computed by oneDNN with the bias, and optionally an
    erf GELU, fused into the product: the same values (the GELU is applied before rounding to bf16, so it
    is, if anything, more precise). Anything oneDNN is not given here (another device, a gradient, a
    non-contiguous input, mixed dtypes) takes nn.Linear's own path."""

    gelu = False

    def _by_onednn(self, x: torch.Tensor) -> bool:
        return _fast_path(x, self.weight) and x.is_contiguous() and _has_onednn()

    def _bias_times(self, factor: float) -> torch.Tensor | None:
        return None if self.bias is None else self.bias * factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._by_onednn(x):
            return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, "gelu" if self.gelu else "none",
                                                      [], "none" if self.gelu else "")
        out = super().forward(x)
        return F.gelu(out) if self.gelu else out


class SwishLinear(OneDNNLinear):
    """The first Linear of a quick-GELU MLP with the activation folded in: ``swish(f * linear(x))``, which is
    ``f * quick_gelu(linear(x))`` for f = :data:`QUICK_GELU_FACTOR`, computed by oneDNN from ``f * x`` and
    ``f * bias`` with the swish applied to the product before it is rounded (one pass over the 4x-wide output
    instead of transformers' three fresh tensors). The MLP's second Linear is an :class:`InputScaledLinear`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._by_onednn(x):
            return torch.ops.mkldnn._linear_pointwise(x * QUICK_GELU_FACTOR, self.weight,
                                                      self._bias_times(QUICK_GELU_FACTOR), "swish", [], "")
        return F.silu(F.linear(x, self.weight, self.bias) * QUICK_GELU_FACTOR)


class InputScaledLinear(OneDNNLinear):
    """``linear(x / f)``: the second Linear of a quick-GELU MLP, whose input (a :class:`SwishLinear`'s output)
    is f times the activation. Computed as the product with ``f * bias``, divided by f in place: the division
    is a pass over the output, four times narrower than the input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._by_onednn(x):
            return torch.ops.mkldnn._linear_pointwise(x, self.weight, self._bias_times(QUICK_GELU_FACTOR), "none",
                                                      [], "").div_(QUICK_GELU_FACTOR)
        return F.linear(x / QUICK_GELU_FACTOR, self.weight, self.bias)


def fuse_linears(tower: nn.Module) -> int:
    """Turn the tower's Linears into :class:`OneDNNLinear` (an MLP's erf GELU moves into its first Linear and
    its place holds an identity; a CLIP MLP's quick-GELU is folded into :class:`SwishLinear` and
    :class:`InputScaledLinear`); returns how many Linears. No-op (0) where torch has no oneDNN."""
    if not _has_onednn():
        return 0
    for module in list(tower.modules()):
        if (any(cls.__name__ in _QUICK_GELU_MLPS for cls in type(module).__mro__) and type(module.fc1) is nn.Linear
                and type(module.fc2) is nn.Linear and type(module.activation_fn).__name__ == "QuickGELUActivation"):
            module.fc1.__class__, module.fc2.__class__ = SwishLinear, InputScaledLinear
            module.activation_fn = nn.Identity()
            continue
        for linear_name, act_name in _MLP_PAIRS:
            linear, act = getattr(module, linear_name, None), getattr(module, act_name, None)
            if type(linear) is nn.Linear and _is_erf_gelu(act):
                linear.__class__ = OneDNNLinear
                linear.gelu = True
                setattr(module, act_name, nn.Identity())
    fused = 0
    for module in tower.modules():
        if type(module) is nn.Linear:
            module.__class__ = OneDNNLinear
        fused += isinstance(module, OneDNNLinear)
    return fused


def _is_erf_gelu(module: object) -> bool:
    if isinstance(module, nn.GELU):
        return module.approximate == "none"
    return type(module).__name__ == "GELUActivation" and getattr(module, "act", None) is F.gelu


class StreamingLinear(OneDNNLinear):
    """An ``nn.Linear`` that computes up to :data:`STREAM_MAX_ROWS` rows as ``W @ x.T`` (one row:
    ``torch.mv``), the products a decoding step is made of; more rows (a prefill) are one oneDNN product with
    the bias fused, as :class:`OneDNNLinear` (a batch-8 prefill 1.05x and 1.19x faster than ``nn.Linear``'s
    path in two runs, the same logits; one prompt's 255 rows: 0.99-1.00x); gradients or another device take
    ``nn.Linear``'s path. Each output is the same dot product accumulated in float32, rounded once."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // self.in_features if self.in_features else 0
        if not (0 < rows <= STREAM_MAX_ROWS and _fast_path(x, self.weight)):
            return super().forward(x)
        out = streamed_product(x.reshape(rows, self.in_features), self.weight, self.bias)
        return out.view(*x.shape[:-1], self.out_features)


def streamed_product(flat: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``F.linear(flat, weight, bias)`` for a few rows as ``W @ x.T`` (one row: ``torch.mv``), contiguous."""
    return streamed_products(flat, weight, bias, [weight.shape[0]])[0]


def streamed_products(flat: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                      sizes: list[int]) -> list[torch.Tensor]:
    """:func:`streamed_product`'s output split into consecutive groups of ``sizes`` output features, each
    contiguous (rows, size). One row: slices of the ``torch.mv`` row, contiguous already. More: each group's
    columns of ``W @ x.T`` are contiguous rows of it, turned to rows by one copy each (:func:`as_rows`)."""
    if flat.shape[0] == 1:
        row = torch.mv(weight, flat[0]) if bias is None else torch.addmv(bias, weight, flat[0])
        return _split(row[None], sizes, -1)
    columns = torch.mm(weight, flat.t()) if bias is None else torch.addmm(bias[:, None], weight, flat.t())
    return [as_rows(part) for part in _split(columns, sizes, 0)]


def _split(product: torch.Tensor, sizes: list[int], dim: int) -> list[torch.Tensor]:
    # a lone Linear's product is its output: torch's split costs some 4.5 us a call, 57 calls a decoding step
    return [product] if len(sizes) == 1 else list(product.split(sizes, dim=dim))


def as_rows(columns: torch.Tensor) -> torch.Tensor:
    """A contiguous (n, rows) matrix as the contiguous (rows, n) one, its transpose. Copied as a permuted 3-D
    view: torch copies a 2-D transposed matrix (``.t().contiguous()``) through a blocked scalar loop, 2.5-4x
    slower at a decoding step's shapes (n from 1,536 to 151,936, 2-16 rows; 17,920 x 8: 73 against 184 us on
    this project's machine). The same values: a copy."""
    n, rows = columns.shape
    return columns.view(1, n, rows).permute(0, 2, 1).contiguous().view(rows, n)


def stream_linears(model: nn.Module) -> int:
    """Turn the plain ``nn.Linear`` modules of ``model`` (the LM, its head included) into
    :class:`StreamingLinear`; returns how many."""
    count = 0
    for module in model.modules():
        if type(module) is nn.Linear:
            module.__class__ = StreamingLinear
            count += 1
    return count


# Linears of one layer that read the same input, in the order the layer calls them (transformers'
# Qwen2Attention: q_proj, k_proj, v_proj; Qwen2MLP: gate_proj, up_proj); the first one computes the group.
PROJECTION_GROUPS = (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"))


class ProjectionGroup:
    """Linears of one input whose weights (and biases) are rows of one matrix, in order. The members'
    parameters are views of it (same names, values and state dict); a member whose parameter no longer is
    (replaced, moved by ``.to``) leaves the group to its own product."""

    def __init__(self, members: list[StreamingLinear]) -> None:
        self.members = members
        self._sizes = [m.out_features for m in members]
        self._offsets = [sum(self._sizes[:i]) for i in range(len(members))]
        self.weight = torch.cat([m.weight.detach() for m in members])
        self.bias = None if members[0].bias is None else torch.cat([m.bias.detach() for m in members])
        for index, (member, offset, size) in enumerate(zip(members, self._offsets, self._sizes, strict=True)):
            member.weight.data = self.weight.narrow(0, offset, size)
            if self.bias is not None:
                member.bias.data = self.bias.narrow(0, offset, size)
            member.__class__ = GroupedLinear
            member.group, member.index = self, index
        # (input, {member index: output}) of the last product, replaced whole so that a thread reading it never
        # mixes two inputs' outputs
        self._handed: tuple[torch.Tensor, dict[int, torch.Tensor]] | None = None

    def intact(self) -> bool:
        """Every member's weight and bias are still the group's rows (checked by address, cheap; a deep copy's
        parameters are clones: its groups are not intact and each member computes its own product)."""
        weight_row = self.weight.stride(0) * self.weight.element_size()
        for member, offset in zip(self.members, self._offsets, strict=True):
            if member.weight.data_ptr() != self.weight.data_ptr() + offset * weight_row:
                return False
            if self.bias is not None and member.bias.data_ptr() != (
                    self.bias.data_ptr() + offset * self.bias.element_size()):
                return False
        return True

    def compute(self, x: torch.Tensor, rows: int) -> list[torch.Tensor]:
        """All members' outputs for ``x`` from one product; the members after the first collect theirs with
        :meth:`handed`, when called with the same tensor."""
        parts = [part.view(*x.shape[:-1], part.shape[-1]) for part in streamed_products(
            x.reshape(rows, x.shape[-1]), self.weight, self.bias, self._sizes)]
        self._handed = (x, dict(enumerate(parts[1:], start=1)))
        return parts

    def handed(self, index: int, x: torch.Tensor) -> torch.Tensor | None:
        """Member ``index``'s output for ``x`` if the last product was for ``x`` and it is not taken yet."""
        handed = self._handed
        if handed is None or handed[0] is not x:
            return None
        part = handed[1].pop(index, None)
        if not handed[1] and self._handed is handed:
            self._handed = None
        return part


class GroupedLinear(StreamingLinear):
    """A :class:`StreamingLinear` in a :class:`ProjectionGroup`: for a decoding step's few rows the group's
    first member computes every member's output in one product and the others take theirs (same input
    tensor); anything else (more rows, gradients, another input, a member that left the group) is the
    member's own product."""

    group: ProjectionGroup
    index: int

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // self.in_features if self.in_features else 0
        if 0 < rows <= STREAM_MAX_ROWS and _fast_path(x, self.weight):
            handed = self.group.handed(self.index, x)
            if handed is not None:
                return handed
            if self.index == 0 and self.group.intact():
                return self.group.compute(x, rows)[0]
        return super().forward(x)


def group_projections(model: nn.Module) -> int:
    """Put the :data:`PROJECTION_GROUPS` of ``model``'s layers (all :class:`StreamingLinear` of one input
    width, dtype and device, all with or all without a bias) into :class:`ProjectionGroup` s; returns how
    many groups."""
    count = 0
    for module in model.modules():
        for names in PROJECTION_GROUPS:
            members = [getattr(module, name, None) for name in names]
            if not all(type(m) is StreamingLinear for m in members):
                continue
            first = members[0].weight
            if any(m.weight.shape[1] != first.shape[1] or m.weight.dtype != first.dtype
                   or m.weight.device != first.device or (m.bias is None) != (members[0].bias is None)
                   for m in members):
                continue
            ProjectionGroup(members)  # the members become GroupedLinear, their weights its views
            count += 1
    return count


class RowBlocks:
    """Mixed into an MLP's class by :func:`block_mlps`: without gradients, on CPU, an input of many rows
    goes through the MLP's own forward in blocks of :data:`MLP_BLOCK_ROWS` rows or so (equal blocks, none
    smaller), and the blocks are concatenated. Each row is computed by the same operations; on this project's
    machine the values were bit for bit those of the whole input (``tests/modeling/test_cpu_linears.py``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // x.shape[-1] if x.numel() else 0
        blocks = round(rows / MLP_BLOCK_ROWS)
        if blocks < 2 or torch.is_grad_enabled() or x.device.type != "cpu":
            return super().forward(x)  # type: ignore[misc]
        parts = x.reshape(rows, x.shape[-1]).split(math.ceil(rows / blocks))
        out = torch.cat([super(RowBlocks, self).forward(part) for part in parts])  # type: ignore[misc]
        return out.view(*x.shape[:-1], out.shape[-1])


@functools.cache
def row_blocked(cls: type) -> type:
    """``cls`` with :class:`RowBlocks` mixed in first (one class per MLP class)."""
    return type(f"RowBlocked{cls.__name__}", (RowBlocks, cls), {})


def block_mlps(model: nn.Module) -> int:
    """Make the Qwen2 MLPs in ``model`` run in row blocks (:func:`row_blocked`); returns how many."""
    count = 0
    for module in model.modules():
        if type(module).__name__ in _BLOCKED_MLPS:
            module.__class__ = row_blocked(type(module))
            count += 1
    return count
