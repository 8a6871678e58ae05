"""Inference against the machine's floor (a benchmark, not a test).

The full Nano-EmoX architecture (CLIP-L, HuBERT-L, FaceXFormer Swin-B, Qwen2.5-1.5B + adapters) with random
weights, prepared as ``load_for_inference`` prepares a loaded model (LoRA merged, the LM's Linears streaming
their weights when decoding, tower Linears fused), on 6-s synthetic clips. For batch 1 and batch B (default 8)
it prints every stage's time, FLOPs (``torch.utils.flop_counter``), floor and time / floor, then the end-to-end
time against the floor, and ends with one line::

    end-to-end / floor: X.XX (batch 1), Y.YY (batch 8)

Floors. A compute stage's floor is its FLOPs (attention's counted with torch's own formula for its GPU
kernels: FlopCounterMode has none for the CPU kernel and counted it as 0 until this was added) / the machine's
bf16 matmul rate; a decoding step's floor is the
LM's weight bytes / the machine's weight-streaming rate (every weight is read once per step, whatever the
batch). One answer's floor = encoders + adapters + prefill compute floors + decoding steps x the step floor;
media decoding and prompt building have no floor of their own and count in the end-to-end time.

Kernels alone. Each compute stage's matrix products, convolutions and attention calls (:data:`HEAVY_OPS`)
are recorded, then each distinct call is re-run by itself on fresh tensors of the same shapes and strides
(best of 3 passes over all of them, caches warm) and counted as often as the stage makes it: what torch's
kernels need at the stage's own shapes. ``time / kernels`` is what the stage adds around them (norms,
activations, copies, Python, and weights and activations that are not in the caches as they are in a
kernel's repeated run); ``kernels / floor`` is how far torch's kernels at these shapes are from the 4096^3
product the floor is measured with, which no orchestration can recover. A second table splits the kernels
alone by kind, matrix products (convolutions included) and attention, each with the rate it reaches. For each
batch size the kernels of every stage and of the decoding steps (timed in place, below) are also summed against
the end-to-end floor: ``heavy kernels alone / floor`` is the end-to-end ratio an answer would have if nothing but
torch's kernels took time, the part of the gap only faster kernels can close.

The machine's rates are sampled just before every timed run (:class:`Clock`), each sample the best of torch's
kernels for it: a 4096^3 bf16 matrix product (``torch.mm`` or ``F.linear``) and bf16 matrix-vector products
(``F.linear`` or ``torch.mv``) over 16 distinct 128 MiB matrices in turn, 2 GiB as a decoding step reads 3.09
GB (one matrix read again and again would partly come from the last-level cache: 480 MiB on this project's
machine). The floors use the median of the samples: the machine as it was while the stages ran (a shared
host's speed drifts within minutes: in one run the best streaming sample was 1.6x the median, a floor the
stages never saw). The best samples are printed too, with the end-to-end ratios against the floor at the best
rates (stricter: the hardware as it was at its fastest moment in the run), and a warning when a median rate is
under :data:`CONTENDED` of the best (another load shared the CPUs: the run is not comparable with a quiet one).

- batch 1: ``predict_clip`` end to end (media decode, prompt, encoders, generate), and ``model.generate`` on
  ready tensors against the sum of its stages (what generate adds);
- batch B: ``predict_samples`` over 2B clips in batches of B with the media read by a worker process into a
  fresh media cache (decoding overlaps generation); per clip = time / 2B against floor / 2B;
- the decoding step is also timed per operator in place (:class:`InPlaceTimes`: its products and attention as
  the step makes them, the weights coming from memory, and how many operator calls a step makes), and with
  the LM's Linears put back to ``nn.Linear``, CLIP-L with transformers'
  quick-GELU, CLIP-L with its MLPs in row blocks (as before its activation moved into the first product), a
  prefill of 1,536 rows or more with its MLPs run whole instead of in row blocks,
  HuBERT-L with its feature extractor writing every output to a fresh tensor instead of passes of a few
  segments through reused buffers, the prefill and decoding steps with each q/k/v and gate/up projection
  its own product, and with the KV cache appended by ``torch.cat`` (transformers' ``DynamicCache``) instead of
  written in place (``emox_core.modeling.kv_cache``, what ``generate`` decodes into), and (batch B) with each
  decoding product's columns turned to rows by torch's 2-D transposed copy instead of ``cpu_linears.as_rows``,
  each alternating with the prepared model, so what each of these gains is a ratio of one run (for these
  pairs: the median of each pair's ratio).

    python benchmarks/infer_latency.py [--tokens 32] [--batch 8] [--repeat 3] [--threads N] [--cpu-wait spin]

torch's threads wait as the ``emox`` command's do (``--cpu-wait``; by default passive unless OMP_WAIT_POLICY or
GOMP_SPINCOUNT is set): the script runs itself again with those variables if they differ, as torch reads them
once, when it loads. Passive is what an ``emox infer`` user gets by default; spin is faster on a machine that
runs nothing else (``emox_core.cpu_wait``).

Prompts use the offline tiny tokenizer (the real Qwen tokenizer needs the hub); its ids fit Qwen's
vocabulary and the prompt lengths are the real ones.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from emox_core.cpu_wait import CPU_WAITS, cpu_wait_environment, describe_cpu_wait
from emox_core.inference import GenerationSettings, clip_sample, extract_media, predict_clip, predict_samples
from emox_core.media.synthesize import synthetic_clip
from emox_core.modeling import cpu_linears, encoders
from emox_core.modeling.cpu_linears import (
    MLP_BLOCK_ROWS,
    GroupedLinear,
    OneDNNLinear,
    RowBlocks,
    StreamingLinear,
    SwishLinear,
    row_blocked,
)
from emox_core.modeling.kv_cache import InPlaceLayer, in_place_cache
from emox_core.samples import sample_to_example

MEDIA_KEYS = ("pixel_values", "input_values", "pixel_values_videos")
SUBTITLE = "I can't believe you did that."


# ---------------------------------------------------------------------------------------------- machine
# Median rates under this fraction of the best sampled: the host was shared while the stages ran, and the run
# says so. A judgement, not a measured boundary: in the contended run that added it, the median matmul rate was
# 0.43 of the best (0.77 against 1.81 TFLOP/s; a 4096^3 product alone took as long on two threads as on one).
CONTENDED = 0.8


@dataclass
class Machine:
    matmul_flops: float  # FLOP/s of a large bf16 matrix product
    stream_bytes: float  # bytes/s of bf16 matrix-vector products over weights far larger than the caches


def _seconds(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class Clock:
    """Times functions, sampling the machine's rates before each run (see the module docstring)."""

    def __init__(self, repeat: int) -> None:
        self.repeat = repeat
        a, b = torch.randn(4096, 4096, dtype=torch.bfloat16), torch.randn(4096, 4096, dtype=torch.bfloat16)
        weights = [torch.randn(16384, 4096, dtype=torch.bfloat16) for _ in range(16)]
        vector = torch.randn(1, 4096, dtype=torch.bfloat16)
        self._products = (lambda: torch.mm(a, b), lambda: torch.nn.functional.linear(a, b))
        self._streams = (lambda: [torch.nn.functional.linear(vector, w) for w in weights],
                         lambda: [torch.mv(w, vector[0]) for w in weights])
        self._product_flops = 2 * 4096**3
        self._stream_bytes = sum(w.numel() * w.element_size() for w in weights)
        self.probe_bytes = self._stream_bytes + 2 * a.numel() * a.element_size()
        self.samples: list[Machine] = []
        for kernel in (*self._products, *self._streams):
            kernel()

    def sample(self) -> None:
        self.samples.append(Machine(self._product_flops / min(_seconds(k) for k in self._products),
                                    self._stream_bytes / min(_seconds(k) for k in self._streams)))

    def median(self, fn: Callable[[], Any]) -> float:
        """Median seconds of ``repeat`` runs of ``fn``, the machine sampled before each."""
        times = []
        for _ in range(self.repeat):
            self.sample()
            times.append(_seconds(fn))
        return statistics.median(times)

    def machine(self, pick: Callable[[list[float]], float] = statistics.median) -> Machine:
        return Machine(pick([s.matmul_flops for s in self.samples]), pick([s.stream_bytes for s in self.samples]))


def _linear_pointwise_flops(input_shape: Any, weight_shape: Any, *_: Any, **__: Any) -> int:
    """oneDNN's fused Linear (the towers after ``prepare_for_inference``): the product's 2 x rows x out x in
    (FlopCounterMode has no formula for it and would count it as 0)."""
    return 2 * math.prod(input_shape[:-1]) * weight_shape[0] * weight_shape[1]


def _cpu_attention_flops(query_shape: Any, key_shape: Any, value_shape: Any, *_: Any, **__: Any) -> int:
    """SDPA's CPU kernel: torch's own count for its GPU flash and efficient kernels (scores and weighted sum;
    a causal mask is not discounted). FlopCounterMode has no formula for the CPU op and would count it as 0."""
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _flop_formulas() -> dict[Any, Callable[..., int]]:
    mapping: dict[Any, Callable[..., int]] = {
        torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops}
    if hasattr(torch.ops.mkldnn, "_linear_pointwise"):
        mapping[torch.ops.mkldnn._linear_pointwise] = _linear_pointwise_flops
    return mapping


def flops(fn: Callable[[], Any]) -> int:
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=_flop_formulas()) as counter:
        fn()
    return counter.get_total_flops()


# The ops that do a stage's arithmetic, by kind: matrix products (oneDNN's fused Linear included) and
# convolutions, and attention. Whatever else a stage runs (norms, activations, copies, Python) is what it adds
# around them.
KERNEL_KINDS = {"products": frozenset({"mm", "addmm", "bmm", "baddbmm", "mv", "addmv", "convolution",
                                       "_linear_pointwise"}),
                "attention": frozenset({"_scaled_dot_product_flash_attention_for_cpu"})}
HEAVY_OPS = frozenset().union(*KERNEL_KINDS.values())


def _spec(value: Any) -> Any:
    """A hashable description of an op argument: a tensor by its shape, strides and dtype."""
    if isinstance(value, torch.Tensor):
        return ("tensor", tuple(value.shape), tuple(value.stride()), value.dtype)
    if isinstance(value, (list, tuple)):
        return tuple(_spec(v) for v in value)
    return value


def _build(spec: Any) -> Any:
    if isinstance(spec, tuple) and spec[:1] == ("tensor",):
        _, shape, stride, dtype = spec  # the same strides, expanded (stride-0) dimensions included
        size = 0 if 0 in shape else 1 + sum((n - 1) * step for n, step in zip(shape, stride, strict=True))
        storage = torch.empty(size, dtype=dtype)
        storage = storage.normal_() if storage.is_floating_point() else storage.zero_()
        return storage.as_strided(shape, stride)
    if isinstance(spec, tuple):
        return [_build(v) for v in spec]
    return spec


class HeavyOps(TorchDispatchMode):
    """Counts the :data:`HEAVY_OPS` calls a function makes, by op and argument shapes."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[tuple[Any, Any, Any]] = Counter()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func.overloadpacket.__name__ in HEAVY_OPS:
            self.calls[func, _spec(args), tuple(sorted((k, _spec(v)) for k, v in kwargs.items()))] += 1
        return func(*args, **kwargs)


class InPlaceTimes(TorchDispatchMode):
    """Wall time of the :data:`HEAVY_OPS` calls as a function makes them (not re-run: a decoding step's weights
    come from memory, as they do), and how many operator calls it makes in all."""

    def __init__(self) -> None:
        super().__init__()
        self.heavy_seconds = 0.0
        self.calls = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.calls += 1
        if func.overloadpacket.__name__ not in HEAVY_OPS:
            return func(*args, **(kwargs or {}))
        start = time.perf_counter()
        out = func(*args, **(kwargs or {}))
        self.heavy_seconds += time.perf_counter() - start
        return out


@dataclass
class Kernels:
    """A kind of heavy op run alone: seconds and FLOPs, as often as the stage makes each call."""

    seconds: float = 0.0
    flops: float = 0.0


def kernel_seconds(fn: Callable[[], Any], rounds: int = 3) -> dict[str, Kernels]:
    """``fn``'s heavy ops run alone, by kind (:data:`KERNEL_KINDS`): each distinct call re-run on fresh tensors
    of the same shapes (caches warm), times how often ``fn`` makes it. What torch's kernels need at these
    shapes. Each call's time is its best over ``rounds`` passes through all of them, so a slow moment of the
    host hits one pass, not every sample of one call."""
    with torch.no_grad():
        with HeavyOps() as recorder:
            fn()
        calls = []
        for (func, args, kwargs), count in recorder.calls.items():
            built_args, built_kwargs = _build(args), {k: _build(v) for k, v in kwargs}
            call = functools.partial(func, *built_args, **built_kwargs)
            call()
            kind = next(k for k, names in KERNEL_KINDS.items() if func.overloadpacket.__name__ in names)
            calls.append((call, count, kind, flops(call)))
        best = [_seconds(call) for call, *_ in calls]
        for _round in range(rounds - 1):
            best = [min(seconds, _seconds(call)) for seconds, (call, *_) in zip(best, calls, strict=True)]
    kinds = {kind: Kernels() for kind in KERNEL_KINDS}
    for seconds, (_, count, kind, call_flops) in zip(best, calls, strict=True):
        kinds[kind].seconds += seconds * count
        kinds[kind].flops += call_flops * count
    return kinds


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux: KiB


# ---------------------------------------------------------------------------------------------- model
def build_2b() -> tuple[Any, Any]:
    """The 2.2B architecture with random weights in bf16 (adapters float32), prepared as load_for_inference does."""
    from emox_core.modeling.backbones import prepare_tokenizer
    from emox_core.modeling.modeling_nano_emox import NanoEmoXForConditionalGeneration
    from emox_core.modeling.presets import nano_emox_2b_config
    from emox_core.modeling.tokenizer import build_tiny_tokenizer
    from emox_core.processing import NanoEmoXProcessor, ProcessorSettings

    config = nano_emox_2b_config()
    tokenizer = build_tiny_tokenizer()
    prepare_tokenizer(tokenizer, config)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        model = NanoEmoXForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(previous)
    model.keep_adapters_float32()
    return model.prepare_for_inference(), NanoEmoXProcessor(tokenizer, ProcessorSettings.from_config(config))


def lm_weight_bytes(model: Any) -> int:
    """Bytes a decoding step reads: every LM weight once (a tied embedding counted once, as the head)."""
    return sum(p.numel() * p.element_size() for p in model.language_model.parameters())


@contextmanager
def _classes_swapped(modules: list[tuple[Any, type]]) -> Iterator[None]:
    """Each module given as an instance of the class paired with it, then back to its own."""
    own = [(module, type(module)) for module, _ in modules]
    for module, cls in modules:
        module.__class__ = cls
    try:
        yield
    finally:
        for module, cls in own:
            module.__class__ = cls


def plain_linears(model: Any) -> Any:
    """The LM's Linears as ``nn.Linear`` (what the model decoded with before ``cpu_linears``), then back."""
    return _classes_swapped([(m, torch.nn.Linear) for m in model.language_model.modules()
                             if isinstance(m, StreamingLinear)])


def separate_projections(model: Any) -> Any:
    """Each of the LM's grouped projections its own product (before ``cpu_linears.group_projections``)."""
    return _classes_swapped([(m, StreamingLinear) for m in model.language_model.modules()
                             if isinstance(m, GroupedLinear)])


@contextmanager
def plain_quick_gelu(model: Any) -> Iterator[None]:
    """CLIP's MLPs with transformers' ``QuickGELUActivation`` between two bias-fused Linears (before
    ``cpu_linears`` folded it into a swish), then back."""
    from transformers.activations import QuickGELUActivation

    folded = [m for m in model.vision_tower.modules() if isinstance(getattr(m, "fc1", None), SwishLinear)]
    with _classes_swapped([(linear, OneDNNLinear) for m in folded for linear in (m.fc1, m.fc2)]):
        for mlp in folded:
            mlp.activation_fn = QuickGELUActivation()
        try:
            yield
        finally:
            for mlp in folded:
                mlp.activation_fn = torch.nn.Identity()


@contextmanager
def concatenated_cache() -> Iterator[None]:
    """The in-place KV cache's layers appending with transformers' ``torch.cat`` (``DynamicLayer.update``, what
    decoding did before ``kv_cache``), then back."""
    from transformers.cache_utils import DynamicLayer

    own = InPlaceLayer.__dict__["update"]
    InPlaceLayer.update = DynamicLayer.update  # type: ignore[method-assign]
    try:
        yield
    finally:
        InPlaceLayer.update = own  # type: ignore[method-assign]


@contextmanager
def transposed_copies() -> Iterator[None]:
    """A decoding step's products turned from columns to rows by torch's 2-D transposed copy
    (``.t().contiguous()``, before ``cpu_linears.as_rows``), then back."""
    own = cpu_linears.as_rows
    cpu_linears.as_rows = lambda columns: columns.t().contiguous()
    try:
        yield
    finally:
        cpu_linears.as_rows = own


def blocked_clip_mlps(model: Any) -> Any:
    """CLIP-L's MLPs in row blocks (``cpu_linears.RowBlocks``, as before its quick-GELU moved into the first
    product), then back."""
    mlps = [m for m in model.vision_tower.modules() if type(m).__name__ == "CLIPMLP"]
    return _classes_swapped([(m, row_blocked(type(m))) for m in mlps])


def whole_mlps(model: Any) -> Any:
    """The MLPs run on the whole input (their own class, before ``cpu_linears.block_mlps``), then back."""
    return _classes_swapped([(m, type(m).__bases__[1]) for m in model.modules() if isinstance(m, RowBlocks)])


def _fresh_conv_features(extractor: Any, input_values: torch.Tensor) -> torch.Tensor:
    """HuBERT's feature extractor time-major over all segments at once, every output a fresh tensor."""
    hidden = input_values[:, :, None]
    for layer in extractor.conv_layers:
        conv, (n, t, c) = layer.conv, hidden.shape
        k, s = conv.kernel_size[0], conv.stride[0]
        windows = hidden.contiguous().as_strided((n, (t - k) // s + 1, k * c), (t * c, s * c, 1))
        kernel = conv.weight.permute(0, 2, 1).reshape(conv.out_channels, k * c)
        hidden = layer.activation(layer.layer_norm(F.linear(windows, kernel, conv.bias)))
    return hidden


@contextmanager
def fresh_feature_extractor() -> Iterator[None]:
    """HuBERT's feature extractor without the passes through reused buffers (before ``encoders``' passes)."""
    own = encoders.conv_features
    encoders.conv_features = _fresh_conv_features
    try:
        yield
    finally:
        encoders.conv_features = own


def alternating(repeat: int, fn: Callable[[], Any], before: Callable[[], Any]) -> tuple[float, float, float]:
    """``fn`` as prepared and inside ``before()`` (the earlier way), run in turn ``repeat`` times each: the
    median seconds of each and the median of the pairs' ratios (earlier / prepared; free of the host's drift
    between pairs)."""
    ours, theirs = [], []
    for _ in range(repeat):
        ours.append(_seconds(fn))
        with before():
            theirs.append(_seconds(fn))
    ratio = statistics.median(t / o for t, o in zip(theirs, ours, strict=True))
    return statistics.median(ours), statistics.median(theirs), ratio


class CallCounter:
    """Counts the LM's forward calls: one prefill per generate call, then one per decoding step."""

    def __init__(self, model: Any) -> None:
        self.calls = 0
        self.handle = model.language_model.register_forward_pre_hook(self._count)

    def _count(self, *_: Any) -> None:
        self.calls += 1


# ---------------------------------------------------------------------------------------------- stages
@dataclass
class Row:
    name: str
    seconds: float
    flops: float | None = None
    kinds: dict[str, Kernels] | None = None  # its heavy ops run alone, by kind (kernel_seconds)

    @property
    def kernels(self) -> float | None:
        """Seconds of all its heavy ops run alone."""
        return None if self.kinds is None else sum(kind.seconds for kind in self.kinds.values())


@dataclass
class Section:
    """One batch size's measurements, per clip; floors are taken at the end from the run's machine rates."""

    title: str
    size: int
    rows: list[Row]
    step: float  # seconds per decoding step (the whole batch)
    plain_step: float  # the same with nn.Linear
    step_heavy: float  # seconds per step in its products and attention, timed in place (InPlaceTimes)
    step_calls: float  # operator calls per step
    pairs: list[tuple[str, float, float, float]]  # (what, prepared s, the earlier way s, ratio), whole batch
    lm_bytes: int
    lines: list[str] = field(default_factory=list)

    def compute_floor(self, machine: Machine) -> float:
        """Seconds of the batch's compute stages at the matmul rate (the whole batch)."""
        return sum(row.flops or 0.0 for row in self.rows) * self.size / machine.matmul_flops

    def step_floor(self, machine: Machine) -> float:
        return self.lm_bytes / machine.stream_bytes

    def kernel_seconds(self, batches: int, steps: int) -> float:
        """Seconds of the heavy kernels alone for ``batches`` batches and ``steps`` decoding steps: each compute
        stage's run alone, a step's products and attention timed in place. What torch's kernels take before
        anything else runs: the part of the gap to the floor that only faster kernels can close."""
        return sum(row.kernels or 0.0 for row in self.rows) * self.size * batches + steps * self.step_heavy


def stage_rows(model: Any, processor: Any, clips: list[Path], clock: Clock, tokens: int, title: str) -> Section:
    """Every stage of answering ``clips`` in one batch, each run alone; per clip."""
    size = len(clips)
    samples = [clip_sample(clip, "MER", subtitle=SUBTITLE) for clip in clips]
    media = [extract_media(clip, processor) for clip in clips]
    examples = [sample_to_example(s, processor, m, with_target=False) for s, m in zip(samples, media, strict=True)]
    batch = processor(examples, padding_side="left")
    lm = model.language_model
    rows = [Row("media decode (8 frames, faces, 16 kHz audio)",
                clock.median(lambda: [extract_media(c, processor) for c in clips])),
            Row("processor (prompt, tensors)", clock.median(lambda: processor(examples, padding_side="left")))]
    towers = {"CLIP-L (8 frames)": {"pixel_values": batch["pixel_values"]},
              "HuBERT-L (8 x 2 s)": {"input_values": batch["input_values"]},
              "Swin-B face (8 frames)": {"pixel_values_videos": batch["pixel_values_videos"]}}
    for name, inputs in towers.items():
        run = lambda inputs=inputs: model.encode_media(**inputs)  # noqa: E731
        run()
        rows.append(Row(name, clock.median(run), flops(run), kernel_seconds(run)))
    clip = lambda: model.encode_media(pixel_values=batch["pixel_values"])  # noqa: E731
    pairs = [(what, *alternating(clock.repeat, clip, before)) for what, before in (
        ("CLIP-L with transformers' quick-GELU", lambda: plain_quick_gelu(model)),
        ("CLIP-L with its MLPs in row blocks", lambda: blocked_clip_mlps(model)))]
    hubert = lambda: model.encode_media(input_values=batch["input_values"])  # noqa: E731
    pairs.append(("HuBERT-L with its feature extractor's outputs in fresh tensors, all segments at once",
                  *alternating(clock.repeat, hubert, fresh_feature_extractor)))
    features = model.encode_media(*(batch[k] for k in MEDIA_KEYS)).as_kwargs()
    text = {k: batch[k] for k in ("input_ids", "attention_mask", "modality_mask")}
    splice = lambda: model.embed_inputs(**text, **features)  # noqa: E731
    with torch.no_grad():
        rows.append(Row("adapters + splice", clock.median(splice), flops(splice), kernel_seconds(splice)))
        embeds, mask = splice()
        positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
        prefill = lambda: lm(inputs_embeds=embeds, attention_mask=mask, position_ids=positions,  # noqa: E731
                             cache=in_place_cache(lm.config, tokens), use_cache=True, logits_to_keep=1)
        prompt = int(batch["input_ids"].shape[1])
        rows.append(Row(f"LM prefill ({prompt} tokens, first token)", clock.median(prefill), flops(prefill),
                        kernel_seconds(prefill)))
        if size * prompt >= 1.5 * MLP_BLOCK_ROWS:  # fewer rows are not blocked
            pairs.append(("LM prefill with its MLPs run whole",
                          *alternating(clock.repeat, prefill, lambda: whole_mlps(model))))
        pairs.append((f"LM prefill + {tokens - 1} decoding steps with each q/k/v and gate/up projection its own "
                      "product", *alternating(clock.repeat, lambda: decode_steps(lm, prefill(), mask, tokens),
                                              lambda: separate_projections(model))))
        pairs.append((f"LM prefill + {tokens - 1} decoding steps with the KV cache appended by torch.cat "
                      "(transformers' DynamicCache)", *alternating(
                          clock.repeat, lambda: decode_steps(lm, prefill(), mask, tokens), concatenated_cache)))
        if size > 1:  # one answer's products are matrix-vector products: no columns
            pairs.append((f"LM prefill + {tokens - 1} decoding steps with each product's columns turned to rows by "
                          "torch's 2-D transposed copy", *alternating(
                              clock.repeat, lambda: decode_steps(lm, prefill(), mask, tokens), transposed_copies)))
        steps, plain_steps = [], []
        for _ in range(clock.repeat):  # prepared and nn.Linear alternate: their ratio is free of the host's drift
            clock.sample()
            steps.append(decode_steps(lm, prefill(), mask, tokens))
            with plain_linears(model):
                plain_steps.append(decode_steps(lm, prefill(), mask, tokens))
        prefilled = prefill()
        with InPlaceTimes() as in_place:
            decode_steps(lm, prefilled, mask, tokens)
    for row in rows:
        row.seconds /= size
        if row.flops is not None:
            row.flops /= size
        for kind in (row.kinds or {}).values():
            kind.seconds /= size
            kind.flops /= size
    return Section(title, size, rows, statistics.median(steps), statistics.median(plain_steps),
                   in_place.heavy_seconds / (tokens - 1), in_place.calls / (tokens - 1), pairs, lm_weight_bytes(model))


def decode_steps(lm: Any, prefilled: Any, mask: torch.Tensor, tokens: int) -> float:
    """Seconds per greedy decoding step after ``prefilled`` (the time of ``tokens - 1`` steps, averaged)."""
    cache, token = prefilled.cache, prefilled.logits[:, -1:].argmax(-1)
    ones = mask.new_ones(mask.shape[0], 1)
    start = time.perf_counter()
    for _ in range(tokens - 1):
        mask = torch.cat([mask, ones], dim=1)
        result = lm(input_ids=token, attention_mask=mask, cache=cache, use_cache=True)
        cache, token = result.cache, result.logits[:, -1:].argmax(-1)
    return (time.perf_counter() - start) / (tokens - 1)


def print_section(section: Section, machine: Machine, tokens: int) -> None:
    per = "per clip, " if section.size > 1 else ""
    print(f"\n### {section.title}\n\n| stage ({per}run alone) | time | GFLOP | floor | time / floor | kernels alone | "
          "time / kernels | kernels / floor |\n|---|---|---|---|---|---|---|---|")
    for row in section.rows:
        if row.flops is None or row.kernels is None:
            print(f"| {row.name} | {row.seconds:.3f} s | - | - | - | - | - | - |")
        else:
            floor = row.flops / machine.matmul_flops
            print(f"| {row.name} | {row.seconds:.3f} s | {row.flops / 1e9:.0f} | {floor:.3f} s | "
                  f"{row.seconds / floor:.2f} | {row.kernels:.3f} s | {row.seconds / row.kernels:.2f} | "
                  f"{row.kernels / floor:.2f} |")
    step, floor = section.step, section.step_floor(machine)
    print(f"| LM decoding step, batch {section.size} ({tokens - 1} steps) | {step * 1000:.0f} ms "
          f"({step / section.size * 1000:.0f} ms per clip) | - | {floor * 1000:.0f} ms | {step / floor:.2f} "
          "| - | - | - |")
    kinds = [(row.name, row.kinds) for row in section.rows if row.kinds]
    print(f"\n| heavy kernels run alone ({per}by kind) | " + " | ".join(
        f"{kind} | {kind} TFLOP/s" for kind in KERNEL_KINDS) + " |\n|---|" + "---|---|" * len(KERNEL_KINDS))
    for name, row_kinds in kinds:
        cells = [f"{k.seconds:.3f} s | {k.flops / k.seconds / 1e12:.2f}" if k.seconds else "- | -"
                 for k in row_kinds.values()]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"(the floor's 4096^3 product: {machine.matmul_flops / 1e12:.2f} TFLOP/s)")
    print(f"\nDecoding step with the LM's Linears as nn.Linear, alternating with the prepared ones: "
          f"{section.plain_step * 1000:.0f} ms vs {step * 1000:.0f} ms ({section.plain_step / step:.2f}x faster "
          f"prepared; {section.plain_step / floor:.2f} of the floor before)")
    print(f"Decoding step timed per operator in place: its products and attention {section.step_heavy * 1000:.0f} ms "
          f"({section.lm_bytes / section.step_heavy / 1e9:.1f} GB/s of weights, {section.step_heavy / floor:.2f} of "
          f"the floor), {section.step_calls:.0f} operator calls a step; the step untimed: {step * 1000:.0f} ms")
    for what, ours, theirs, ratio in section.pairs:
        print(f"{what}, alternating with the prepared model: {theirs:.2f} s vs {ours:.2f} s (whole batch; "
              f"{ratio:.2f}x faster prepared, median of the pairs)")
    for line in section.lines:
        print(line)


# ---------------------------------------------------------------------------------------------- parts
def kernels_bound(kernels: float, floor: float, total: float) -> float | None:
    """The heavy kernels alone / the floor, or None when they took longer than the whole they are part of (the
    host was slower while they re-ran than during the end-to-end runs: no bound)."""
    return None if kernels > total else kernels / floor


def kernels_line(kernels: float, floor: float, total: float, what: str) -> str:
    """The heavy kernels' seconds, against the floor and against the ``total`` they are part of."""
    rest = ("more than the whole: the host was slower while they re-ran"
            if kernels_bound(kernels, floor, total) is None else f"the rest {total - kernels:.2f} s")
    return f"the heavy kernels alone ({what}): {kernels:.2f} s, {kernels / floor:.2f} of the floor; {rest}"


def batch_one(model: Any, processor: Any, clip: Path, clock: Clock, tokens: int) -> tuple[Section, Callable]:
    """Batch 1: the stages, ``model.generate`` on ready tensors and ``predict_clip`` end to end. Returns the
    section and a function of the machine giving the end-to-end / floor ratio and the lines that report it."""
    section = stage_rows(model, processor, [clip], clock, tokens, "Batch 1: one 6-s clip, MER")
    settings = GenerationSettings(max_new_tokens=tokens)
    batch = processor([sample_to_example(clip_sample(clip, "MER", subtitle=SUBTITLE), processor,
                                         extract_media(clip, processor), with_target=False)], padding_side="left")
    kwargs = settings.generate_kwargs("MER", processor)
    counter = CallCounter(model)
    generate = clock.median(lambda: model.generate(**batch, **kwargs))
    steps = counter.calls // clock.repeat - 1
    counter.handle.remove()
    end_to_end = clock.median(lambda: predict_clip(model, processor, clip, "MER", subtitle=SUBTITLE,
                                                   settings=settings))

    def ratio(machine: Machine) -> tuple[float, float | None, list[str]]:
        model_stages = sum(r.seconds for r in section.rows[2:]) + steps * section.step
        compute = section.compute_floor(machine)
        floor = compute + steps * section.step_floor(machine)
        kernels = section.kernel_seconds(1, steps)
        return end_to_end / floor, kernels_bound(kernels, floor, end_to_end), [
            f"\n{steps + 1} new tokens. model.generate on ready tensors {generate:.2f} s vs the sum of its stages "
            f"{model_stages:.2f} s ({generate / model_stages:.2f}x)",
            f"predict_clip end to end {end_to_end:.2f} s; floor {floor:.2f} s (compute {compute:.2f} s + "
            f"{steps} steps x {section.step_floor(machine) * 1000:.0f} ms); "
            f"**end to end / floor {end_to_end / floor:.2f}**",
            kernels_line(kernels, floor, end_to_end, f"the stages' and {steps} steps'")]

    return section, ratio


def batch_many(model: Any, processor: Any, clips: list[Path], clock: Clock, tokens: int, folder: Path
               ) -> tuple[Section, Callable]:
    size = len(clips) // 2
    section = stage_rows(model, processor, clips[:size], clock, tokens,
                         f"Batch {size}: {size} 6-s clips per generate call, MER")
    samples = [clip_sample(clip, "MER", root=folder, subtitle=SUBTITLE) for clip in clips]
    settings = GenerationSettings(max_new_tokens=tokens)
    counter = CallCounter(model)
    runs = iter(range(clock.repeat))

    def predict() -> None:
        run = next(runs)
        predict_samples(model, samples, folder, folder / f"preds-{run}.jsonl", size, processor=processor,
                        settings=settings, cache_dir=folder / f"media-cache-{run}", media_workers=1)

    per_clip = clock.median(predict) / len(clips)
    counter.handle.remove()
    steps = counter.calls // clock.repeat - 2  # two generate calls per run

    def ratio(machine: Machine) -> tuple[float, float | None, list[str]]:
        compute = section.compute_floor(machine)
        floor = (2 * compute + steps * section.step_floor(machine)) / len(clips)
        kernels = section.kernel_seconds(2, steps) / len(clips)
        return per_clip / floor, kernels_bound(kernels, floor, per_clip), [
            f"\npredict_samples over {len(clips)} clips in batches of {size} (media read by a worker into a fresh "
            f"cache): {per_clip:.2f} s per clip; floor {floor:.2f} s per clip (compute {compute / size:.2f} s + "
            f"{steps} steps x {section.step_floor(machine) * 1000:.0f} ms / {len(clips)}); "
            f"**end to end / floor {per_clip / floor:.2f}**",
            kernels_line(kernels, floor, per_clip, f"the stages' and {steps} steps', per clip")]

    return section, ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=32, help="New tokens per answer (at most).")
    parser.add_argument("--batch", type=int, default=8, help="Clips per generate call in the batched part.")
    parser.add_argument("--repeat", type=int, default=3, help="Runs per measurement (median).")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default).")
    parser.add_argument("--cpu-wait", choices=CPU_WAITS, default=None,
                        help="How torch's threads wait, as emox's --cpu-wait (default: the CLI's default).")
    args = parser.parse_args()
    wanted = cpu_wait_environment(args.cpu_wait, os.environ)
    if wanted != os.environ:  # torch read the variables when it loaded: run again with the CLI's
        os.execve(sys.executable, [sys.executable, *sys.argv], wanted)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads (waiting: {describe_cpu_wait()}), "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start", flush=True)
    clock = Clock(args.repeat)
    with tempfile.TemporaryDirectory(prefix="emox-bench-") as tmp:
        folder = Path(tmp)
        clips = [synthetic_clip(folder / f"clip{i}.mp4", duration=6.0, size=(360, 640), pitch_hz=150.0 + 20 * i,
                                color=(40 + 25 * i % 200, 90, 160), seed=i) for i in range(2 * args.batch)]
        start = time.perf_counter()
        model, processor = build_2b()
        params = sum(p.numel() for p in model.parameters())
        print(f"model: {params / 1e9:.3f} B parameters (random, bf16, prepared for inference), built in "
              f"{time.perf_counter() - start:.0f} s; LM weights read per decoding step "
              f"{lm_weight_bytes(model) / 1e9:.2f} GB", flush=True)
        predict_clip(model, processor, clips[0], "MER", settings=GenerationSettings(max_new_tokens=2))  # warm-up
        parts = [batch_one(model, processor, clips[0], clock, args.tokens),
                 batch_many(model, processor, clips, clock, args.tokens, folder)]
    machine, best = clock.machine(), clock.machine(max)
    print(f"\nmachine while the stages ran ({len(clock.samples)} samples; median, best): bf16 matmul (4096^3) "
          f"{machine.matmul_flops / 1e12:.2f}, {best.matmul_flops / 1e12:.2f} TFLOP/s; bf16 weight streaming "
          f"(16 x 128 MiB) {machine.stream_bytes / 1e9:.1f}, {best.stream_bytes / 1e9:.1f} GB/s")
    ratios, bounds = [], []
    for section, ratio in parts:
        value, bound, lines = ratio(machine)
        ratios.append(value)
        bounds.append(bound)
        section.lines += lines
        print_section(section, machine, args.tokens)
    probe = clock.probe_bytes / 1e9
    print(f"\npeak RSS {peak_rss_gb():.2f} GB ({probe:.2f} GB of it the machine probe's matrices, "
          f"{peak_rss_gb() - probe:.2f} GB without); load average {os.getloadavg()[0]:.2f} at the end")
    strict = [ratio(best)[0] for _, ratio in parts]
    print(f"end-to-end / floor at the best rates sampled: {strict[0]:.2f} (batch 1), {strict[1]:.2f} "
          f"(batch {args.batch})")
    shown = ["-" if bound is None else f"{bound:.2f}" for bound in bounds]
    print(f"heavy kernels alone / floor: {shown[0]} (batch 1), {shown[1]} (batch {args.batch}): the end-to-end ratio "
          "if nothing but torch's kernels took time ('-': their re-runs met a slower host than the answers did)")
    if min(machine.matmul_flops / best.matmul_flops, machine.stream_bytes / best.stream_bytes) < CONTENDED:
        print(f"warning: the machine's median rates were under {CONTENDED:.0%} of its best while the stages ran "
              "(something else shared the CPUs): the ratios are not comparable with a quiet run's")
    print(f"end-to-end / floor: {ratios[0]:.2f} (batch 1), {ratios[1]:.2f} (batch {args.batch})")


if __name__ == "__main__":
    main()
