"""Inference latency and throughput (a benchmark, not a test).

Part 1: one clip through the full Nano-EmoX architecture (CLIP-L, HuBERT-L, FaceXFormer Swin-B,
Qwen2.5-1.5B + adapters + LoRA) with random weights on CPU: the end-to-end ``predict_clip`` time next to
the sum of its stages timed alone (media decode, processor, frozen encoders, prefill, per-token decode),
and the peak RSS. Goals: end-to-end within 1.3x of the sum, peak RSS <= 12 GB in bf16.

Part 2: batched generation throughput on the ``tiny`` preset, batch size B vs 1 (goal >= 4x at B=8).

    python benchmarks/infer_latency.py [--dtype bfloat16] [--tokens 32] [--skip-2b] [--threads N]

Prompts use the offline tiny tokenizer (the real Qwen tokenizer needs the hub); its token ids fit in
Qwen's vocabulary and prompt lengths are close to the real ones.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from emox_core.inference import GenerationSettings, clip_sample, extract_media, predict_clip
from emox_core.inference.predict import generate_answers
from emox_core.media.synthesize import synthetic_clip
from emox_core.samples import sample_to_example


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Median wall time of ``repeat`` calls (after none: the model is warmed up by the caller), and the result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux: KiB


def build_2b(dtype: torch.dtype) -> tuple[Any, Any]:
    """The 2.2B architecture with random weights, built directly in ``dtype`` (adapters in float32)."""
    from emox_core.modeling.backbones import prepare_tokenizer
    from emox_core.modeling.modeling_nano_emox import NanoEmoXForConditionalGeneration
    from emox_core.modeling.presets import nano_emox_2b_config
    from emox_core.modeling.tokenizer import build_tiny_tokenizer
    from emox_core.processing import NanoEmoXProcessor, ProcessorSettings

    config = nano_emox_2b_config()
    tokenizer = build_tiny_tokenizer()
    prepare_tokenizer(tokenizer, config)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        model = NanoEmoXForConditionalGeneration(config).eval()
    finally:
        torch.set_default_dtype(previous)
    model.keep_adapters_float32()
    return model, NanoEmoXProcessor(tokenizer, ProcessorSettings.from_config(config))


class TokenCounter:
    """A streamer that only counts generated tokens (the first ``put`` is the empty prompt)."""

    def __init__(self) -> None:
        self.calls = 0

    def put(self, value: torch.Tensor) -> None:
        self.calls += 1

    def end(self) -> None:
        pass

    @property
    def tokens(self) -> int:
        return self.calls - 1


def stage_times(model: Any, processor: Any, clip: Path, tokens: int, repeat: int) -> dict[str, float]:
    """Each stage of one-clip inference run on its own (the first new token comes with the prefill)."""
    sample = clip_sample(clip, "MER", subtitle="I can't believe you did that.")
    t_decode, media = timed(lambda: extract_media(clip, processor), repeat)
    t_proc, batch = timed(lambda: processor([sample_to_example(sample, processor, media, with_target=False)],
                                            padding_side="left"), repeat)
    media_keys = ("pixel_values", "input_values", "pixel_values_videos")
    t_enc, features = timed(lambda: model.encode_media(*(batch[k] for k in media_keys)), repeat)
    lm = model.language_model

    @torch.no_grad()
    def prefill() -> Any:
        embeds, mask = model.embed_inputs(batch["input_ids"], batch["attention_mask"],
                                          modality_mask=batch["modality_mask"], **features.as_kwargs())
        return lm(inputs_embeds=embeds, attention_mask=mask, use_cache=True), mask

    t_prefill, (out, mask) = timed(prefill, repeat)

    @torch.no_grad()
    def decode_steps() -> float:
        cache, step_mask = out.past_key_values, mask
        token = out.logits[:, -1:].argmax(-1)
        start = time.perf_counter()
        for _ in range(tokens):
            step_mask = torch.cat([step_mask, step_mask.new_ones(1, 1)], dim=1)
            result = lm(input_ids=token, attention_mask=step_mask, past_key_values=cache, use_cache=True)
            cache, token = result.past_key_values, result.logits[:, -1:].argmax(-1)
        return (time.perf_counter() - start) / tokens

    per_token = statistics.median(decode_steps() for _ in range(repeat))
    kwargs = GenerationSettings(max_new_tokens=tokens).generate_kwargs("MER", processor)
    t_generate, _ = timed(lambda: model.generate(**batch, **kwargs), repeat)
    return {"decode": t_decode, "processor": t_proc, "encoders": t_enc, "prefill": t_prefill,
            "per_token": per_token, "generate": t_generate, "prompt_tokens": float(batch["input_ids"].shape[1])}


def part_2b(dtype: torch.dtype, tokens: int, repeat: int, folder: Path) -> None:
    clip = synthetic_clip(folder / "clip.mp4", duration=6.0, size=(360, 640))
    rss_before = peak_rss_gb()
    t_build, (model, processor) = timed(lambda: build_2b(dtype))
    params = sum(p.numel() for p in model.parameters())
    print(f"\n## Part 1: one clip, full architecture ({params / 1e9:.3f} B params, random weights, CPU, {dtype})")
    print(f"built in {t_build:.1f} s; peak RSS after build {peak_rss_gb():.2f} GB (before {rss_before:.2f} GB)")
    settings = GenerationSettings(max_new_tokens=tokens)
    predict_clip(model, processor, clip, "MER", settings=GenerationSettings(max_new_tokens=2))  # warm-up
    counter = TokenCounter()

    def full() -> Any:
        counter.calls = 0
        return predict_clip(model, processor, clip, "MER", subtitle="I can't believe you did that.",
                            settings=settings, streamer=counter)

    # Interleaved (stages alone, then end to end, per repeat) so load changes on a shared machine hit both.
    runs, ends = [], []
    for _ in range(repeat):
        runs.append(stage_times(model, processor, clip, tokens, 1))
        ends.append(timed(full)[0])
    stages = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    t_full = statistics.median(ends)
    generated = counter.tokens
    parts = {"media decode (frames + 16 kHz audio)": stages["decode"], "processor (prompt + tensors)":
             stages["processor"], "frozen encoders (CLIP, HuBERT, Swin)": stages["encoders"],
             f"prefill ({int(stages['prompt_tokens'])} prompt tokens, adapters + LM)": stages["prefill"],
             f"decode {generated - 1} more tokens x {stages['per_token'] * 1000:.0f} ms":
             (generated - 1) * stages["per_token"]}
    total = sum(parts.values())
    print("\n| stage (run alone) | seconds |\n|---|---|")
    for name, seconds in parts.items():
        print(f"| {name} | {seconds:.2f} |")
    print(f"| **sum of stages** | **{total:.2f}** |")
    print(f"| model.generate alone (media already tensors) | {stages['generate']:.2f} |")
    print(f"| **predict_clip end to end** | **{t_full:.2f}** |")
    print(f"\nend-to-end / sum = {t_full / total:.2f} (goal <= 1.3); "
          f"peak RSS {peak_rss_gb():.2f} GB (goal <= 12 in bf16)")


def part_tiny(tokens: int, repeat: int, folder: Path, batch_sizes: list[int]) -> None:
    from emox_core.modeling.loading import build_preset_model

    torch.set_num_threads(1)  # toy widths: more threads only add synchronisation (and spin on busy cores)
    torch.manual_seed(0)
    model, processor = build_preset_model("tiny")
    count = max(batch_sizes) * 2
    clips = [synthetic_clip(folder / f"tiny{i}.mp4", duration=2.0, size=(64, 64), pitch_hz=200.0 + 20 * i,
                            color=(40 * (i % 6), 200 - 5 * i, 90)) for i in range(count)]
    samples = [clip_sample(c, "MER", subtitle=f"clip number {i}") for i, c in enumerate(clips)]
    media = [extract_media(c, processor) for c in clips]
    settings = GenerationSettings(max_new_tokens=tokens)
    generate_answers(model, processor, samples[:2], media[:2], settings)  # warm-up
    print(f"\n## Part 2: tiny preset, {count} clips, MER, {tokens} new tokens max, media decoded beforehand, "
          "1 thread")
    print("\n(a) generate_answers: encoders + LM; (b) the LM alone, encoder features computed beforehand")
    print("\n| batch size | (a) clips / s | (a) speed-up | (b) clips / s | (b) speed-up |\n|---|---|---|---|---|")
    examples = [sample_to_example(s, processor, m, with_target=False) for s, m in zip(samples, media, strict=True)]
    kwargs = settings.generate_kwargs("MER", processor)
    media_keys = ("pixel_values", "input_values", "pixel_values_videos")
    base: list[float] = []
    for size in batch_sizes:
        batches = [processor(examples[i:i + size], padding_side="left") for i in range(0, count, size)]
        features = [model.encode_media(*(b[k] for k in media_keys)).as_kwargs() for b in batches]
        texts = [{k: b[k] for k in ("input_ids", "attention_mask", "modality_mask")} for b in batches]

        def full(size: int = size) -> None:
            for start in range(0, count, size):
                generate_answers(model, processor, samples[start:start + size], media[start:start + size],
                                 settings)

        def lm_only(texts: list[dict[str, Any]] = texts, features: list[dict[str, Any]] = features) -> None:
            for text, feature in zip(texts, features, strict=True):
                model.generate(**text, **feature, **kwargs)

        rates = [count / timed(full, repeat)[0], count / timed(lm_only, repeat)[0]]
        base = base or rates
        print(f"| {size} | {rates[0]:.1f} | {rates[0] / base[0]:.2f}x | {rates[1]:.1f} | {rates[1] / base[1]:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    parser.add_argument("--tokens", type=int, default=32, help="New tokens per answer.")
    parser.add_argument("--repeat", type=int, default=3, help="Runs per measurement (median).")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default).")
    parser.add_argument("--batch-sizes", default="1,4,8,16")
    parser.add_argument("--skip-2b", action="store_true", help="Only the tiny throughput part.")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    with tempfile.TemporaryDirectory(prefix="emox-bench-") as tmp:
        if not args.skip_2b:
            part_2b(getattr(torch, args.dtype), args.tokens, args.repeat, Path(tmp))
        part_tiny(args.tokens, args.repeat, Path(tmp), [int(b) for b in args.batch_sizes.split(",")])


if __name__ == "__main__":
    main()
