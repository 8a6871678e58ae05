"""predict_clip on real generated clips: every task, the edge-case clips, parsing, devices and dtypes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from emox_core.errors import EmoxError
from emox_core.inference import (
    GenerationSettings,
    extract_media,
    load_for_inference,
    predict_clip,
    read_history,
    resolve_device,
    resolve_dtype,
    validate_prediction,
)
from emox_core.inference.runtime import visible_answer
from emox_core.tasks import ERG_ANSWER, TASK_NAMES
from tests.inference.conftest import MAX_NEW_TOKENS

SHORT = GenerationSettings(max_new_tokens=MAX_NEW_TOKENS)


@pytest.mark.parametrize("task", TASK_NAMES)
def test_every_task_answers_with_a_valid_record(task: str, loaded: tuple[Any, Any], clips: dict[str, Path]) -> None:
    model, processor = loaded
    media = extract_media(clips["normal"], processor)
    context = "a trip" if task == "ERG" else ""
    first = predict_clip(model, processor, clips["normal"], task, subtitle="What a day!", media=media,
                         settings=SHORT, context=context, model_name="tiny")
    again = predict_clip(model, processor, clips["normal"], task, subtitle="What a day!", media=media,
                         settings=SHORT, context=context, model_name="tiny")
    record = first.to_record()
    validate_prediction(record)
    assert record["task"] == task and record["id"] == "normal.mp4" and record["model"] == "tiny"
    assert record["generation"]["do_sample"] is False and record["generation"]["max_new_tokens"] == MAX_NEW_TOKENS
    assert first == again  # greedy by default: deterministic


@pytest.mark.parametrize(("clip", "missing", "seconds"), [("no_audio", ["audio"], 2.0), ("short", [], 0.5),
                                                          ("long", [], 120.0)])
def test_edge_clips_mask_what_is_missing(clip: str, missing: list[str], seconds: float, loaded: tuple[Any, Any],
                                         clips: dict[str, Path]) -> None:
    model, processor = loaded
    prediction = predict_clip(model, processor, clips[clip], "MER", settings=SHORT)
    assert prediction.media is not None
    assert prediction.media["missing"] == missing
    assert prediction.media["video_seconds"] == pytest.approx(seconds, abs=0.25)
    validate_prediction(prediction.to_record())


def test_an_audio_file_masks_frames_and_face(loaded: tuple[Any, Any], tmp_path: Path) -> None:
    from emox_core.media.synthesize import synthetic_waveform, write_wav

    model, processor = loaded
    wav = write_wav(tmp_path / "voice.wav", synthetic_waveform(1.5))
    prediction = predict_clip(model, processor, wav, "MSA", settings=SHORT)
    assert prediction.media is not None and prediction.media["missing"] == ["video", "face"]


def test_options_a_task_does_not_read_are_refused(loaded: tuple[Any, Any], clips: dict[str, Path]) -> None:
    model, processor = loaded
    with pytest.raises(EmoxError, match="--labels: task ERI has no candidate labels"):
        predict_clip(model, processor, clips["short"], "ERI", labels="a,b", settings=SHORT)
    with pytest.raises(EmoxError, match="--history: only ERG"):
        predict_clip(model, processor, clips["short"], "MER", history=[{"role": "speaker", "text": "hi"}])


def test_a_text_file_named_mp4_is_a_one_line_user_error(loaded: tuple[Any, Any], clips: dict[str, Path]) -> None:
    model, processor = loaded
    with pytest.raises(EmoxError, match="notes.mp4: not a readable video") as info:
        predict_clip(model, processor, clips["text"], "MER", settings=SHORT)
    assert "\n" not in str(info.value)


def test_parsing_of_trained_answers(loaded: tuple[Any, Any], clips: dict[str, Path], scripted_answer: Any) -> None:
    model, processor = loaded
    media = extract_media(clips["normal"], processor)
    scripted_answer("The most likely label is happy.### and more")
    mer = predict_clip(model, processor, clips["normal"], "MER", media=media)
    assert (mer.prediction, mer.label, mer.labels) == ("The most likely label is happy.", "happy", ["happy"])
    scripted_answer("The most likely label is fear.")
    assert predict_clip(model, processor, clips["normal"], "MER", labels="joy, fear", media=media).label == "fear"
    scripted_answer("The character's emotional state is happy, relaxed.")
    ov = predict_clip(model, processor, clips["normal"], "OV-MER", media=media)
    assert ov.labels == ["happy", "relaxed"]
    scripted_answer(ERG_ANSWER.format(event_scenario="a trip", speaker_emotion="joyful", emotion_cause="a gift",
                                      goal_to_response="share joy", response="That sounds wonderful!"))
    erg = predict_clip(model, processor, clips["normal"], "ERG", subtitle="I got a gift!", media=media)
    assert erg.reply == "That sounds wonderful!" and erg.label == "joyful"
    assert erg.thinking is not None and erg.thinking.startswith("Firstly, the event scenario")


def test_streamed_text_is_the_visible_answer(loaded: tuple[Any, Any], clips: dict[str, Path],
                                             scripted_answer: Any) -> None:
    from emox_core.inference import answer_streamer

    model, processor = loaded
    media = extract_media(clips["normal"], processor)
    scripted_answer("<think>Firstly, sad.</think>\n I am here for you.### garbage")
    pieces: list[str] = []
    predict_clip(model, processor, clips["normal"], "ERG", media=media,
                 streamer=answer_streamer(processor, pieces.append, hide_thinking=True))
    assert "".join(pieces).strip() == "I am here for you."


def test_visible_answer_never_shows_text_it_would_take_back() -> None:
    assert visible_answer("The label is happy.#", hide_thinking=False, final=False) == "The label is happy."
    assert visible_answer("The label is happy.##", hide_thinking=False, final=True) == "The label is happy.##"
    assert visible_answer("<thi", hide_thinking=True, final=False) == ""
    assert visible_answer("<think>x</think>\n reply<th", hide_thinking=True, final=False) == "reply"
    assert visible_answer("<think>unfinished", hide_thinking=True, final=True) == ""


def test_generation_settings_are_explicit_and_checked(loaded: tuple[Any, Any]) -> None:
    _, processor = loaded
    greedy = GenerationSettings().generate_kwargs("ERG", processor)
    assert greedy["do_sample"] is False and greedy["max_new_tokens"] == 512 and greedy["stop_strings"] == ["###"]
    assert greedy["top_k"] is None and greedy["temperature"] is None
    sampled = GenerationSettings(do_sample=True, top_p=0.9).generate_kwargs("MER", processor)
    assert (sampled["top_p"], sampled["top_k"], sampled["max_new_tokens"]) == (0.9, 0, 32)
    with pytest.raises(EmoxError, match="--temperature"):
        GenerationSettings(temperature=0)


def test_sampling_is_reproducible_with_a_seed(loaded: tuple[Any, Any], clips: dict[str, Path]) -> None:
    model, processor = loaded
    media = extract_media(clips["short"], processor)
    sample = GenerationSettings(max_new_tokens=MAX_NEW_TOKENS, do_sample=True, temperature=1.5, seed=3)
    runs = [predict_clip(model, processor, clips["short"], "ERI", media=media, settings=sample) for _ in range(2)]
    assert runs[0].prediction == runs[1].prediction


def test_device_and_dtype_choice() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("bf16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(EmoxError, match="--dtype"):
        resolve_dtype("int3", torch.device("cpu"))
    if not torch.cuda.is_available():
        with pytest.raises(EmoxError, match="no CUDA GPU"):
            resolve_device("cuda")
        assert resolve_device("auto").type in ("cpu", "mps")


def test_bf16_model_runs(model_dir: Path, clips: dict[str, Path]) -> None:
    model, processor = load_for_inference(model_dir, "cpu", "bfloat16")
    assert model.language_model.dtype == torch.bfloat16
    assert model.visual_resampler.query_tokens.dtype == torch.float32  # adapters stay float32
    prediction = predict_clip(model, processor, clips["short"], "MSA", settings=SHORT)
    validate_prediction(prediction.to_record())


def test_history_files(tmp_path: Path) -> None:
    text = tmp_path / "h.txt"
    text.write_text("speaker: I lost my job.\nlistener: Oh no, I'm sorry.\n\n")
    assert read_history(text) == [{"role": "speaker", "text": "I lost my job."},
                                  {"role": "listener", "text": "Oh no, I'm sorry."}]
    as_json = tmp_path / "h.json"
    as_json.write_text('[{"role": "speaker", "text": "hi"}]')
    assert read_history(as_json) == [{"role": "speaker", "text": "hi"}]
    text.write_text("narrator: once upon a time\n")
    with pytest.raises(EmoxError, match=r"h.txt:1: expected 'speaker: text'"):
        read_history(text)
    as_json.write_text('{"role": "speaker"}')
    with pytest.raises(EmoxError, match="h.json: expected a list"):
        read_history(as_json)


def test_schema_rejects_broken_records() -> None:
    good = {"id": "a", "task": "MER", "prediction": "x", "label": None, "labels": [], "thinking": None,
            "reply": None, "dataset": None, "model": "m", "generation": {}}
    validate_prediction(good)
    for broken, message in (({**good, "task": "XYZ"}, "task"), ({**good, "labels": "a"}, "labels"),
                            ({k: v for k, v in good.items() if k != "prediction"}, "'prediction' is missing"),
                            ({**good, "extra": 1}, "unknown field 'extra'"), ({**good, "id": ""}, "id")):
        with pytest.raises(ValueError, match=message):
            validate_prediction(broken)
