"""The in-place KV cache decodes as transformers' own ``DynamicCache``: a real Qwen2 LM (the 2.2B model's LM
architecture, tiny) generates the same tokens with bit-equal scores, greedy and sampled, with one answer or a
left-padded batch, with beam search (which reorders the cache) and with prompt lookup (which crops it), with
room for the whole answer or less (the buffer grows); and the cache really is written in place: one buffer
per layer for the whole answer."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from transformers.cache_utils import DynamicCache, DynamicLayer

from emox_core.modeling.kv_cache import GROWTH_POSITIONS, InPlaceLayer, in_place_cache


def _qwen2_lm(dtype: torch.dtype) -> Any:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=300, hidden_size=64, intermediate_size=176, num_hidden_layers=3,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
    return Qwen2ForCausalLM(config).to(dtype).eval().requires_grad_(False)


def _prompt(answers: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``answers`` prompts of 7 tokens, the later ones left-padded (2 pad positions each more)."""
    ids = torch.randint(3, 300, (answers, 7), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    for row in range(1, answers):
        mask[row, : 2 * row] = 0
        ids[row, : 2 * row] = 0
    return ids, mask


def _generate(model: Any, cache: Any, answers: int = 1, **kwargs: Any) -> Any:
    ids, mask = _prompt(answers)
    torch.manual_seed(5)
    settings = {"max_new_tokens": 12, "min_new_tokens": 12, "do_sample": False, "pad_token_id": 0, **kwargs}
    extra = {} if cache is None else {"cache": cache}
    return model.generate(input_ids=ids, attention_mask=mask, output_scores=True, return_dict_in_generate=True,
                          **settings, **extra)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("answers", [1, 3])
@pytest.mark.parametrize("reserve", [12, 0, 5])
def test_in_place_cache_gives_dynamic_caches_scores(dtype: torch.dtype, answers: int, reserve: int) -> None:
    model = _qwen2_lm(dtype)
    expected = _generate(model, None, answers)
    got = _generate(model, in_place_cache(model.config, reserve), answers)
    assert torch.equal(got.sequences, expected.sequences)
    assert all(torch.equal(a, b) for a, b in zip(got.scores, expected.scores, strict=True))


@pytest.mark.parametrize("kwargs", [{"do_sample": True, "top_k": 20}, {"num_beams": 3},
                                    {"num_beams": 2, "num_return_sequences": 2}, {"prompt_lookup_num_tokens": 2}])
def test_in_place_cache_with_sampling_beams_and_prompt_lookup(kwargs: dict[str, Any]) -> None:
    """Beam search reorders the cache (new tensors: a new buffer), prompt lookup crops it (views of the buffer,
    written over)."""
    model = _qwen2_lm(torch.float32)
    answers = 1 if "prompt_lookup_num_tokens" in kwargs else 2
    expected = _generate(model, None, answers, **kwargs)
    got = _generate(model, in_place_cache(model.config, 12), answers, **kwargs)
    assert torch.equal(got.sequences, expected.sequences)
    assert all(torch.allclose(a, b, rtol=0, atol=0, equal_nan=True)
               for a, b in zip(got.scores, expected.scores, strict=True))


def test_the_cache_is_written_in_place() -> None:
    """With room for the answer, every step writes into the buffer the prefill allocated (a ``torch.cat`` makes a
    new tensor each step); past the room the buffer grows by GROWTH_POSITIONS at once."""
    model = _qwen2_lm(torch.float32)
    cache = in_place_cache(model.config, 12)
    assert all(type(layer) is InPlaceLayer for layer in cache.layers)
    addresses: list[set[int]] = [set() for _ in cache.layers]
    hooks = [attention.register_forward_hook(
        lambda _m, _a, _o, i=i: addresses[i].add(cache.layers[i].keys.data_ptr()))
        for i, attention in enumerate(layer.self_attn for layer in model.model.layers)]
    try:
        out = _generate(model, cache)
    finally:
        for hook in hooks:
            hook.remove()
    assert out.sequences.shape[1] == 7 + 12
    assert [len(a) for a in addresses] == [1] * len(cache.layers)  # 12 forward calls, one buffer each
    layer = cache.layers[0]
    assert layer.get_seq_length() == 7 + 11 and layer.keys.untyped_storage().nbytes() == (
        layer.keys.shape[0] * layer.keys.shape[1] * (7 + 12) * layer.keys.shape[-1] * layer.keys.element_size())
    grown = in_place_cache(model.config, 0)
    _generate(model, grown)
    assert grown.layers[0].keys.untyped_storage().nbytes() == layer.keys.untyped_storage().nbytes() // (7 + 12) * (
        8 + GROWTH_POSITIONS)  # the prompt and the first token, then one growth


def test_sliding_window_layers_stay_transformers_own() -> None:
    from transformers import Qwen2Config

    config = Qwen2Config(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, use_sliding_window=True, sliding_window=8,
                         max_window_layers=1)
    kinds = [type(layer) for layer in in_place_cache(config, 4).layers]
    plain = [type(layer) for layer in DynamicCache(config=config).layers]
    assert kinds == [InPlaceLayer if kind is DynamicLayer else kind for kind in plain] and InPlaceLayer in kinds

