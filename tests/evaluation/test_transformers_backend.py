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


def test_batched_generation_matches_one_by_one(tiny_chat_model, tmp_path):
    """The local backend generates batch_size prompts per generate call (left padding), with the same greedy
    replies as one prompt at a time."""
    prompts = ["he is glad", "he is sad happy", "glad", "he is happy sad glad"]
    single = make_backend(f"hf:{tiny_chat_model}", "unused", Settings(max_tokens=4), None, batch_size=1)
    batched = make_backend(f"hf:{tiny_chat_model}", "unused", Settings(max_tokens=4), None, batch_size=3)
    calls = []
    model = batched._load()[1]
    original = model.generate

    def counting_generate(**kwargs):
        calls.append(kwargs["input_ids"].shape[0])
        return original(**kwargs)

    model.generate = counting_generate
    assert batched.complete(prompts) == single.complete(prompts)
    assert calls == [3, 1]


def test_hub_id_offline_is_one_line(tmp_path, monkeypatch):
    from emox_core.errors import EmoxError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    backend = make_backend("hf:emox-test/no-such-judge-model", "unused", Settings(), tmp_path / "cache")
    with pytest.raises(EmoxError) as info:
        backend.complete(["x"])
    message = str(info.value)
    assert message.startswith("--judge hf:emox-test/no-such-judge-model: cannot load the model") and "\n" not in message
