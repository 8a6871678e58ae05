"""Modality ablation at test time (``emox infer --ablate``, ``emox eval --model ... --ablate``). Expected values
come from the model's definition of a missing input (``embed_inputs``: the input's placeholders zeroed and
masked out of attention; the fusion token goes with frames or audio) and from the same clip decoded without
that input, never from the printed table."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from emox_core.inference.ablation import ABLATIONS, WithoutModality, ablate_clip, table_rows
from emox_core.modeling.configuration import AUDIO_TOKEN, FACE_TOKEN, FRAME_TOKEN, FUSION_TOKEN
from tests.conftest import run_emox as emox

# What the model's docstring says a missing input takes with it.
MASKED_PLACEHOLDERS = {"audio": {AUDIO_TOKEN, FUSION_TOKEN}, "frames": {FRAME_TOKEN, FUSION_TOKEN},
                       "face": {FACE_TOKEN}, "fusion": {FUSION_TOKEN}}


def _batch(processor: Any, clip: Path, drop: str | None = None) -> dict[str, torch.Tensor]:
    """The processor's batch for one MER question about ``clip``; ``drop`` decodes it without frames or audio."""
    from emox_core.inference import clip_sample, extract_media
    from emox_core.samples import sample_to_example

    media = extract_media(clip, processor)
    example = sample_to_example(clip_sample(clip, "MER"), processor, media, with_target=False)
    if drop == "audio":
        example.audio = None
    elif drop == "frames":
        example.frames = None  # the face input keeps its own copy of the frames (raw face mode)
    return processor([example], padding_side="left")


@pytest.mark.parametrize("modality", ABLATIONS)
def test_removing_an_input_masks_exactly_its_placeholders(modality: str, loaded: tuple[Any, Any],
                                                          clips: dict[str, Path]) -> None:
    model, processor = loaded
    batch = _batch(processor, clips["normal"])
    with torch.no_grad():
        embeds, mask = model.embed_inputs(**batch)
        ablated_embeds, ablated_mask = model.embed_inputs(**WithoutModality(model, modality).ablated_inputs(batch))
    ids = model.config.placeholder_token_ids
    removed = torch.zeros_like(batch["input_ids"], dtype=torch.bool)
    for token in MASKED_PLACEHOLDERS[modality]:
        removed |= batch["input_ids"] == ids[token]
    assert removed.sum() > 0 and bool(mask[removed].all())  # they were attended with every input
    assert not bool(ablated_mask[removed].any())
    assert bool((ablated_embeds[removed] == 0).all()) and not bool((embeds[removed] == 0).all())
    assert torch.equal(ablated_mask[~removed], mask[~removed])
    assert torch.equal(ablated_embeds[~removed], embeds[~removed])


@pytest.mark.parametrize("modality", ["audio", "frames"])
def test_removing_an_input_is_the_same_as_a_clip_without_it(modality: str, loaded: tuple[Any, Any],
                                                            clips: dict[str, Path]) -> None:
    model, processor = loaded
    with torch.no_grad():
        ablated = model.embed_inputs(**WithoutModality(model, modality).ablated_inputs(
            _batch(processor, clips["normal"])))
        missing = model.embed_inputs(**_batch(processor, clips["normal"], drop=modality))
    assert torch.equal(ablated[1], missing[1])
    assert torch.equal(ablated[0], missing[0])


@pytest.fixture
def answers_by_audio(monkeypatch: pytest.MonkeyPatch, loaded: tuple[Any, Any]) -> Callable[[str, str], None]:
    """The loaded model's LM "answers" ``heard`` in a row whose audio placeholders are attended, else ``deaf``
    (read from the attention mask the LM really receives), so a table row can only change by masking."""
    model, processor = loaded
    seen: dict[str, torch.Tensor] = {}
    real_embed = model.embed_inputs

    def embed(input_ids: torch.Tensor, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        seen["ids"] = input_ids
        return real_embed(input_ids, *args, **kwargs)

    def script(heard: str, deaf: str) -> None:
        def generate(inputs_embeds: torch.Tensor, attention_mask: torch.Tensor, **_: Any) -> torch.Tensor:
            audio = seen["ids"] == model.config.placeholder_token_ids[AUDIO_TOKEN]
            rows = [processor.tokenizer(heard if bool(m[a].all()) else deaf, add_special_tokens=False).input_ids
                    for m, a in zip(attention_mask, audio, strict=True)]
            width = max(len(r) for r in rows)
            pad = processor.tokenizer.pad_token_id
            return torch.tensor([r + [pad] * (width - len(r)) for r in rows])

        monkeypatch.setattr(model, "embed_inputs", embed)
        monkeypatch.setattr(model.language_model, "generate", generate)
        monkeypatch.setattr("emox_core.inference.load_for_inference", lambda *a, **k: loaded)

    return script


def test_the_table_shows_which_removal_changed_the_label(loaded: tuple[Any, Any], clips: dict[str, Path],
                                                         answers_by_audio: Any) -> None:
    from emox_core.inference import extract_media

    model, processor = loaded
    answers_by_audio("The most likely label is happy.###", "The most likely label is sad.###")
    rows = ablate_clip(model, processor, clips["normal"], "MER", media=extract_media(clips["normal"], processor))
    headers, cells = table_rows(rows, "MER")
    assert headers == ["condition", "masked inputs", "label", "changed"]
    assert cells == [["all inputs", "-", "happy", "-"],
                     ["without audio", "audio, fusion", "sad", "yes"],
                     ["without frames", "frames, fusion", "happy", "no"],
                     ["without face", "face", "happy", "no"],
                     ["without fusion", "fusion", "happy", "no"]]


def test_a_missing_input_is_not_removed_twice(loaded: tuple[Any, Any], clips: dict[str, Path],
                                              answers_by_audio: Any) -> None:
    from emox_core.inference import extract_media

    model, processor = loaded
    answers_by_audio("The most likely label is happy.###", "The most likely label is sad.###")
    clip = clips["no_audio"]
    rows = ablate_clip(model, processor, clip, "MER", media=extract_media(clip, processor))
    _, cells = table_rows(rows, "MER")
    assert cells[0] == ["all inputs", "audio, fusion", "sad", "-"]
    assert cells[1] == ["without audio", "audio, fusion", "(no audio input: same as all inputs)", "-"]
    assert cells[4] == ["without fusion", "audio, fusion", "(no fusion input: same as all inputs)", "-"]
    assert cells[2] == ["without frames", "audio, frames, fusion", "sad", "no"]


def test_infer_ablate_prints_the_table_and_json(model_dir: Path, clips: dict[str, Path], answers_by_audio: Any,
                                                capfd: pytest.CaptureFixture[str]) -> None:
    answers_by_audio("The most likely label is happy.###", "The most likely label is sad.###")
    args = ("infer", clips["normal"], "-t", "MER", "-m", model_dir, "--ablate")
    assert emox(*args) == 0
    out = capfd.readouterr().out
    lines = [" ".join(line.strip("│ ").split()) for line in out.splitlines() if line.startswith("│")]
    assert lines[:2] == ["all inputs │ - │ happy │ -", "without audio │ audio, fusion │ sad │ yes"]
    assert len(lines) == 5
    assert emox(*args, "--json") == 0
    record = json.loads(capfd.readouterr().out)
    assert [(c["condition"], c["label"], c["changed"]) for c in record["conditions"]] == [
        ("all inputs", "happy", None), ("without audio", "sad", True), ("without frames", "happy", False),
        ("without face", "happy", False), ("without fusion", "happy", False)]


def test_ablate_is_for_one_clip(model_dir: Path, clips: dict[str, Path], tmp_path: Path,
                                capfd: pytest.CaptureFixture[str]) -> None:
    assert emox("infer", clips["normal"].parent, "-t", "MER", "-m", model_dir, "--out", tmp_path / "p.jsonl",
                "--ablate") == 1
    assert capfd.readouterr().err.strip().startswith("emox: error: --ablate: one clip only")
    assert emox("eval", "mintrec", "-p", tmp_path / "p.jsonl", "--ablate") == 1
    assert "emox: error: --ablate: needs --model" in capfd.readouterr().err
    assert emox("eval", "mintrec", "--model", model_dir, "--data", tmp_path, "--ablate", "--checkpoints", "1-2") == 1
    assert "emox: error: --ablate: scores one checkpoint" in capfd.readouterr().err


def prepared_mintrec(folder: Path, clip: Path, intent: str, count: int = 3) -> Path:
    """``emox prepare mintrec`` on a raw MIntRec folder of ``count`` copies of ``clip``, all of gold ``intent``."""
    raw = folder / "raw-mintrec"
    (raw / "video").mkdir(parents=True)
    names = [f"S01_E01_{i}" for i in range(1, count + 1)]
    (raw / "test_MIntRec_ann.json").write_text(json.dumps([
        {"messages": [{"content": "What a day."}, {"content": intent}], "videos": [f"/lab/MIntRec/{n}.mp4"]}
        for n in names]))
    for name in names:
        (raw / "video" / f"{name}.mp4").write_bytes(clip.read_bytes())
    assert emox("prepare", "mintrec", raw, folder / "prepared-mintrec") == 0
    return folder / "prepared-mintrec"


def test_eval_ablate_scores_each_condition(tmp_path: Path, clips: dict[str, Path], model_dir: Path,
                                           answers_by_audio: Any, capfd: pytest.CaptureFixture[str]) -> None:
    """MIntRec on three clips whose gold intent is Complain; the scripted model says Complain only when it
    hears the audio, so accuracy is 100 with every input and 0 exactly when the audio is removed."""
    prepared, out = prepared_mintrec(tmp_path, clips["short"], "Complain"), tmp_path / "eval"
    capfd.readouterr()
    answers_by_audio("Complain###", "Thank###")
    assert emox("eval", "mintrec", "--model", model_dir, "--data", prepared, "-g", prepared, "-o", out,
                "--ablate", "--json") == 0
    printed = json.loads(capfd.readouterr().out)
    assert printed["accuracy"] == 100.0
    assert {name: values["accuracy"] for name, values in printed["ablation"].items()} == {
        "without audio": 0.0, "without frames": 100.0, "without face": 100.0, "without fusion": 100.0}
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["ablation"]["conditions"]["without audio"]["masked"] == ["audio", "fusion"]
    condition = json.loads((out / "ablation" / "without-audio" / "metrics.json").read_text())
    assert condition["metrics"]["accuracy"] == 0.0 and condition["provenance"]["protocol"] == saved["protocol"]
