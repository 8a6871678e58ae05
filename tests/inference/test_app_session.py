"""``emox app`` without a browser: the session streams exactly what ``emox infer`` answers, folds ERG's chain of
empathy out of the reply, and gives the CLI's one-line errors; the views show the model's real inputs."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from emox_core.app.session import AppModel, Question
from emox_core.app.views import face_items, frame_items, gate_html, inputs_html, waveform_image
from emox_core.tasks import ERG_ANSWER
from tests.conftest import run_emox as emox


@pytest.fixture
def app(loaded: tuple[Any, Any]) -> AppModel:
    return AppModel(*loaded, name="tiny")


def test_media_first_then_the_streamed_answer_then_the_record(app: AppModel, clips: dict[str, Path],
                                                              scripted_answer: Any) -> None:
    from emox_core.inference import extract_media, predict_clip
    from emox_core.inference.explain import explanation

    scripted_answer("The most likely label is sad.###")
    updates = list(app.ask(Question(str(clips["normal"]), "MER", subtitle="I miss her.")))
    assert updates[0].media is not None and updates[0].answer == "" and not updates[0].done
    streamed = [u.answer for u in updates[1:-1]]
    assert len(streamed) > 1 and all(b.startswith(a) for a, b in zip(streamed, streamed[1:], strict=False))
    final = updates[-1]
    assert final.done and final.error is None
    assert final.answer == "The most likely label is sad." and final.label_line == "label: sad"
    media = extract_media(clips["normal"], app.processor)
    expected = predict_clip(app.model, app.processor, clips["normal"], "MER", subtitle="I miss her.", media=media,
                            model_name="tiny")
    assert final.record == {**expected.to_record(), **explanation(app.model, app.processor, media)}


def test_erg_reply_streams_without_the_chain_of_empathy(app: AppModel, clips: dict[str, Path],
                                                        scripted_answer: Any) -> None:
    scripted_answer(ERG_ANSWER.format(event_scenario="a move", speaker_emotion="lonely", emotion_cause="no friends",
                                      goal_to_response="comfort", response="You will find your people."))
    question = Question(str(clips["normal"]), "ERG", subtitle="I do not know anyone here.", context="a new city",
                        history="speaker: I moved last month.\nlistener: How is it going?")
    updates = list(app.ask(question))
    assert all("<think>" not in u.answer and "Firstly" not in u.answer for u in updates)
    final = updates[-1]
    assert final.answer == "You will find your people."
    assert final.thinking.startswith("Firstly, the event scenario of this conversation is: a move")
    assert final.label_line == "speaker emotion (from the chain of empathy): lonely"


def test_a_bad_upload_gives_the_clis_one_line_error(app: AppModel, model_dir: Path, clips: dict[str, Path],
                                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capfd: pytest.CaptureFixture[str]) -> None:
    upload = tmp_path / "gradio-cache" / "3f2a" / clips["text"].name  # where the page's server keeps an upload
    upload.parent.mkdir(parents=True)
    shutil.copy(clips["text"], upload)
    updates = list(app.ask(Question(str(upload), "MER")))
    assert len(updates) == 1 and updates[0].done
    capfd.readouterr()  # the decoder's own log lines (the server's console)
    monkeypatch.chdir(clips["text"].parent)
    assert emox("infer", clips["text"].name, "-t", "MER", "-m", model_dir) == 1
    assert [updates[0].error] == capfd.readouterr().err.splitlines()


@pytest.mark.parametrize(("question", "error"), [
    (Question(None, "MER"), "emox: error: clip: upload a video (or record one) first"),
    (Question("{clip}", "ERG", history="hello there"),
     "emox: error: dialogue history:1: expected 'speaker: text' or 'listener: text'"),
    (Question("{clip}", "XYZ"), "emox: error: unknown task 'XYZ'"),
])
def test_bad_questions_are_one_line(question: Question, error: str, app: AppModel, clips: dict[str, Path]) -> None:
    question.clip = question.clip and question.clip.format(clip=clips["normal"])
    updates = list(app.ask(question))
    assert len(updates) == 1 and updates[0].error.startswith(error)


def test_the_dialogue_fields_only_reach_erg(app: AppModel, clips: dict[str, Path], scripted_answer: Any) -> None:
    scripted_answer("The most likely label is happy.###")
    updates = list(app.ask(Question(str(clips["normal"]), "MER", context="left over", history="not: parsed")))
    assert updates[-1].error is None and updates[-1].label_line == "label: happy"


def test_views_show_the_model_inputs(app: AppModel, clips: dict[str, Path]) -> None:
    from emox_core.inference import extract_media
    from emox_core.inference.explain import explanation

    media = extract_media(clips["normal"], app.processor)
    frames = frame_items(media)
    assert len(frames) == len(media.frames) == 8
    factor = frames[0][0].shape[0] // media.frames.shape[1]
    assert np.array_equal(frames[0][0][::factor, ::factor], media.frames[0])  # the exact pixels, enlarged
    assert frames[1][1] == f"frame 2 · {media.frame_indices[1] / media.fps:.2f} s"
    assert [caption for _, caption in face_items(media, "raw")][0] == "1: full frame (raw face mode)"
    picture = waveform_image(media, app.processor.media_settings())
    assert picture.ndim == 3 and picture.shape[2] == 3 and picture.dtype == np.uint8
    list(app.ask(Question(str(clips["normal"]), "MER")))
    record = explanation(app.model, app.processor, media)
    chart = gate_html(record)
    weights = [float(part.split('"')[0]) for part in chart.split('data-weight="')[1:]]
    assert weights == [g["weight"] for g in record["fusion_gate"]]
    assert chart.count('class="emox-gate-row"') == app.model.config.num_fusion_experts
    assert inputs_html(record).count('data-used="true"') == 4
    assert "not used" in gate_html({**record, "fusion_gate": None})


def test_app_without_the_extra_is_one_line(model_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                           capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "gradio", None)  # as if not installed
    assert emox("app", "--model", model_dir) == 1
    assert capfd.readouterr().err == "emox: error: emox app needs the app extra: pip install 'emox[app]'\n"
