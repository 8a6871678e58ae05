"""Running the frozen encoders for exactly the hidden states the branches read, and no more.

``output_hidden_states=True`` runs every layer and keeps every layer's states; the branches read a few
(CLIP: layer 23 of 24 and the fusion layers 12/16/22; HuBERT: its last four and 16/18/22). These functions
run each tower's own modules, layer by layer, up to the deepest layer needed and keep only the requested
states, numbered as ``hidden_states`` numbers them (0 = the input of the first layer). The results equal
``output_hidden_states=True`` (``tests/modeling/test_encoders.py`` checks both on the real architectures).

HuBERT's convolutional feature extractor is run time-major: each strided convolution as one matrix product
over windows of the (N, T, C) signal, LayerNorm over channels in place. transformers' channel-first version
transposes the largest tensors of the whole model (8 x 512 x 6,400 per clip) twice per layer, which cost
about as much as HuBERT's 24 transformer layers on a CPU. It runs a few segments at a time through three
buffers it reuses: each layer's output written into fresh memory cost a page fault per 4 KB (the first layer
alone writes 6.5 MB a segment) and left the cache cold for the next layer. Any tower these functions do not
recognise (another architecture, a group-norm feature extractor), or one whose gradients are being recorded,
is run the generic way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

# Key of HuBERT's last_hidden_state (after its final LayerNorm in the stable-layer-norm variant) among the states.
LAST = -1


def clip_states(tower: nn.Module, pixel_values: torch.Tensor, wanted: Iterable[int]) -> dict[int, torch.Tensor]:
    """CLIP vision ``hidden_states[i]`` for each ``i`` in ``wanted`` (pixel_values (N, 3, H, W))."""
    wanted = set(wanted)
    vision = getattr(tower, "vision_model", tower)  # transformers 4.x wraps the transformer, 5.x does not
    if not all(hasattr(vision, name) for name in ("embeddings", "pre_layrnorm", "encoder")):
        return _generic_states(tower, pixel_values, wanted)
    hidden = vision.pre_layrnorm(vision.embeddings(pixel_values))
    return _run_layers(vision.encoder.layers, hidden, wanted)


def hubert_states(tower: nn.Module, input_values: torch.Tensor, wanted: Iterable[int]) -> dict[int, torch.Tensor]:
    """HuBERT ``hidden_states[i]`` for each ``i`` in ``wanted``, and ``last_hidden_state`` under :data:`LAST`
    (input_values (N, L) raw 16 kHz samples). The towers are frozen and in eval mode: no time masking."""
    wanted = set(wanted)
    encoder = getattr(tower, "encoder", None)
    known = all(hasattr(tower, name) for name in ("feature_extractor", "feature_projection")) and all(
        hasattr(encoder, name) for name in ("pos_conv_embed", "layer_norm", "layers"))
    if not known or tower.training:
        return _generic_states(tower, input_values, wanted)
    features = conv_features(tower.feature_extractor, input_values)
    hidden = tower.feature_projection(features)
    hidden = hidden + encoder.pos_conv_embed(hidden)
    stable = bool(getattr(tower.config, "do_stable_layer_norm", False))
    if not stable:
        hidden = encoder.layer_norm(hidden)
    depth = len(encoder.layers)
    layers_needed = (wanted - {LAST}) | ({depth} if LAST in wanted else set())
    states = _run_layers(encoder.layers, hidden, layers_needed)
    if LAST in wanted:
        last = states[depth] if depth in wanted else states.pop(depth)
        states[LAST] = encoder.layer_norm(last) if stable else last
    return states


# Speech segments per pass of the feature extractor on CPU (a GPU takes them all in one pass). Measured on the
# 2.2B model's HuBERT-L feature extractor in bf16, 16 segments (one encoder chunk), 2 threads: 0.37 s with a fresh
# tensor for every output, 0.32 s in one pass through the buffers, 0.23 / 0.21 / 0.23 s in passes of 1 / 2 / 4
# segments (medians of 6, alternating). The products' row counts change, so bf16 results move by a unit in the
# last place (0.012 on values up to 4.4), each way as far from the float32 result as the other (0.049); float32
# results agree to 1e-5.
SEGMENTS_PER_PASS = 2


def conv_features(extractor: nn.Module, input_values: torch.Tensor) -> torch.Tensor:
    """HuBERT's feature extractor, (N, L) -> (N, T, C): time-major for the layer-norm variant (see the module
    docstring), transformers' own forward otherwise."""
    layers = getattr(extractor, "conv_layers", None)
    recording = torch.is_grad_enabled() and (
        input_values.requires_grad or any(p.requires_grad for p in extractor.parameters()))
    if layers is None or recording or not all(_time_major_ok(layer) for layer in layers):
        return extractor(input_values).transpose(1, 2)
    shapes = _conv_shapes(layers, input_values.shape[1])
    if shapes[-1].steps_out < 1:
        return extractor(input_values).transpose(1, 2)  # too short for the kernels: transformers' own error
    segments = input_values.shape[0]
    per_pass = max(1, min(SEGMENTS_PER_PASS, segments) if input_values.device.type == "cpu" else segments)
    windows = input_values.new_empty(per_pass * max(shape.window_elements for shape in shapes))
    convolved = input_values.new_empty(per_pass * max(shape.output_elements for shape in shapes))
    normed = torch.empty_like(convolved)
    features = input_values.new_empty(segments, shapes[-1].steps_out, shapes[-1].channels_out)
    # each kernel as a (out, k * in) matrix in window order, made once a call rather than once a pass
    kernels = [layer.conv.weight.permute(0, 2, 1).reshape(layer.conv.out_channels, -1) for layer in layers]
    input_values = input_values.contiguous()
    for start in range(0, segments, per_pass):
        hidden = input_values[start:start + per_pass, :, None]
        for layer, kernel, shape in zip(layers, kernels, shapes, strict=True):
            hidden = _conv_layer_into(layer, kernel, shape, hidden, windows, convolved, normed)
        features[start:start + per_pass] = hidden
    return features


class _ConvShape(NamedTuple):
    """One convolution of the feature extractor on a (n, steps_in, channels_in) signal."""

    steps_in: int
    channels_in: int
    kernel: int
    stride: int
    steps_out: int
    channels_out: int

    @property
    def window_elements(self) -> int:
        return self.steps_out * self.kernel * self.channels_in

    @property
    def output_elements(self) -> int:
        return self.steps_out * self.channels_out


def _conv_shapes(layers: Sequence[nn.Module], samples: int) -> list[_ConvShape]:
    shapes, steps, channels = [], samples, 1
    for layer in layers:
        conv = layer.conv
        kernel, stride = conv.kernel_size[0], conv.stride[0]
        steps_out = (steps - kernel) // stride + 1
        shapes.append(_ConvShape(steps, channels, kernel, stride, steps_out, conv.out_channels))
        steps, channels = steps_out, conv.out_channels
    return shapes


def _time_major_ok(layer: nn.Module) -> bool:
    conv = getattr(layer, "conv", None)
    # weight.dim() == 3: materialised (a DeepSpeed ZeRO-3 shard is empty until the module's own forward runs)
    return (isinstance(conv, nn.Conv1d) and isinstance(getattr(layer, "layer_norm", None), nn.LayerNorm)
            and hasattr(layer, "activation") and conv.padding == (0,) and conv.dilation == (1,) and conv.groups == 1
            and conv.weight.dim() == 3)


def _conv_layer_into(layer: nn.Module, kernel: torch.Tensor, shape: _ConvShape, signal: torch.Tensor,
                     windows: torch.Tensor, convolved: torch.Tensor, normed: torch.Tensor) -> torch.Tensor:
    """One conv -> LayerNorm -> activation layer on a contiguous (n, T, C) ``signal``, through the buffers.

    The k consecutive time steps of a window are contiguous in memory, so the windows are a strided view of
    the signal, copied into a (n*T_out, k*C) matrix and multiplied by ``kernel`` (the convolution's weight as
    (out, k*C) in window order). The result is a view of
    ``normed`` (exact GELU, HuBERT's, is applied in place) or the activation's own output."""
    n = signal.shape[0]
    steps_in, channels_in, kernel_size, stride, steps_out, channels_out = shape
    rows = n * steps_out
    matrix = windows[:rows * kernel_size * channels_in].view(rows, kernel_size * channels_in)
    matrix.view(n, steps_out, -1).copy_(signal.as_strided(
        (n, steps_out, kernel_size * channels_in), (steps_in * channels_in, stride * channels_in, 1)))
    conv = layer.conv
    out = convolved[:rows * channels_out].view(n, steps_out, channels_out)
    if conv.bias is None:
        torch.mm(matrix, kernel.t(), out=out.view(rows, channels_out))
    else:
        torch.addmm(conv.bias, matrix, kernel.t(), out=out.view(rows, channels_out))
    norm = layer.layer_norm
    hidden = normed[:rows * channels_out].view(n, steps_out, channels_out)
    torch.ops.aten.native_layer_norm.out(out, list(norm.normalized_shape), norm.weight, norm.bias, norm.eps,
                                         out0=hidden, out1=out.new_empty(0), out2=out.new_empty(0))
    if getattr(layer.activation, "act", None) is F.gelu:  # transformers' GELUActivation (exact erf)
        return torch.ops.aten.gelu_(hidden)
    return layer.activation(hidden)


def _run_layers(layers: Sequence[nn.Module], hidden: torch.Tensor, wanted: set[int]) -> dict[int, torch.Tensor]:
    """Run ``layers`` in order up to the deepest wanted index; state ``i`` is the output of layer ``i``."""
    states = {0: hidden} if 0 in wanted else {}
    for index, layer in enumerate(layers[:max(wanted, default=0)], start=1):
        out = layer(hidden, None)
        hidden = out[0] if isinstance(out, tuple) else out
        if index in wanted:
            states[index] = hidden
    return states


def _generic_states(tower: nn.Module, inputs: torch.Tensor, wanted: set[int]) -> dict[int, torch.Tensor]:
    result = tower(inputs, output_hidden_states=True)
    states = {i: result.hidden_states[i] for i in wanted if i != LAST}
    if LAST in wanted:
        states[LAST] = result.last_hidden_state
    return states
