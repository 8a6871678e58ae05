"""A synthetic MER corpus whose emotion label is carried by the media only (audio pitch and energy, frame
colour and motion) under one neutral subtitle: a model can only learn it by reading the audio and the frames.
Used by the tiny recipes, the training tests and the demo; ``shuffle_media`` makes the control corpus whose
media are shuffled between samples (the labels then carry no media signal)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emox_core.data.manifest import Sample, write_manifest
from emox_core.tasks import get_task

SYNTHETIC_SUBTITLE = "I am telling you about my day."
# label -> (frame colour RGB, square motion per second, tone pitch Hz, tone energy)
SYNTHETIC_CUES: dict[str, tuple[tuple[int, int, int], float, float, float]] = {
    "happy": ((240, 210, 20), 3.0, 1000.0, 0.6),
    "sad": ((30, 50, 220), 0.2, 150.0, 0.1),
    "angry": ((220, 20, 20), 4.0, 500.0, 0.9),
    "neutral": ((40, 190, 70), 1.0, 280.0, 0.3),
}
SYNTHETIC_LABELS = tuple(SYNTHETIC_CUES)


def synthetic_samples(num_samples: int, labels: Sequence[str] = SYNTHETIC_LABELS, split: str = "train",
                      shuffle_media: bool = False, seed: int = 0, prefix: str = "syn") -> list[Sample]:
    """The manifest rows: sample ``i`` has label ``labels[i % len(labels)]`` and clip ``clips/{prefix}-{i}.mp4``."""
    task = get_task("MER")
    media = [f"clips/{prefix}-{i:05d}.mp4" for i in range(num_samples)]
    if shuffle_media:
        media = [media[j] for j in np.random.default_rng(seed + 1).permutation(num_samples)]
    out = []
    for i in range(num_samples):
        label = labels[i % len(labels)]
        out.append(Sample(
            id=f"{prefix}-{i:05d}", task="MER", split=split, dataset="synthetic",
            media={"video": media[i], "audio": None}, target=task.answer_template.format(label=label),
            subtitle=SYNTHETIC_SUBTITLE, prompt_fields={"candidate_labels": ", ".join(labels)}, labels=[label],
            meta={"clip_label": labels[int(media[i].rsplit("-", 1)[1].split(".")[0]) % len(labels)]}))
    return out


def write_synthetic_corpus(out_dir: str | os.PathLike[str], num_samples: int, *, seed: int = 0,
                           split: str = "train", labels: Sequence[str] = SYNTHETIC_LABELS,
                           shuffle_media: bool = False, prefix: str = "syn", duration: float = 2.0,
                           size: tuple[int, int] = (48, 48), fps: float = 8.0,
                           manifest_name: str = "manifest.jsonl") -> Path:
    """Write ``num_samples`` small mp4 clips (video + audio track) and the manifest; returns the manifest.

    Each clip's cues get a little random jitter (seeded), so samples of one label are not identical.
    Clips already present are kept, so a second manifest over the same clips (``shuffle_media``, another
    ``manifest_name``) costs nothing.
    """
    from emox_core.media.synthesize import synthetic_clip

    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    for i in range(num_samples):
        color, motion, pitch, energy = SYNTHETIC_CUES[labels[i % len(labels)]]
        jitter = rng.uniform(-1, 1, size=5)
        path = out / "clips" / f"{prefix}-{i:05d}.mp4"
        if path.is_file():
            continue
        synthetic_clip(path, duration=duration, fps=fps, size=size,
                       color=tuple(int(np.clip(c + 12 * j, 0, 255)) for c, j in zip(color, jitter[:3], strict=True)),
                       motion=motion * (1 + 0.1 * jitter[3]), pitch_hz=pitch * (1 + 0.03 * jitter[4]),
                       energy=energy, seed=seed * 100_003 + i)
    manifest = out / manifest_name
    write_manifest(manifest, synthetic_samples(num_samples, labels, split, shuffle_media, seed, prefix))
    return manifest


def candidate_losses(model: Any, processor: Any, examples: Sequence[Any], candidates: Sequence[str]) -> np.ndarray:
    """(n_examples, n_candidates) mean target-token loss of each candidate answer; the media of an example
    go through the encoders once and are shared by its candidates."""
    import torch

    from emox_core.processing import Example

    rows = []
    model.eval()
    with torch.no_grad():
        for ex in examples:
            batch = processor([Example(ex.prompt, c, ex.frames, ex.audio, ex.faces) for c in candidates])
            media = [batch.pop(k)[:1] if k in batch else None
                     for k in ("pixel_values", "input_values", "pixel_values_videos")]
            features = model.encode_media(*media).as_kwargs()
            batch.update({k: v.expand(len(candidates), *v.shape[1:]) for k, v in features.items()})
            labels = batch.pop("labels")[:, 1:]
            logits = model(**batch).logits[:, :-1].float()
            loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels.clamp(min=0), reduction="none")
            mask = (labels != -100).float()
            rows.append(((loss * mask).sum(1) / mask.sum(1)).numpy())
    return np.stack(rows)


def candidate_accuracy(model: Any, processor: Any, examples: Sequence[Any], gold: Sequence[str],
                       labels: Sequence[str] = SYNTHETIC_LABELS) -> float:
    """Accuracy of picking, per example, the label whose answer sentence has the lowest loss (the argmax
    over candidate-label sequences; cheaper than generation and exact for a closed label set)."""
    task = get_task("MER")
    answers = [task.answer_template.format(label=label) for label in labels]
    picked = [labels[j] for j in candidate_losses(model, processor, examples, answers).argmin(1)]
    return float(np.mean([p == g for p, g in zip(picked, gold, strict=True)]))
