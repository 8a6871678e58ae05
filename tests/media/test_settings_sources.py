"""One source for each setting (issue 16 §6): one function finds a manifest's data root; the media defaults live in
``MediaSettings`` alone; ``emox prepare media --model/--recipe`` prepares exactly what that model reads, so training
and inference find the clips in the cache."""

from __future__ import annotations

import dataclasses
import inspect
import json
from pathlib import Path

import pytest

from emox_core.data.manifest import manifest_data_root
from emox_core.errors import EmoxError
from emox_core.media.settings import MediaSettings
from tests.conftest import run_emox


def test_a_manifests_data_root_explicit_then_stats_then_its_folder(tmp_path: Path) -> None:
    manifest = tmp_path / "prepared" / "manifest-train.jsonl"
    manifest.parent.mkdir()
    assert manifest_data_root(manifest) == tmp_path / "prepared"
    (tmp_path / "prepared" / "stats.json").write_text(json.dumps({"data_root": "/data/raw/MIntRec"}))
    assert manifest_data_root(manifest) == Path("/data/raw/MIntRec")
    assert manifest_data_root(manifest, tmp_path / "elsewhere") == tmp_path / "elsewhere"
    (tmp_path / "prepared" / "stats.json").write_text("{not json")
    with pytest.raises(EmoxError, match="stats.json: not a readable stats.json"):
        manifest_data_root(manifest)


def test_training_inference_and_prepare_media_share_it(tmp_path: Path) -> None:
    from emox_core.inference import predict
    from emox_core.training.recipe import DataSource

    manifest = tmp_path / "manifest-train.jsonl"
    (tmp_path / "stats.json").write_text(json.dumps({"data_root": str(tmp_path / "raw")}))
    assert DataSource(manifest=str(manifest)).root() == tmp_path / "raw"
    assert DataSource(manifest=str(manifest), data_root="/x").root() == Path("/x")
    assert not hasattr(predict, "manifest_data_root") or predict.manifest_data_root is manifest_data_root


def test_the_media_defaults_come_from_media_settings() -> None:
    from emox_core.modeling.configuration import NanoEmoXConfig
    from emox_core.processing import ProcessorSettings, media_settings_for

    defaults = MediaSettings()
    config = inspect.signature(NanoEmoXConfig.__init__).parameters
    assert (config["num_frames"].default, config["image_size"].default, config["sampling_rate"].default,
            config["audio_segments"].default, config["audio_segment_seconds"].default) == (
        defaults.frames, defaults.image_size, defaults.sample_rate, defaults.audio_segments, defaults.segment_seconds)
    assert media_settings_for(ProcessorSettings()) == defaults
    assert media_settings_for(ProcessorSettings.from_config(NanoEmoXConfig())) == defaults


def _fingerprints(cache: Path) -> set[str]:
    return {p.parent.name for p in cache.glob("*/settings.json")}


def test_prepare_media_takes_the_settings_of_a_model_or_a_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    from emox_core.modeling.loading import build_preset_model, save_model
    from emox_core.training.prerequisites import recipe_media_settings
    from emox_core.training.recipe import load_recipe
    from emox_core.training.synthetic import write_synthetic_corpus

    corpus = tmp_path / "corpus"
    write_synthetic_corpus(corpus, 4)
    torch.manual_seed(0)
    model, processor = build_preset_model("tiny", config_overrides={"num_frames": 4})
    model_dir = save_model(model, processor, tmp_path / "model", adapters_only=True)
    assert run_emox("prepare", "media", corpus / "clips", "--model", model_dir, "-c", tmp_path / "a", "-j", "1",
                    "--no-progress") == 0
    expected = MediaSettings(frames=4, image_size=32)  # the tiny model reads 4 frames of 32 px
    assert _fingerprints(tmp_path / "a") == {expected.fingerprint()}
    assert run_emox("prepare", "media", corpus / "clips", "--model", model_dir, "--frames", "6", "-c",
                    tmp_path / "b", "-j", "1", "--no-progress") == 0  # a flag given overrides the model's
    assert _fingerprints(tmp_path / "b") == {dataclasses.replace(expected, frames=6).fingerprint()}

    monkeypatch.chdir(tmp_path)
    recipe = [f"--recipe={tmp_path / 'r.yaml'}"]
    (tmp_path / "r.yaml").write_text(f"extends: tiny/p2e-phase3\nmodel: {{init_from: null}}\nmedia_cache: "
                                     f"{tmp_path / 'c'}\ndata: {{synthetic: {{data_root: {corpus}}}}}\n")
    assert run_emox("prepare", "media", *recipe, "-j", "1", "--no-progress") == 0  # every clip of its manifests
    settings = recipe_media_settings(load_recipe(str(tmp_path / "r.yaml")))
    assert _fingerprints(tmp_path / "c") == {settings.fingerprint()}
    assert len(list((tmp_path / "c").glob("*/clips/*/*.npz"))) == 4
    capsys.readouterr()
    assert run_emox("prepare", "media", corpus, "--model", model_dir, *recipe) == 1
    assert "give one" in capsys.readouterr().err
    assert run_emox("prepare", "media") == 1
    assert "--recipe NAME" in capsys.readouterr().err
