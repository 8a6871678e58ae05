"""The frozen-encoder feature cache: the cached features give the same loss as running the encoders, a cache
built with other settings is refused, and a batch without supervised tokens fails loudly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from emox_core.errors import EmoxError
from tests.training.conftest import tiny_overrides


def _tiny(**config: object) -> tuple[object, object]:
    from emox_core.training.checkpoint import build_recipe_model
    from emox_core.training.recipe import ModelSpec

    return build_recipe_model(ModelSpec(preset="tiny", config=dict(config)))


def test_cached_features_match_the_encoders(corpus: Path, tmp_path: Path) -> None:
    from emox_core.training.data import Collator, TrainingSet, load_sources
    from emox_core.training.features import FeatureCache, feature_key, fill_cache
    from emox_core.training.recipe import DataSource

    model, processor = _tiny()
    cache = FeatureCache(tmp_path / "features", feature_key(model, processor))
    sources = load_sources({"s": DataSource(data_root=str(corpus))})
    cached = TrainingSet(sources, processor, cache)
    cached.items = cached.items[:3]
    assert fill_cache(cache, model, processor, cached) == 3
    assert fill_cache(cache, model, processor, cached) == 0
    entry = next((tmp_path / "features" / "entries").rglob("*.safetensors"))
    assert entry.stat().st_size < 100_000
    raw = TrainingSet(sources, processor)
    collate = Collator(processor)
    with_features = collate([cached[i] for i in range(3)])
    with_media = collate([raw[i] for i in range(3)])
    assert "vision_features" in with_features and "pixel_values" not in with_features
    assert "pixel_values" in with_media
    for batch in (with_features, with_media):
        for key in ("sample_index", "sample_question", "skipped_index"):
            batch.pop(key)
    with torch.no_grad():
        assert torch.allclose(model(**with_features).loss, model(**with_media).loss, atol=1e-5)


def test_a_cache_with_another_key_is_refused(tmp_path: Path) -> None:
    from emox_core.training.features import FeatureCache, feature_key, key_hash

    model, processor = _tiny()
    FeatureCache(tmp_path, feature_key(model, processor))
    other_model, other_processor = _tiny(vision_feature_layer=-3)
    other = feature_key(other_model, other_processor)
    with pytest.raises(EmoxError, match=f"built with key .* need {key_hash(other)}.*selection"):
        FeatureCache(tmp_path, other)
    torch.manual_seed(1)
    reweighted, _ = _tiny()
    with torch.no_grad():
        reweighted.vision_tower.post_layernorm.weight.add_(0.5)
    with pytest.raises(EmoxError, match="towers"):
        FeatureCache(tmp_path, feature_key(reweighted, processor))


def test_a_batch_without_supervised_tokens_fails(corpus: Path, feature_dir: Path, tmp_path: Path) -> None:
    from emox_core.training.recipe import load_recipe
    from emox_core.training.trainer import run_training

    lines = (corpus / "manifest.jsonl").read_text().splitlines()
    blank = tmp_path / "blank.jsonl"
    blank.write_text("".join(json.dumps({**json.loads(line), "target": ""}) + "\n" for line in lines))
    recipe = load_recipe("tiny/p2e-phase3", tiny_overrides(corpus, feature_dir, tmp_path / "run", **{
        "data.synthetic.manifest": str(blank), "max_samples": 4}))
    with pytest.raises(EmoxError, match="no supervised token"):
        run_training(recipe, quiet=True)


def test_prepare_features_command(corpus: Path, feature_dir: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    from emox_cli.prepare_features import features

    features(overrides=tiny_overrides(corpus, feature_dir, tmp_path / "unused"), phase=None, recipe="tiny/p2e-phase3")
    assert f"{feature_dir}: " in capsys.readouterr().out
    assert (feature_dir / "feature_key.json").is_file()
