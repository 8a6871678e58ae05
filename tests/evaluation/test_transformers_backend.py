"""The local transformers judge backend on a tiny random chat model built on the spot (no download)."""

from __future__ import annotations

from pathlib import Path

import pytest

from emox_core.evaluation.judge import Settings, make_backend


@pytest.fixture(scope="module")
def tiny_chat_model(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    words = ["<pad>", "<eos>", "<unk>", "user", "assistant", ":", "happy", "sad", "[", "]", "he", "is", "glad"]
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")
    tokenizer.chat_template = "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} {% endfor %}assistant :"
    config = Qwen2Config(
        vocab_size=len(words),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=64,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=1,
    )
    path = tmp_path_factory.mktemp("tiny-chat")
    Qwen2ForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_local_model_generates_and_caches(tiny_chat_model, tmp_path):
    backend = make_backend(f"hf:{tiny_chat_model}", "unused", Settings(max_tokens=4), tmp_path / "cache")
    first = backend.complete(["he is glad", "he is sad"])
    assert len(first) == 2 and all(isinstance(r, str) for r in first)
    again = make_backend(f"hf:{tiny_chat_model}", "unused", Settings(max_tokens=4), tmp_path / "cache")
    assert again.complete(["he is glad", "he is sad"]) == first
    assert again._pipeline is None  # answered from the disk cache: the model was never loaded
