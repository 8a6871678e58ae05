"""What an answer was based on: which inputs reached the language model, and how the fusion gate weighed its
speech-guided experts (each reads one HuBERT layer and one CLIP layer, ``config.fusion_speech_layers[e]`` /
``config.fusion_vision_layers[e]``: 16/12, 18/16, 22/22 in the paper's model).

Presence follows the model's own definition of a missing input: the processor's ``modality_mask``
(frames, audio, face) and the branches the config enables; the fusion token needs both frames and audio
(:meth:`~emox_core.modeling.modeling_nano_emox.NanoEmoXForConditionalGeneration.embed_inputs`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emox_core.modeling.configuration import AUDIO_TOKEN, FACE_TOKEN, FRAME_TOKEN, FUSION_TOKEN

if TYPE_CHECKING:
    from emox_core.media.decode import ClipMedia
    from emox_core.modeling.configuration import NanoEmoXConfig
    from emox_core.modeling.modeling_nano_emox import NanoEmoXForConditionalGeneration
    from emox_core.processing import NanoEmoXProcessor

# The model's inputs by the name users see, with the placeholder token each fills in the prompt.
MODALITY_TOKENS = {"frames": FRAME_TOKEN, "audio": AUDIO_TOKEN, "face": FACE_TOKEN, "fusion": FUSION_TOKEN}
# Column of each in ``modality_mask`` (B, 3), as embed_inputs reads it; fusion has none (frames AND audio).
MASK_COLUMNS = {"frames": 0, "audio": 1, "face": 2}


def modalities_seen(config: NanoEmoXConfig, processor: NanoEmoXProcessor, media: ClipMedia | None
                    ) -> dict[str, bool]:
    """Input name -> whether it reaches the LM for this clip: the model has the branch and the processor marks
    the input present (a clip without audio, an audio-only file: masked)."""
    from emox_core.processing import Example

    present = [False, False, False]
    if media is not None:
        example = Example(prompt="", frames=media.frames, audio=media.waveform, faces=media.faces)
        present = [bool(v) for v in processor.media_tensors([example])["modality_mask"][0]]
    branches = config.token_counts
    seen = {name: MODALITY_TOKENS[name] in branches and present[column] for name, column in MASK_COLUMNS.items()}
    seen["fusion"] = FUSION_TOKEN in branches and present[0] and present[1]
    return seen


def fusion_gate(model: NanoEmoXForConditionalGeneration, row: int = 0) -> list[dict[str, Any]] | None:
    """The gate weights of the last generation's sample ``row``, one entry per expert with its layer pair;
    None when the model has no fusion encoder or has not made a fusion token yet."""
    weights = model.fusion_gate_weights()
    if weights is None:
        return None
    config = model.config
    return [
        {"expert": e, "speech_layer": int(speech), "vision_layer": int(vision), "weight": float(weight)}
        for e, (speech, vision, weight) in enumerate(
            zip(config.fusion_speech_layers, config.fusion_vision_layers, weights[row].tolist(), strict=True))
    ]


def explanation(model: NanoEmoXForConditionalGeneration, processor: NanoEmoXProcessor, media: ClipMedia | None
                ) -> dict[str, Any]:
    """The ``modalities`` and ``fusion_gate`` fields of a prediction record, read right after the model answered
    about ``media`` (the gate is null when the fusion token was masked: it did not take part)."""
    seen = modalities_seen(model.config, processor, media)
    return {"modalities": seen, "fusion_gate": fusion_gate(model) if seen["fusion"] else None}


def explanation_line(record: dict[str, Any]) -> str:
    """One line for people: ``inputs: frames, audio, face, fusion | fusion gate (speech/vision layer): 16/12 0.41,
    ...``; an input the clip lacks (masked) or the model has no branch for is listed as not used."""
    seen = record.get("modalities") or {}
    used = [name for name, on in seen.items() if on]
    unused = [name for name, on in seen.items() if not on]
    line = f"inputs: {', '.join(used) or 'none'}"
    if unused:
        line += f" (not used: {', '.join(unused)})"
    gate = record.get("fusion_gate")
    if gate:
        experts = ", ".join(f"{g['speech_layer']}/{g['vision_layer']} {g['weight']:.2f}" for g in gate)
        line += f" | fusion gate (speech/vision layer): {experts}"
    return line
