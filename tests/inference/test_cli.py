"""``emox infer`` end to end: the printed answer, --json, the one-line errors, folder batch mode."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from emox_core.inference import validate_prediction
from emox_core.tasks import ERG_ANSWER
from tests.conftest import run_emox as emox
from tests.inference.conftest import (
    MAX_NEW_TOKENS,
    TRAINED_SUBTITLE,
    TRAINED_TARGETS,
    read_jsonl,
    subprocess_env,
)


def test_json_output_validates(model_dir: Path, clips: dict[str, Path], capfd: pytest.CaptureFixture[str]) -> None:
    code = emox("infer", clips["no_audio"], "--task", "OV-MER", "--model", model_dir, "--json",
                "--max-new-tokens", MAX_NEW_TOKENS, "--device", "cpu")
    out = capfd.readouterr().out
    assert code == 0
    record = json.loads(out)
    validate_prediction(record)
    assert record["id"] == "no_audio.mp4" and record["media"]["missing"] == ["audio"]


@pytest.mark.parametrize("task", list(TRAINED_TARGETS))
def test_a_trained_model_answers_every_task(task: str, trained_model_dir: Path, clips: dict[str, Path],
                                            capfd: pytest.CaptureFixture[str]) -> None:
    args = ("infer", clips["normal"], "--task", task, "--model", trained_model_dir, "--subtitle", TRAINED_SUBTITLE)
    assert emox(*args, "--json") == 0
    record = json.loads(capfd.readouterr().out)
    validate_prediction(record)
    assert record["prediction"] == TRAINED_TARGETS[task]
    expected = {"MSA": "positive", "MER": "happy", "OV-MER": "happy", "ERI": None, "MIR": "thank", "ERG": "joyful"}
    assert record["label"] == expected[task]
    assert emox(*args) == 0  # streamed
    out = capfd.readouterr().out
    answer = "That sounds wonderful!" if task == "ERG" else TRAINED_TARGETS[task]
    assert out.startswith(answer + "\n")
    if task in ("MSA", "MER", "MIR"):
        assert out.endswith(f"label: {expected[task]}\n")


def test_label_is_printed_after_the_streamed_answer(model_dir: Path, clips: dict[str, Path], scripted_answer: Any,
                                                    capfd: pytest.CaptureFixture[str]) -> None:
    scripted_answer("The most likely label is sad.###")
    assert emox("infer", clips["normal"], "-t", "MER", "-m", model_dir, "--subtitle", "I miss her.") == 0
    assert capfd.readouterr().out == "The most likely label is sad.\nlabel: sad\n"


@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_erg_reply_and_thinking(model_dir: Path, clips: dict[str, Path], scripted_answer: Any, tmp_path: Path,
                                capfd: pytest.CaptureFixture[str], stream: str) -> None:
    scripted_answer(ERG_ANSWER.format(event_scenario="a job loss", speaker_emotion="sad", emotion_cause="the job",
                                      goal_to_response="comfort", response="I'm so sorry. I'm here for you."))
    history = tmp_path / "history.txt"
    history.write_text("speaker: I lost my job.\nlistener: Oh no.\n")
    args = ("infer", clips["normal"], "-t", "ERG", "-m", model_dir, "--history", history, "--subtitle",
            "It was my dream job.", "--context", "work", stream)
    assert emox(*args) == 0
    assert capfd.readouterr().out == "I'm so sorry. I'm here for you.\n"
    assert emox(*args, "--show-thinking") == 0
    out = capfd.readouterr().out
    assert "Secondly, the emotion of the speaker is sad" in out and out.endswith("I'm here for you.\n")


def test_not_a_video_is_one_line_and_exit_1(model_dir: Path, clips: dict[str, Path]) -> None:
    result = subprocess.run([sys.executable, "-m", "emox_cli.main", "infer", str(clips["text"]), "--task", "MER",
                             "--model", str(model_dir)], capture_output=True, text=True, timeout=300,
                            env=subprocess_env())
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"emox: error: {clips['text']}: not a readable video "
                                          "(Invalid data found when processing input)"]
    assert result.stdout == ""


@pytest.mark.parametrize(("args", "message"), [
    (("{missing}", "-t", "MER"), "clip not found"),
    (("{clip}", "-t", "XYZ"), "unknown task 'XYZ'"),
    (("{clip}",), "--task: required"),
    (("{clip}", "-t", "MER", "--temperature", "0"), "--temperature: must be > 0"),
    (("{clip}", "-t", "MER", "--out", "p.jsonl"), "--out: only for a folder"),
    (("{clip}", "-t", "MER", "--device", "cuda:7"), "--device cuda:7"),
    (("{clip}", "-t", "MER", "--model", "{missing}"), "model directory not found"),
])
def test_bad_arguments(args: tuple[str, ...], message: str, model_dir: Path, clips: dict[str, Path],
                       tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    filled = [a.format(clip=clips["short"], missing=tmp_path / "nope") for a in args]
    if "--model" not in filled:
        filled += ["--model", str(model_dir)]
    assert emox("infer", *filled) == 1
    err = capfd.readouterr().err
    assert len(err.splitlines()) == 1 and message in err, err


def test_folder_batch_skips_bad_clips(model_dir: Path, clips: dict[str, Path], tmp_path: Path,
                                      capfd: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "clips"
    folder.mkdir()
    for name in ("short", "no_audio", "text"):
        (folder / clips[name].name).write_bytes(clips[name].read_bytes())
    out = folder / "preds.jsonl"
    args = ("infer", folder, "-t", "MIR", "-m", model_dir, "--out", out, "-b", "2", "--no-progress",
            "--max-new-tokens", MAX_NEW_TOKENS)
    assert emox(*args) == 0
    captured = capfd.readouterr()
    assert sorted(r["id"] for r in read_jsonl(out)) == ["no_audio.mp4", "short.mp4"]
    assert "notes.mp4" in captured.err and "failures:" in captured.out
    failures = json.loads((folder / "preds.failures.json").read_text())
    assert [f["id"] for f in failures] == ["notes.mp4"]
    assert emox(*args) == 0  # rerun: nothing new, the bad clip is retried and still reported
    assert len(read_jsonl(out)) == 2
