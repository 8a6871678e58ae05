"""Benchmark (not a test): one P2E phase-3 training step at the real architecture sizes (random weights), with
and without the frozen-encoder feature cache, and the peak memory of the step.

Two models, both with the real CLIP ViT-L/14, HuBERT-Large and FaceXFormer (Swin-B) encoders and the real
adapters: ``--text full`` (default) adds the real Qwen2.5-1.5B architecture (the whole 2.3B model), ``--text
small`` a 2-layer LM of the real width (what the encoders cost next to a cheap LM). A step is forward + backward
+ AdamW on the phase-3 trainables (adapters, fusion, LoRA) at batch 3, with 8 frames and 16 s of audio per
sample; "cached" steps read the encoders' outputs (computed once, outside the timing) instead of the media.

    python benchmarks/train_step.py --text full --dtype bf16 --steps 1
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from emox_core.curriculum import PHASES
from emox_core.modeling.loading import build_model
from emox_core.modeling.presets import nano_emox_2b_config
from emox_core.modeling.tokenizer import build_tiny_tokenizer
from emox_core.processing import Example


def build(text: str, dtype: torch.dtype) -> tuple[torch.nn.Module, object]:
    """The model with frozen weights in ``dtype`` and trainables (adapters, LoRA) in float32, as training has it."""
    config = nano_emox_2b_config()
    if text == "small":
        config.text_config.num_hidden_layers = 2
    tokenizer = build_tiny_tokenizer()  # offline; the prompt's token ids only index the (random) embedding
    torch.manual_seed(0)
    model, processor = build_model(config, tokenizer=tokenizer, dtype=dtype)
    for name, param in model.named_parameters():
        if "lora_" in name:
            param.data = param.data.float()
    model.set_trainable(PHASES["3"].trainable)
    model.train()
    return model, processor


def step_time(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: dict, steps: int,
              dtype: torch.dtype) -> float:
    """Mean seconds of ``steps`` steps after one warm-up step (bf16: under CPU autocast, as the Trainer runs)."""
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return float(np.mean(times[1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", choices=("full", "small"), default="full")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--batch", type=int, default=3)
    parser.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32",
                        help="frozen weights' dtype (bf16 halves the 2.3B model's 9.3 GB)")
    args = parser.parse_args()
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    console = Console()
    start = time.perf_counter()
    model, processor = build(args.text, dtype)
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    console.print(f"built {params / 1e9:.3f} B parameters ({trainable / 1e6:.1f} M trainable) in "
                  f"{time.perf_counter() - start:.0f} s; {torch.get_num_threads()} threads")
    rng = np.random.default_rng(0)
    prompt = processor.build_prompt("MER", subtitle="I can't believe you did that.")
    examples = [Example(prompt, "The most likely label is happy.",
                        frames=rng.integers(0, 255, (8, 224, 224, 3), dtype=np.uint8),
                        audio=(0.1 * rng.standard_normal(16 * 16000)).astype(np.float32))
                for _ in range(args.batch)]
    media_batch = processor(examples)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    encode_start = time.perf_counter()
    features = model.encode_media(media_batch["pixel_values"], media_batch["input_values"],
                                  media_batch["pixel_values_videos"])
    encode_s = time.perf_counter() - encode_start
    cached_batch = {k: v for k, v in media_batch.items()
                    if k not in ("pixel_values", "input_values", "pixel_values_videos")}
    cached_batch.update(features.as_kwargs())
    feature_bytes = sum(v[0].numel() * 4 for v in features.as_kwargs().values())
    cached = step_time(model, optimizer, cached_batch, args.steps, dtype)
    cached_peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    raw = step_time(model, optimizer, media_batch, args.steps, dtype)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

    table = Table(title=f"phase-3 step, batch {args.batch}, text={args.text}, CPU {args.dtype}")
    for column in ("", "s/step", "steps/s"):
        table.add_column(column, justify="right")
    table.add_row("media (encoders run)", f"{raw:.2f}", f"{1 / raw:.3f}")
    table.add_row("feature cache", f"{cached:.2f}", f"{1 / cached:.3f}")
    table.add_row("speed-up", f"{raw / cached:.2f}x", "")
    console.print(table)
    console.print(f"encoders alone (batch {args.batch}, no grad): {encode_s:.2f} s; cached features: "
                  f"{feature_bytes / 1e3:.0f} KB a sample (fp32); peak RSS {cached_peak_gb:.1f} GB after the "
                  f"cached steps, {peak_gb:.1f} GB after the media steps")


if __name__ == "__main__":
    main()
