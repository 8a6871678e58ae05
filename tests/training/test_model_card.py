"""``emox export`` writes a Hugging Face model card that ``huggingface_hub``'s own parser reads (offline): the
metadata the hub shows (base models, datasets, license, pipeline tag, model-index from ``emox eval``), the P2E
recipe of every phase of the run, and the SHA-256 of every file. Expected values come from the run's own files
(each phase's ``recipe.yaml``, the ``metrics.json`` emox eval wrote, the exported files' bytes)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from emox_core.modeling.model_card import base_models, training_datasets, verify_files
from tests.conftest import run_emox as emox
from tests.inference.test_ablation import prepared_mintrec
from tests.training.conftest import tiny_overrides


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    from emox_core.media.synthesize import synthetic_clip

    return synthetic_clip(tmp_path / "clip.mp4", duration=1.0, size=(32, 32))


def test_export_writes_a_card_the_hub_parser_reads(corpus: Path, feature_dir: Path, clip: Path,
                                                   tmp_path: Path) -> None:
    from huggingface_hub import ModelCard

    from emox_core.modeling.modeling_nano_emox import NanoEmoXForConditionalGeneration

    first, last = tmp_path / "runs" / "phase1-speech", tmp_path / "runs" / "phase3"
    assert emox("train", "--recipe", "tiny/p2e-phase1-speech", "--quiet",
                *tiny_overrides(corpus, feature_dir, first)) == 0
    assert emox("train", "--recipe", "tiny/p2e-phase3", "--quiet",
                *tiny_overrides(corpus, feature_dir, last, **{"model.init_from": str(first)})) == 0
    data = prepared_mintrec(tmp_path, clip, "Complain")
    assert emox("eval", "mintrec", "--model", last, "--data", data, "-g", data, "-o", last / "eval-mintrec",
                "--json") == 0
    out = tmp_path / "exported"
    assert emox("export", last, out, "--license", "apache-2.0", "--name", "nano-emox-tiny") == 0

    card = ModelCard.load(out / "README.md")
    meta = card.data
    assert (meta.license, meta.pipeline_tag, meta.library_name) == ("apache-2.0", "video-text-to-text", "emox")
    assert meta.base_model is None  # the tiny preset's backbones are seeded random weights, not hub models
    assert meta.datasets == ["emox-synthetic"]
    metrics = json.loads((last / "eval-mintrec" / "metrics.json").read_text())
    assert meta.model_name == "nano-emox-tiny"
    assert [(r.dataset_type, r.metric_type, r.metric_value, r.metric_config) for r in meta.eval_results] == [
        ("mintrec", row["key"], row["ours"], f"protocol {metrics['protocol']}") for row in metrics["rows"]]

    recipes = [yaml.safe_load((d / "recipe.yaml").read_text()) for d in (first, last)]
    headings = [line for line in card.text.splitlines() if line.startswith("### Phase")]
    assert headings == [f"### Phase {r['phase']}" + (f": {r['name']}" if r.get("name") else "") for r in recipes]
    for recipe in recipes:
        assert f"- max_samples: `{recipe['max_samples']}`" in card.text
        assert f"- trainable: `{recipe['trainable']}`" in card.text

    files = meta.to_dict()["emox"]["files"]
    on_disk = sorted(p.name for p in out.iterdir() if p.name != "README.md")
    assert sorted(files) == on_disk and "model.safetensors" in files
    for name, info in files.items():
        assert info["sha256"] == hashlib.sha256((out / name).read_bytes()).hexdigest()
        assert f"| `{name}` | {info['bytes']} | `{info['sha256']}` |" in card.text
    assert verify_files(out) == []
    NanoEmoXForConditionalGeneration.from_pretrained(out)  # what someone loading it from the hub runs
    with open(out / "config.json", "a") as handle:
        handle.write(" ")
    assert verify_files(out) == ["config.json: SHA-256 differs from the card"]


def test_base_models_are_the_backbones_named_by_hub_id(tmp_path: Path) -> None:
    from emox_core.modeling.presets import NANO_EMOX_2B_BACKBONES, nano_emox_2b_config

    config = nano_emox_2b_config()
    assert base_models(config) == [NANO_EMOX_2B_BACKBONES[k] for k in ("vision", "speech", "face", "text")]
    (tmp_path / "Qwen").mkdir()
    (tmp_path / "Qwen" / "local-lm").mkdir()
    config.backbones = {"vision": "random", "speech": str(tmp_path / "hubert"), "face": "kartiknarayan/facexformer",
                        "text": "Qwen/local-lm"}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)  # "Qwen/local-lm" is a local folder here, not a hub id
        assert base_models(config) == ["kartiknarayan/facexformer"]


def test_datasets_are_the_prepared_folders_of_the_recipes() -> None:
    from emox_core.training.recipe import load_recipe

    recipe = load_recipe("p2e-phase3").to_dict()
    expected = []
    for source in recipe["data"].values():
        folder = Path(source["manifest"]).parent.name
        if source["weight"] > 0 and folder not in expected:
            expected.append(folder)
    assert training_datasets([recipe]) == expected
    assert {"mintrec", "avamerg", "mer-caption-plus"} <= set(expected)


def test_a_bad_eval_path_fails_before_anything_is_written(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    from emox_core.modeling.loading import build_preset_model, save_model

    model, processor = build_preset_model("tiny")
    source = save_model(model, processor, tmp_path / "model")
    (tmp_path / "other.json").write_text('{"accuracy": 1}')
    assert emox("export", source, tmp_path / "out", "--eval", tmp_path / "other.json") == 1
    assert "other.json: not a metrics.json written by emox eval" in capfd.readouterr().err
    assert not (tmp_path / "out").exists()
