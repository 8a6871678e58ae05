"""A KV cache whose layers write each step's keys and values in place, for generation.

transformers' ``DynamicCache`` appends a step's keys and values with ``torch.cat`` (``DynamicLayer.update``):
every decoding step copies every layer's whole cache into fresh tensors, two copies per layer (56 for the
2.2B model's Qwen2.5-1.5B), each a parallel region the CPU threads are woken for. :class:`InPlaceLayer` keeps
room for the answer in one buffer per layer and writes the new positions into it; attention reads views of the
filled part: the same keys and values, so the same scores bit for bit (``tests/modeling/test_kv_cache.py``).
Measured on the 2.2B model (``benchmarks/infer_latency.py`` times decoding both ways).
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer

# Positions a layer's buffer gains when an answer outgrows the room it was given (one copy of the cache
# every this many steps, instead of one every step).
GROWTH_POSITIONS = 64


class InPlaceLayer(DynamicLayer):
    """A ``DynamicLayer`` whose ``keys``/``values`` are views of a buffer with room for ``reserve`` more
    positions after the first update (then :data:`GROWTH_POSITIONS` at a time). Anything that replaced them
    with other tensors (beam search's reordering, a batch selection) is seen at the next update, which
    starts a new buffer from them; a crop leaves views of the buffer, and the next update writes over the
    cropped positions."""

    def __init__(self, reserve: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reserve = max(0, reserve)
        self._buffers: tuple[torch.Tensor, torch.Tensor] | None = None

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
               ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        filled = self.get_seq_length()
        end = filled + key_states.shape[-2]
        if not self._fits(key_states, value_states, end):
            self._buffers = self._new_buffers(key_states, value_states, filled, end)
        keys, values = self._buffers  # type: ignore[misc]
        keys[..., filled:end, :].copy_(key_states)
        values[..., filled:end, :].copy_(value_states)
        self.keys, self.values = keys[..., :end, :], values[..., :end, :]
        return self.keys, self.values

    def _fits(self, key_states: torch.Tensor, value_states: torch.Tensor, end: int) -> bool:
        """Whether the buffers still hold ``keys``/``values`` (the same memory) and have room up to ``end``."""
        if self._buffers is None:
            return False
        keys, values = self._buffers
        if self.keys.numel() and (self.keys.data_ptr() != keys.data_ptr()
                                  or self.values.data_ptr() != values.data_ptr()):
            return False
        return (end <= keys.shape[-2] and _layout(keys) == _layout(key_states)
                and _layout(values) == _layout(value_states))

    def _new_buffers(self, key_states: torch.Tensor, value_states: torch.Tensor, filled: int, end: int
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """Buffers with room up to ``end`` plus the reserve (the first time) or the growth step, holding the
        ``filled`` positions cached so far."""
        room = end + (self.reserve if self._buffers is None else GROWTH_POSITIONS)
        keys = key_states.new_empty((*key_states.shape[:-2], room, key_states.shape[-1]))
        values = value_states.new_empty((*value_states.shape[:-2], room, value_states.shape[-1]))
        if filled:
            keys[..., :filled, :].copy_(self.keys)
            values[..., :filled, :].copy_(self.values)
        return keys, values

    def reset(self) -> None:
        self._buffers = None
        super().reset()


def _layout(states: torch.Tensor) -> tuple[Any, ...]:
    """Everything of a (batch, heads, positions, dim) tensor but its positions."""
    return states.shape[:-2], states.shape[-1], states.dtype, states.device


def in_place_cache(config: Any, reserve: int = 0) -> DynamicCache:
    """transformers' ``DynamicCache`` for ``config`` with each full-attention layer an :class:`InPlaceLayer`
    with room for ``reserve`` positions after the prompt (pass the answer's ``max_new_tokens``); other layer
    kinds (sliding windows) are transformers' own."""
    cache = DynamicCache(config=config)
    cache.layers = [InPlaceLayer(reserve) if type(layer) is DynamicLayer else layer for layer in cache.layers]
    return cache
