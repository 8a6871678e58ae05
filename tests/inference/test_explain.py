"""What an answer was based on (``emox infer --json``: ``modalities`` and ``fusion_gate``), checked against the
model's own definitions: the gate is the softmax of the gate network over the time-mean of the concatenated
expert outputs (official ``MoE_fusion.py``, supplement C.2), one weight per expert in the config's layer pairs;
an input is used when the processor marks it present and the config enables its branch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from emox_core.inference import validate_prediction
from emox_core.modeling.configuration import NanoEmoXConfig
from tests.conftest import run_emox as emox
from tests.inference.conftest import MAX_NEW_TOKENS


def _infer_json(model_dir: Path, clip: Path, capfd: pytest.CaptureFixture[str], task: str = "MER") -> dict:
    assert emox("infer", clip, "--task", task, "--model", model_dir, "--json", "--max-new-tokens", MAX_NEW_TOKENS,
                "--device", "cpu") == 0
    return json.loads(capfd.readouterr().out)


def _gate_from_its_definition(model: Any, processor: Any, clip: Path) -> list[float]:
    """softmax(gate(mean_t(concat_e expert_e(speech_proj(S_e), visual_proj(V_e))))) from the model's modules."""
    from emox_core.inference import clip_sample, extract_media
    from emox_core.samples import sample_to_example

    sample = clip_sample(clip, "MER")
    batch = processor([sample_to_example(sample, processor, extract_media(clip, processor), with_target=False)])
    features = model.encode_media(batch["pixel_values"], batch["input_values"], batch["pixel_values_videos"])
    fusion = model.fusion_encoder
    with torch.no_grad():
        outputs = [expert(fusion.speech_proj(features.speech_fusion[:, e].float()),
                          fusion.visual_proj(features.vision_fusion[:, e].float()))
                   for e, expert in enumerate(fusion.experts)]
        logits = fusion.gate(torch.cat(outputs, dim=-1).mean(dim=1))
    return torch.softmax(logits, dim=-1)[0].tolist()


def test_json_carries_the_gate_per_expert_with_its_layer_pair(model_dir: Path, clips: dict[str, Path],
                                                             loaded: tuple[Any, Any],
                                                             capfd: pytest.CaptureFixture[str]) -> None:
    record = _infer_json(model_dir, clips["normal"], capfd)
    validate_prediction(record)
    config = NanoEmoXConfig.from_pretrained(model_dir)
    gate = record["fusion_gate"]
    assert len(gate) == config.num_fusion_experts
    assert [(g["expert"], g["speech_layer"], g["vision_layer"]) for g in gate] == [
        (e, s, v) for e, (s, v) in enumerate(zip(config.fusion_speech_layers, config.fusion_vision_layers,
                                                  strict=True))]
    weights = [g["weight"] for g in gate]
    assert sum(weights) == pytest.approx(1.0, abs=1e-6)
    assert weights == pytest.approx(_gate_from_its_definition(*loaded, clips["normal"]), abs=1e-6)
    assert record["modalities"] == {"frames": True, "audio": True, "face": True, "fusion": True}


def test_a_clip_without_audio_has_no_fusion_and_no_gate(model_dir: Path, clips: dict[str, Path],
                                                        capfd: pytest.CaptureFixture[str]) -> None:
    record = _infer_json(model_dir, clips["no_audio"], capfd)
    validate_prediction(record)
    assert record["modalities"] == {"frames": True, "audio": False, "face": True, "fusion": False}
    assert record["fusion_gate"] is None


def test_the_human_output_prints_inputs_and_gate_in_one_line(model_dir: Path, clips: dict[str, Path],
                                                             capfd: pytest.CaptureFixture[str]) -> None:
    record = _infer_json(model_dir, clips["normal"], capfd)
    assert emox("infer", clips["normal"], "--task", "MER", "--model", model_dir, "--max-new-tokens",
                MAX_NEW_TOKENS, "--device", "cpu") == 0
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("inputs:")]
    pairs = ", ".join(f"{g['speech_layer']}/{g['vision_layer']} {g['weight']:.2f}" for g in record["fusion_gate"])
    assert lines == [f"inputs: frames, audio, face, fusion | fusion gate (speech/vision layer): {pairs}"]


def test_a_model_without_a_face_branch_reports_face_unused(clips: dict[str, Path]) -> None:
    from emox_core.inference import extract_media
    from emox_core.inference.explain import modalities_seen
    from emox_core.modeling.presets import tiny_config
    from emox_core.modeling.tokenizer import build_tiny_tokenizer
    from emox_core.processing import NanoEmoXProcessor, ProcessorSettings

    config = tiny_config(use_face=False)
    processor = NanoEmoXProcessor(build_tiny_tokenizer(), ProcessorSettings.from_config(config))
    media = extract_media(clips["normal"], processor)
    assert modalities_seen(config, processor, media) == {"frames": True, "audio": True, "face": False,
                                                         "fusion": True}


@pytest.mark.parametrize(("change", "message"), [
    ({"fusion_gate": [{"expert": 0, "speech_layer": 16, "vision_layer": 12, "weight": 1.5}]}, "outside [0, 1]"),
    ({"fusion_gate": [{"expert": 0, "speech_layer": 16, "vision_layer": 12}]}, "'weight' is missing"),
    ({"fusion_gate": [{"expert": "0", "speech_layer": 16, "vision_layer": 12, "weight": 0.5}]}, "expected integer"),
    ({"modalities": {"frames": True, "audio": True, "face": True}}, "'fusion' is missing"),
    ({"modalities": {"frames": 1, "audio": True, "face": True, "fusion": True}}, "expected boolean"),
])
def test_schema_checks_the_new_fields(change: dict, message: str) -> None:
    record = {"id": "a.mp4", "task": "MER", "prediction": "", "label": None, "labels": [], "thinking": None,
              "reply": None, "dataset": None, "model": "m", "generation": {}, "fusion_gate": None}
    validate_prediction(record)  # null gate: the fusion token was not used
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        validate_prediction({**record, **change})
