"""The P2E (Perception-to-Empathy) curriculum: which parts train in each phase (paper §3.2, supplement D).

The official configs (waHAHJIAHAO/Nano-EmoX @ b08f985 ``configs/phase*.yaml``) also leave the face
temporal attention trainable in phase 1.1 and keep three unused layers trainable everywhere; emox trains
exactly the parts each phase is about.
"""

from __future__ import annotations

from dataclasses import dataclass

from emox_core.errors import EmoxError


@dataclass(frozen=True)
class Phase:
    key: str
    title: str
    trainable: tuple[str, ...]


PHASES: dict[str, Phase] = {
    p.key: p
    for p in (
        Phase("1.1", "speech alignment", ("speech_resampler",)),
        Phase("1.2", "visual + face alignment", ("visual_resampler", "face_temporal")),
        Phase("2", "cross-modal fusion pre-training", ("visual_resampler", "speech_resampler", "face_temporal",
                                                        "fusion_encoder")),
        Phase("3", "multitask instruction tuning", ("visual_resampler", "speech_resampler", "face_temporal",
                                                     "fusion_encoder", "lora")),
    )
}


def get_phase(key: str) -> Phase:
    if key not in PHASES:
        raise EmoxError(f"unknown phase {key!r}: choose one of {', '.join(PHASES)}")
    return PHASES[key]
