"""Inference against the machine's floor (a benchmark, not a test).

The full Nano-EmoX architecture (CLIP-L, HuBERT-L, FaceXFormer Swin-B, Qwen2.5-1.5B + adapters) with random
weights, prepared as ``load_for_inference`` prepares a loaded model (LoRA merged, tower Linears fused), on
6-s synthetic clips.
For batch 1 and batch B (default 8) it prints every stage's time, FLOPs (``torch.utils.flop_counter``), floor
and time / floor, then the end-to-end time against the floor, and ends with one line::

    end-to-end / floor: X.XX (batch 1), Y.YY (batch 8)

Floors. The machine's rates are measured first: a large bf16 matrix product (compute) and a bf16
matrix-vector product over a matrix far larger than the caches (weight streaming). A compute stage's floor is
its FLOPs / the matmul rate; a decoding step's floor is the LM's weight bytes / the streaming rate (every
weight is read once per step, whatever the batch). One answer's floor = encoders + adapters + prefill compute
floors + decoding steps x the step floor; media decoding and prompt building have no floor of their own and
count in the end-to-end time.

- batch 1: ``predict_clip`` end to end (media decode, prompt, encoders, generate), and ``model.generate`` on
  ready tensors against the sum of its stages (what generate adds);
- batch B: ``predict_samples`` over 2B clips in batches of B with the media read by a worker process into a
  fresh media cache (decoding overlaps generation); per clip = time / 2B against floor / 2B.

Measure on an idle machine with one thread setting throughout (the README's numbers used the defaults);
on a shared machine, read the ratios of one run, never absolute times.

    python benchmarks/infer_latency.py [--tokens 32] [--batch 8] [--repeat 3] [--threads N]

Prompts use the offline tiny tokenizer (the real Qwen tokenizer needs the hub); its ids fit Qwen's
vocabulary and the prompt lengths are the real ones.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from emox_core.inference import GenerationSettings, clip_sample, extract_media, predict_clip, predict_samples
from emox_core.media.synthesize import synthetic_clip
from emox_core.samples import sample_to_example

MEDIA_KEYS = ("pixel_values", "input_values", "pixel_values_videos")
SUBTITLE = "I can't believe you did that."


def median_time(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _linear_pointwise_flops(input_shape: Any, weight_shape: Any, *_: Any, **__: Any) -> int:
    """oneDNN's fused Linear (the towers after ``prepare_for_inference``): the product's 2 x rows x out x in
    (FlopCounterMode has no formula for it and would count it as 0)."""
    return 2 * math.prod(input_shape[:-1]) * weight_shape[0] * weight_shape[1]


def flops(fn: Callable[[], Any]) -> int:
    mapping = {}
    if hasattr(torch.ops.mkldnn, "_linear_pointwise"):
        mapping[torch.ops.mkldnn._linear_pointwise] = _linear_pointwise_flops
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        fn()
    return counter.get_total_flops()


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux: KiB


# ---------------------------------------------------------------------------------------------- machine
@dataclass
class Machine:
    matmul_flops: float  # FLOP/s of a large bf16 matrix product
    stream_bytes: float  # bytes/s of a bf16 matrix-vector product over a matrix far larger than the caches


def measure_machine(repeat: int = 5) -> Machine:
    """The best of ``repeat`` runs of each (the hardware's capability, not an average under load)."""
    a, b = torch.randn(4096, 4096, dtype=torch.bfloat16), torch.randn(4096, 4096, dtype=torch.bfloat16)
    torch.mm(a, b)
    best = min(median_time(lambda: torch.mm(a, b), 1) for _ in range(repeat))
    weight = torch.randn(32768, 8192, dtype=torch.bfloat16)  # 512 MiB
    vector = torch.randn(1, 8192, dtype=torch.bfloat16)
    torch.nn.functional.linear(vector, weight)
    stream = min(median_time(lambda: torch.nn.functional.linear(vector, weight), 1) for _ in range(repeat))
    return Machine(2 * 4096**3 / best, weight.numel() * 2 / stream)


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
    floor: float | None = None


def stage_rows(model: Any, processor: Any, clips: list[Path], machine: Machine, tokens: int, repeat: int
               ) -> tuple[list[Row], float, dict[str, float]]:
    """Every stage of answering ``clips`` in one batch, each run alone; per clip. Returns the rows, the compute
    floor of one batch and the decoding numbers."""
    size = len(clips)
    samples = [clip_sample(clip, "MER", subtitle=SUBTITLE) for clip in clips]
    media = [extract_media(clip, processor) for clip in clips]
    examples = [sample_to_example(s, processor, m, with_target=False) for s, m in zip(samples, media, strict=True)]
    batch = processor(examples, padding_side="left")
    lm = model.language_model
    rows = [Row("media decode (8 frames, faces, 16 kHz audio)",
                median_time(lambda: [extract_media(c, processor) for c in clips], repeat)),
            Row("processor (prompt, tensors)", median_time(lambda: processor(examples, padding_side="left"), repeat))]
    towers = {"CLIP-L (8 frames)": {"pixel_values": batch["pixel_values"]},
              "HuBERT-L (8 x 2 s)": {"input_values": batch["input_values"]},
              "Swin-B face (8 frames)": {"pixel_values_videos": batch["pixel_values_videos"]}}
    for name, inputs in towers.items():
        run = lambda inputs=inputs: model.encode_media(**inputs)  # noqa: E731
        run()
        rows.append(Row(name, median_time(run, repeat), flops(run)))
    features = model.encode_media(*(batch[k] for k in MEDIA_KEYS)).as_kwargs()
    text = {k: batch[k] for k in ("input_ids", "attention_mask", "modality_mask")}
    splice = lambda: model.embed_inputs(**text, **features)  # noqa: E731
    with torch.no_grad():
        rows.append(Row("adapters + splice", median_time(splice, repeat), flops(splice)))
        embeds, mask = splice()
        positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
        prefill = lambda: lm(inputs_embeds=embeds, attention_mask=mask, position_ids=positions,  # noqa: E731
                             use_cache=True, logits_to_keep=1)
        prompt = int(batch["input_ids"].shape[1])
        rows.append(Row(f"LM prefill ({prompt} tokens, first token)", median_time(prefill, repeat), flops(prefill)))
        step = statistics.median(decode_steps(lm, prefill(), mask, tokens) for _ in range(repeat))
    for row in rows:
        row.seconds /= size
        if row.flops is not None:
            row.flops /= size
            row.floor = row.flops / machine.matmul_flops
    compute_floor = sum(row.floor or 0.0 for row in rows) * size
    step_floor = lm_weight_bytes(model) / machine.stream_bytes
    return rows, compute_floor, {"step": step, "step_floor": step_floor}


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


def print_table(title: str, rows: list[Row], decode: dict[str, float], size: int, tokens: int) -> None:
    per = "per clip, " if size > 1 else ""
    print(f"\n### {title}\n\n| stage ({per}run alone) | time | GFLOP | floor | time / floor |\n|---|---|---|---|---|")
    for row in rows:
        if row.flops is None:
            print(f"| {row.name} | {row.seconds:.3f} s | - | - | - |")
        else:
            print(f"| {row.name} | {row.seconds:.3f} s | {row.flops / 1e9:.0f} | {row.floor:.3f} s | "
                  f"{row.seconds / row.floor:.2f} |")
    step, floor = decode["step"], decode["step_floor"]
    print(f"| LM decoding step, batch {size} ({tokens - 1} steps) | {step * 1000:.0f} ms "
          f"({step / size * 1000:.0f} ms per clip) | - | {floor * 1000:.0f} ms | {step / floor:.2f} |")


# ---------------------------------------------------------------------------------------------- parts
def batch_one(model: Any, processor: Any, clip: Path, machine: Machine, tokens: int, repeat: int) -> float:
    rows, compute_floor, decode = stage_rows(model, processor, [clip], machine, tokens, repeat)
    print_table("Batch 1: one 6-s clip, MER", rows, decode, 1, tokens)
    settings = GenerationSettings(max_new_tokens=tokens)
    batch = processor([sample_to_example(clip_sample(clip, "MER", subtitle=SUBTITLE), processor,
                                         extract_media(clip, processor), with_target=False)], padding_side="left")
    kwargs = settings.generate_kwargs("MER", processor)
    counter = CallCounter(model)
    generate = median_time(lambda: model.generate(**batch, **kwargs), repeat)
    steps = counter.calls // repeat - 1
    counter.calls = 0
    end_to_end = median_time(lambda: predict_clip(model, processor, clip, "MER", subtitle=SUBTITLE,
                                                  settings=settings), repeat)
    counter.handle.remove()
    model_stages = sum(r.seconds for r in rows[2:]) + steps * decode["step"]
    floor = compute_floor + steps * decode["step_floor"]
    print(f"\n{steps + 1} new tokens. model.generate on ready tensors {generate:.2f} s vs the sum of its stages "
          f"{model_stages:.2f} s ({generate / model_stages:.2f}x)")
    print(f"predict_clip end to end {end_to_end:.2f} s; floor {floor:.2f} s (compute {compute_floor:.2f} s + "
          f"{steps} steps x {decode['step_floor'] * 1000:.0f} ms); **end to end / floor {end_to_end / floor:.2f}**")
    return end_to_end / floor


def batch_many(model: Any, processor: Any, clips: list[Path], machine: Machine, tokens: int, repeat: int,
               folder: Path) -> float:
    size = len(clips) // 2
    rows, compute_floor, decode = stage_rows(model, processor, clips[:size], machine, tokens, repeat)
    print_table(f"Batch {size}: {size} 6-s clips per generate call, MER", rows, decode, size, tokens)
    samples = [clip_sample(clip, "MER", root=folder, subtitle=SUBTITLE) for clip in clips]
    settings = GenerationSettings(max_new_tokens=tokens)
    counter = CallCounter(model)
    runs = []
    for run in range(repeat):
        start = time.perf_counter()
        predict_samples(model, samples, folder, folder / f"preds-{run}.jsonl", size, processor=processor,
                        settings=settings, cache_dir=folder / f"media-cache-{run}", media_workers=1)
        runs.append(time.perf_counter() - start)
    counter.handle.remove()
    steps = counter.calls // repeat - 2  # two generate calls per run
    per_clip = statistics.median(runs) / len(clips)
    floor = (2 * compute_floor + steps * decode["step_floor"]) / len(clips)
    print(f"\npredict_samples over {len(clips)} clips in batches of {size} (media read by a worker into a fresh "
          f"cache): {per_clip:.2f} s per clip; floor {floor:.2f} s per clip (compute {compute_floor / size:.2f} s + "
          f"{steps} steps x {decode['step_floor'] * 1000:.0f} ms / {len(clips)}); "
          f"**end to end / floor {per_clip / floor:.2f}**")
    return per_clip / floor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=32, help="New tokens per answer (at most).")
    parser.add_argument("--batch", type=int, default=8, help="Clips per generate call in the batched part.")
    parser.add_argument("--repeat", type=int, default=3, help="Runs per measurement (median).")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default).")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {load:.2f} at start")
    machine = measure_machine()
    print(f"machine: bf16 matmul (4096^3) {machine.matmul_flops / 1e12:.2f} TFLOP/s; bf16 matrix-vector streaming "
          f"(512 MiB matrix) {machine.stream_bytes / 1e9:.1f} GB/s")
    with tempfile.TemporaryDirectory(prefix="emox-bench-") as tmp:
        folder = Path(tmp)
        clips = [synthetic_clip(folder / f"clip{i}.mp4", duration=6.0, size=(360, 640), pitch_hz=150.0 + 20 * i,
                                color=(40 + 25 * i % 200, 90, 160), seed=i) for i in range(2 * args.batch)]
        start = time.perf_counter()
        model, processor = build_2b()
        params = sum(p.numel() for p in model.parameters())
        print(f"model: {params / 1e9:.3f} B parameters (random, bf16, prepared for inference), built in "
              f"{time.perf_counter() - start:.0f} s; LM weights read per decoding step "
              f"{lm_weight_bytes(model) / 1e9:.2f} GB")
        predict_clip(model, processor, clips[0], "MER", settings=GenerationSettings(max_new_tokens=2))  # warm-up
        one = batch_one(model, processor, clips[0], machine, args.tokens, args.repeat)
        many = batch_many(model, processor, clips, machine, args.tokens, args.repeat, folder)
    print(f"\npeak RSS {peak_rss_gb():.2f} GB; load average {os.getloadavg()[0]:.2f} at the end")
    print(f"end-to-end / floor: {one:.2f} (batch 1), {many:.2f} (batch {args.batch})")


if __name__ == "__main__":
    main()
