"""Parameter accounting per branch and per P2E phase, computed on the meta device from configs alone
(no download, no weight allocation): what ``emox info`` prints."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from emox_core.curriculum import PHASES
from emox_core.modeling.configuration import NanoEmoXConfig

BRANCHES = (
    ("vision_tower", "vision encoder (CLIP)", "frozen"),
    ("speech_tower", "speech encoder (HuBERT)", "frozen"),
    ("face_tower", "face encoder (FaceXFormer)", "frozen"),
    ("language_model", "language model", "frozen"),
    ("visual_resampler", "visual Q-Former + projection", "adapter"),
    ("speech_resampler", "speech Q-Former + projection", "adapter"),
    ("face_temporal", "face temporal head + projection", "adapter"),
    ("fusion_encoder", "fusion experts + gate + projection", "adapter"),
    ("lora", "LoRA on the language model", "adapter"),
)


@dataclass
class BranchCount:
    attribute: str
    description: str
    kind: str
    parameters: int
    trainable_by_phase: dict[str, int]


def count_parameters(config: NanoEmoXConfig) -> list[BranchCount]:
    """Per-branch parameter counts and, per phase, how many of them train."""
    from emox_core.modeling.modeling_nano_emox import NanoEmoXForConditionalGeneration

    with torch.device("meta"):
        model = NanoEmoXForConditionalGeneration(config)
    named = dict(model.named_parameters())
    rows = []
    for attribute, description, kind in BRANCHES:
        if attribute == "lora":
            names = [n for n in named if "lora_" in n]
        else:
            names = [n for n in named if n.split(".", 1)[0] == attribute and "lora_" not in n]
        if not names:
            continue
        total = sum(named[n].numel() for n in names)
        per_phase = {key: total if attribute in phase.trainable else 0 for key, phase in PHASES.items()}
        rows.append(BranchCount(attribute, description, kind, total, per_phase))
    return rows
