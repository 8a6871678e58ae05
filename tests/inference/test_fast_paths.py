"""The inference speed-ups change no output: LoRA merged into the LM (the reference: the same saved model with
LoRA unmerged), the LM head fed dense rows, media read by worker processes (the reference: read in-process),
decoding into the in-place KV cache (the reference: transformers' DynamicCache), and the LM called with
transformers 5's ``cache`` name (no deprecation warning)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from emox_core.inference import GenerationSettings, clip_sample, extract_media, load_for_inference, predict_manifest
from emox_core.samples import sample_to_example
from tests.inference.conftest import TRAINED_SUBTITLE, TRAINED_TARGETS, read_jsonl

SETTINGS = GenerationSettings(max_new_tokens=16)


def _batches(processor: Any, clip: Path) -> list[dict[str, torch.Tensor]]:
    media = extract_media(clip, processor)
    return [processor([sample_to_example(clip_sample(clip, task, subtitle=TRAINED_SUBTITLE), processor, media,
                                         with_target=False)], padding_side="left") for task in TRAINED_TARGETS]


def test_merged_lora_answers_as_the_unmerged_model(trained_model_dir: Path, clips: dict[str, Path]) -> None:
    from emox_core.modeling.loading import load_model

    unmerged, processor = load_model(trained_model_dir)
    assert any("lora_B" in n and p.abs().sum() > 0 for n, p in unmerged.named_parameters())  # LoRA does work
    merged, _ = load_for_inference(trained_model_dir, "cpu", "float32")
    assert not merged.config.use_lora and not any("lora_" in n for n, _ in merged.named_parameters())
    for task, batch in zip(TRAINED_TARGETS, _batches(processor, clips["normal"]), strict=True):
        with torch.no_grad():
            expected, got = unmerged(**batch).logits, merged(**batch).logits
        assert torch.allclose(got, expected, atol=1e-4), task
        kwargs = SETTINGS.generate_kwargs(task, processor)
        assert torch.equal(merged.generate(**batch, **kwargs), unmerged.generate(**batch, **kwargs)), task


def test_the_lm_head_reads_dense_rows(loaded: tuple[Any, Any], clips: dict[str, Path]) -> None:
    """Generation asks for the last position's logits only; that strided view, given to the head as is, makes
    torch copy the whole transposed head matrix (0.5 GB for Qwen2.5) at every prefill."""
    model, processor = loaded
    seen: list[torch.Tensor] = []
    head = model.language_model.get_output_embeddings()
    handle = head.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))  # runs after the model's own
    try:
        batch = _batches(processor, clips["normal"])[0]
        model.generate(**batch, **SETTINGS.generate_kwargs("MSA", processor))
    finally:
        handle.remove()
    assert seen and all(x.stride() == torch.empty(x.shape).stride() for x in seen)


def test_no_past_key_values_deprecation(loaded: tuple[Any, Any], clips: dict[str, Path]) -> None:
    """The training forward and generation used the name transformers 5 deprecated (a FutureWarning per run)."""
    model, processor = loaded
    batch = _batches(processor, clips["normal"])[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model(**batch, labels=batch["input_ids"])
        model.generate(**batch, **SETTINGS.generate_kwargs("MSA", processor))
    assert not [w for w in caught if "past_key_values" in str(w.message)]


def test_media_workers_give_the_same_predictions(loaded: tuple[Any, Any], manifest: Path) -> None:
    model, processor = loaded
    records = {}
    for workers in (0, 2):
        out = manifest.parent / f"preds-{workers}.jsonl"
        report = predict_manifest(model, manifest, out, batch_size=2, processor=processor, settings=SETTINGS,
                                  media_workers=workers)
        assert [sample_id for sample_id, _ in report.failed] == ["bad"]
        records[workers] = sorted(read_jsonl(out), key=lambda r: r["id"])
    assert records[0] == records[2] and len(records[0]) == 5


def test_streaming_decoding_gives_the_same_tokens_in_bfloat16(trained_model_dir: Path,
                                                              clips: dict[str, Path]) -> None:
    """The prepared LM's decoding Linears (``W @ x.T``) against the same weights' nn.Linears, in bfloat16 where
    rounding could tell them apart: the greedy tokens of every task are the same."""
    import copy

    from emox_core.modeling.cpu_linears import StreamingLinear

    prepared, processor = load_for_inference(trained_model_dir, "cpu", "bfloat16")
    plain = copy.deepcopy(prepared)
    streaming = [m for m in plain.language_model.modules() if isinstance(m, StreamingLinear)]
    assert streaming and prepared.language_model.get_output_embeddings() in [
        m for m in prepared.language_model.modules() if isinstance(m, StreamingLinear)]
    for module in streaming:
        module.__class__ = torch.nn.Linear
    for task, batch in zip(TRAINED_TARGETS, _batches(processor, clips["normal"]), strict=True):
        kwargs = SETTINGS.generate_kwargs(task, processor)
        assert torch.equal(prepared.generate(**batch, **kwargs), plain.generate(**batch, **kwargs)), task


def test_generate_decodes_into_the_in_place_cache(loaded: tuple[Any, Any], clips: dict[str, Path]) -> None:
    """Unless given a cache, the model's generate hands the LM one in-place cache for the whole answer, and the
    tokens are those of transformers' DynamicCache."""
    from transformers.cache_utils import DynamicCache

    from emox_core.modeling.kv_cache import InPlaceLayer

    model, processor = loaded
    batch = _batches(processor, clips["normal"])[0]
    kwargs = SETTINGS.generate_kwargs("MSA", processor)
    caches: list[Any] = []
    hook = model.language_model.register_forward_pre_hook(
        lambda _m, _a, kw: caches.append(kw.get("cache")), with_kwargs=True)
    try:
        got = model.generate(**batch, **kwargs)
    finally:
        hook.remove()
    assert len(caches) > 1 and all(cache is caches[0] for cache in caches)
    assert all(type(layer) is InPlaceLayer and layer.reserve == SETTINGS.max_new_tokens for layer in caches[0].layers)
    expected = model.generate(**batch, **kwargs, cache=DynamicCache(config=model.language_model.config))
    assert torch.equal(got, expected)
