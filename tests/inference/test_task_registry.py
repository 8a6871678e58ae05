"""Tasks own their behaviour (issue 16 §5): a seventh task is one registry entry, and the processor, single-clip
and batch inference, parsing, the predictions schema, manifests and ``emox infer``'s summary line all follow it
without any other file knowing its name. The per-kind behaviour of the six tasks is pinned beside it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emox_core.errors import EmoxError
from emox_core.inference import GenerationSettings, predict_clip, predict_manifest, validate_prediction
from emox_core.tasks import ERG_ANSWER, TASKS, Task, get_task, register_task
from tests.conftest import run_emox as emox
from tests.inference.conftest import read_jsonl

SARCASM = Task(
    name="SAR", identifier="[Sarcasm]", level="understanding",
    questions=("[Sarcasm] Is the speaker sarcastic? Choose one of the candidate labels: {candidate_labels}.",),
    answer_template="The most likely label is {label}.", default_labels=("sarcastic", "sincere"),
    uses_candidates=True, max_new_tokens=5,
)


@pytest.fixture
def sarcasm() -> Iterator[Task]:
    register_task(SARCASM)
    yield SARCASM
    del TASKS["SAR"]


def test_a_seventh_task_runs_through_prompt_inference_and_parsing(sarcasm: Task, loaded: tuple[Any, Any],
                                                                   clips: dict[str, Path], tmp_path: Path) -> None:
    from emox_core.data.manifest import Sample, write_manifest

    model, processor = loaded
    prompt = processor.build_prompt("sar", subtitle="Oh great, another meeting.")
    assert prompt.endswith("<Subtitle>Oh great, another meeting.</Subtitle>. Now, please answer my question based "
                           "on all the provided information. [Sarcasm] Is the speaker sarcastic? Choose one of the "
                           "candidate labels: sarcastic, sincere. ###Assistant: ")
    prediction = predict_clip(model, processor, clips["normal"], "SAR", subtitle="Oh great.",
                              settings=GenerationSettings())
    validate_prediction(prediction.to_record())
    assert prediction.task == "SAR" and prediction.generation["max_new_tokens"] == 5  # the registry's length
    assert sarcasm.parse("The most likely label is sincere.###<|im_end|>").label == "sincere"

    sample = Sample(id="c1", task="SAR", split="test", dataset="mine", media={"video": "normal.mp4", "audio": None},
                    target="The most likely label is sarcastic.", subtitle="Sure, I love waiting.")
    write_manifest(tmp_path / "manifest-test.jsonl", [sample])  # the manifest schema accepts the new task
    report = predict_manifest(model, tmp_path / "manifest-test.jsonl", tmp_path / "preds.jsonl",
                              data_root=clips["normal"].parent, processor=processor,
                              settings=GenerationSettings(max_new_tokens=3))
    assert report.written == 1 and read_jsonl(tmp_path / "preds.jsonl")[0]["task"] == "SAR"


def test_the_cli_prints_the_new_tasks_summary_line(sarcasm: Task, model_dir: Path, clips: dict[str, Path],
                                                   scripted_answer: Any, capfd: pytest.CaptureFixture[str]) -> None:
    scripted_answer("The most likely label is sarcastic.###")
    assert emox("infer", clips["normal"], "-t", "SAR", "-m", model_dir, "--subtitle", "Sure.") == 0
    assert capfd.readouterr().out == "The most likely label is sarcastic.\nlabel: sarcastic\n"


def test_a_task_name_is_registered_once_and_checked() -> None:
    with pytest.raises(EmoxError, match="already registered"):
        register_task(Task(name="mer", identifier="[X]", level="perception", questions=("q",), answer_template="a"))
    with pytest.raises(EmoxError, match="answer kind 'essay'"):
        Task(name="X", identifier="[X]", level="perception", questions=("q",), answer_template="a", answer="essay")
    with pytest.raises(EmoxError, match="inputs \\['situation'\\]"):
        Task(name="X", identifier="[X]", level="perception", questions=("q",), answer_template="a",
             inputs={"ctx": "situation"})


@pytest.mark.parametrize(("task", "text", "label", "labels", "summary"), [
    ("MER", "The most likely label is sad.", "sad", ["sad"], "label: sad"),
    ("MIR", "inform", "inform", ["inform"], "label: inform"),
    ("MSA", "I cannot tell.", None, [], "label: (none of the candidates)"),
    ("OV-MER", "The character's emotional state is {happy, relaxed}.", "happy", ["happy", "relaxed"],
     "labels: happy, relaxed"),
    ("ERI", "She smiles.", None, [], None),
])
def test_each_answer_kind_parses_and_summarises(task: str, text: str, label: str | None, labels: list[str],
                                                summary: str | None) -> None:
    parsed = get_task(task).parse(text + "###")
    assert (parsed.text, parsed.label, parsed.labels) == (text, label, labels)
    assert get_task(task).summary(parsed) == summary


def test_the_reply_kind_hides_its_thinking_unless_asked() -> None:
    erg = get_task("ERG")
    parsed = erg.parse(ERG_ANSWER.format(event_scenario="a loss", speaker_emotion="sad", emotion_cause="the job",
                                         goal_to_response="comfort", response="I'm here for you."))
    assert parsed.label == "sad" and parsed.reply == "I'm here for you." and erg.summary(parsed) is None
    assert erg.shown_answer(parsed) == "I'm here for you."
    assert erg.shown_answer(parsed, show_thinking=True).startswith("<think>Firstly, the event scenario")
    assert erg.kind.has_thinking and not get_task("MER").kind.has_thinking


def test_generation_length_layout_and_inputs_come_from_the_registry() -> None:
    from emox_core.data.manifest import Sample
    from emox_core.samples import layout_for

    lengths = {name: GenerationSettings().max_tokens(name) for name in ("MSA", "MER", "MIR", "OV-MER", "ERI", "ERG")}
    assert lengths == {"MSA": 32, "MER": 32, "MIR": 32, "OV-MER": 64, "ERI": 512, "ERG": 512}
    assert GenerationSettings(max_new_tokens=9).max_tokens("ERG") == 9

    def sample(task: str, dataset: str) -> Sample:
        return Sample(id="x", task=task, split="test", dataset=dataset, media={"video": "a.mp4", "audio": None},
                      target="")

    assert layout_for(sample("ERG", "mine"), "audio_text") == "dialogue"
    assert layout_for(sample("MER", "avamerg")) == "dialogue"  # AvaMERG's turns are dialogues
    assert layout_for(sample("MER", "mine"), "face_frame") == "face_frame"
    assert get_task("ERG").input_fields(subtitle="I failed.", context="exams") == {
        "context": "exams", "current_user_input": "I failed."}
