"""Running the frozen encoders for exactly the hidden states the branches read, and no more.

``output_hidden_states=True`` runs every layer and keeps every layer's states; the branches read a few
(CLIP: layer 23 of 24 and the fusion layers 12/16/22; HuBERT: its last four and 16/18/22). These functions
run each tower's own modules, layer by layer, up to the deepest layer needed and keep only the requested
states, numbered as ``hidden_states`` numbers them (0 = the input of the first layer). The results equal
``output_hidden_states=True`` (``tests/modeling/test_encoders.py`` checks both on the real architectures).

HuBERT's convolutional feature extractor is run time-major: each strided convolution as one matrix product
over windows of the (N, T, C) signal, LayerNorm over channels in place. transformers' channel-first version
transposes the largest tensors of the whole model (8 x 512 x 6,400 per clip) twice per layer, which cost
about as much as HuBERT's 24 transformer layers on a CPU. Any tower these functions do not recognise
(another architecture, a group-norm feature extractor) is run the generic way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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


def conv_features(extractor: nn.Module, input_values: torch.Tensor) -> torch.Tensor:
    """HuBERT's feature extractor, (N, L) -> (N, T, C): time-major for the layer-norm variant (see the module
    docstring), transformers' own forward otherwise."""
    layers = getattr(extractor, "conv_layers", None)
    if layers is None or not all(_time_major_ok(layer) for layer in layers):
        return extractor(input_values).transpose(1, 2)
    hidden = input_values[:, :, None]
    for layer in layers:
        hidden = layer.activation(layer.layer_norm(_conv_time_major(hidden, layer.conv)))
    return hidden


def _time_major_ok(layer: nn.Module) -> bool:
    conv = getattr(layer, "conv", None)
    # weight.dim() == 3: materialised (a DeepSpeed ZeRO-3 shard is empty until the module's own forward runs)
    return (isinstance(conv, nn.Conv1d) and isinstance(getattr(layer, "layer_norm", None), nn.LayerNorm)
            and hasattr(layer, "activation") and conv.padding == (0,) and conv.dilation == (1,) and conv.groups == 1
            and conv.weight.dim() == 3)


def _conv_time_major(x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """``conv`` on a (N, T, C) signal: the k consecutive time steps of a window are contiguous in memory, so
    the windows are a strided view, copied once into a (N*T_out, k*C) matrix and multiplied by the kernel."""
    n, t, c = x.shape
    k, s = conv.kernel_size[0], conv.stride[0]
    t_out = (t - k) // s + 1
    x = x.contiguous()
    windows = x.as_strided((n, t_out, k * c), (t * c, s * c, 1)).reshape(n * t_out, k * c)
    kernel = conv.weight.permute(0, 2, 1).reshape(conv.out_channels, k * c)  # (out, k, in): window order
    return F.linear(windows, kernel, conv.bias).view(n, t_out, conv.out_channels)


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
