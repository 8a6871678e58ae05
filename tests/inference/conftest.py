"""A saved tiny model and real clips of every kind ``emox infer`` must handle (generated, never downloaded)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from emox_core.media.synthesize import synthetic_clip
from emox_core.tasks import ERG_ANSWER

# Short answers keep the random tiny model fast; defaults (512 for ERI/ERG) are for real models.
MAX_NEW_TOKENS = 6


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    """Tiny models run ~20x faster on one thread when the 2 CI cores are shared (OpenMP spin-waits)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def subprocess_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``tiny`` preset with random weights, saved the way a trained checkpoint is."""
    from emox_core.modeling.loading import build_preset_model, save_model

    torch.manual_seed(0)
    model, processor = build_preset_model("tiny")
    return save_model(model, processor, tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture(scope="session")
def loaded(model_dir: Path) -> tuple[Any, Any]:
    from emox_core.inference import load_for_inference

    return load_for_inference(model_dir, "cpu", "auto")


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """name -> file: a normal clip, one without an audio track, a 0.5 s one, a 2-minute low-res one, and a
    text file named .mp4."""
    folder = tmp_path_factory.mktemp("clips")
    paths = {
        "normal": synthetic_clip(folder / "normal.mp4", duration=2.0, size=(64, 64)),
        "no_audio": synthetic_clip(folder / "no_audio.mp4", duration=2.0, size=(64, 64), audio=False,
                                   color=(60, 200, 60)),
        "short": synthetic_clip(folder / "short.mp4", duration=0.5, size=(64, 64), pitch_hz=330.0),
        "long": synthetic_clip(folder / "long.mp4", duration=120.0, fps=5.0, size=(32, 32)),
    }
    paths["text"] = folder / "notes.mp4"
    paths["text"].write_text("this is not a video\n")
    return paths


TRAINED_SUBTITLE = "What a lovely surprise!"
TRAINED_TARGETS = {
    "MSA": "The most likely label is positive.",
    "MER": "The most likely label is happy.",
    "OV-MER": "The character's emotional state is happy, relaxed.",
    "ERI": "She smiles and her voice is bright.",
    "MIR": "thank",
    "ERG": ERG_ANSWER.format(event_scenario="a gift", speaker_emotion="joyful", emotion_cause="a surprise",
                             goal_to_response="share the joy", response="That sounds wonderful!"),
}


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory: pytest.TempPathFactory, clips: dict[str, Path]) -> Path:
    """A tiny model trained (overfit, ~15 s) to answer each task about the ``normal`` clip, saved and reloaded
    like any checkpoint: stands in for a ``tiny-*`` recipe run in end-to-end tests."""
    from emox_core.inference import clip_sample, extract_media
    from emox_core.modeling.loading import build_preset_model, save_model
    from emox_core.samples import sample_to_example

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model, processor = build_preset_model("tiny")
    media = extract_media(clips["normal"], processor)
    examples = []
    for task, target in TRAINED_TARGETS.items():
        sample = clip_sample(clips["normal"], task, subtitle=TRAINED_SUBTITLE)
        example = sample_to_example(sample, processor, media, with_target=False)
        example.target = target
        examples.append(example)
    batch = processor(examples)
    features = model.encode_media(*(batch.pop(k) for k in ("pixel_values", "input_values", "pixel_values_videos")))
    model.language_model.requires_grad_(True)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    model.train()
    for _ in range(80):
        model(**batch, **features.as_kwargs()).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    torch.set_num_threads(threads)
    return save_model(model, processor, tmp_path_factory.mktemp("trained") / "tiny-overfit")


@pytest.fixture
def scripted_answer(monkeypatch: pytest.MonkeyPatch, loaded: tuple[Any, Any]) -> Callable[[str], None]:
    """Make the model "say" a given text (token by token through any streamer), to test what the CLI
    and the parsing do with a trained model's answers without training one."""
    model, processor = loaded

    def script(text: str) -> None:
        ids = processor.tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids

        def generate(inputs_embeds: torch.Tensor, streamer: Any = None, **_: Any) -> torch.Tensor:
            if streamer is not None:
                streamer.put(ids[:, :0])
                for token in ids[0]:
                    streamer.put(token.view(1))
                streamer.end()
            return ids.expand(inputs_embeds.shape[0], -1)

        monkeypatch.setattr(model.language_model, "generate", generate)
        monkeypatch.setattr("emox_core.inference.load_for_inference", lambda *a, **k: loaded)

    return script


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def manifest(tmp_path: Path, clips: dict[str, Path]) -> Iterator[Path]:
    """A manifest over the clips folder: 5 readable samples (several tasks) and one that is not a video."""
    from emox_core.data.manifest import Sample, write_manifest

    root = clips["normal"].parent
    rows = [("s1", "MER", "normal"), ("s2", "MER", "no_audio"), ("s3", "MSA", "short"), ("s4", "ERG", "normal"),
            ("s5", "MER", "short"), ("bad", "MER", "text")]
    samples = [
        Sample(id=i, task=t, split="test", dataset="synthetic", media={"video": clips[c].name, "audio": None},
               target="", subtitle="I can't believe it.",
               prompt_fields={"context": "a trip", "current_user_input": "hi"} if t == "ERG" else {})
        for i, t, c in rows
    ]
    path = tmp_path / "manifest-test.jsonl"
    write_manifest(path, samples)
    (tmp_path / "stats.json").write_text(json.dumps({"data_root": str(root)}))
    yield path
