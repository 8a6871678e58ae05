"""One saved-model format: the adapters directory every writer produces (save_model, training, conversion) and
the one loader that reads it back exactly, including the seeded random towers of the tiny preset and the
directories older emox versions wrote."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from emox_core.errors import EmoxError
from emox_core.modeling.adapters import ADAPTERS_FORMAT, read_adapters
from emox_core.modeling.loading import build_model, build_preset_model, load_model, save_model
from emox_core.modeling.presets import tiny_config
from emox_core.modeling.tokenizer import build_tiny_tokenizer
from emox_core.processing import Example


def _batch(processor) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(0)
    example = Example(processor.build_prompt("MER", subtitle="Leave me alone."), "anger",
                      frames=rng.integers(0, 255, (8, 40, 40, 3), dtype=np.uint8),
                      audio=rng.standard_normal(16000 * 2).astype(np.float32))
    return processor([example])


def _logits(model, processor) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(**_batch(processor)).logits


def _train_a_little(model) -> None:
    """Move every adapter and LoRA weight away from its initial value, so a reload that misses one shows."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name in model.adapter_state_dict():
                param.add_(torch.randn_like(param) * 0.05)


def test_tiny_model_reloads_exactly_from_its_adapters_directory(tmp_path: Path) -> None:
    torch.manual_seed(123)  # the global RNG must not matter: the random backbones are seeded by the config
    model, processor = build_preset_model("tiny", config_overrides={"backbone_seed": 5})
    _train_a_little(model)
    reference = _logits(model, processor)
    save_model(model, processor, tmp_path, adapters_only=True, phase="3")
    assert sorted(p.name for p in tmp_path.glob("*.safetensors")) == ["adapters.safetensors"]
    _, metadata, _ = read_adapters(tmp_path)
    assert metadata["emox_format"] == ADAPTERS_FORMAT and metadata["phase"] == "3"
    assert set(metadata["modules"].split(",")) == {"visual_resampler", "speech_resampler", "face_temporal",
                                                   "fusion_encoder", "lora"}
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["backbones"] == {"vision": "random", "speech": "random", "face": "random", "text": "random"}
    assert (config["backbone_seed"], config["tokenizer_source"]) == (5, "emox-tiny")
    torch.manual_seed(999)
    loaded, loaded_processor = load_model(tmp_path)
    assert torch.equal(_logits(loaded, loaded_processor), reference)
    # the config alone (no saved processor) rebuilds the same model: the tokenizer comes from tokenizer_source
    for name in ("processor_config.json", "tokenizer.json", "tokenizer_config.json"):
        (tmp_path / name).unlink()
    rebuilt, rebuilt_processor = load_model(tmp_path)
    assert torch.equal(_logits(rebuilt, rebuilt_processor), reference)


def test_a_model_built_from_configs_alone_is_saved_in_full_only(tmp_path: Path) -> None:
    config = tiny_config(backbones={})
    model, processor = build_model(config, tokenizer=build_tiny_tokenizer())
    with pytest.raises(EmoxError, match="cannot save adapters only: the face, speech, text, vision backbone"):
        save_model(model, processor, tmp_path, adapters_only=True)


def test_training_writes_the_same_format(tmp_path: Path) -> None:
    """A phase output is an adapters directory + recipe.yaml; the model loader reads it without training code."""
    from emox_core.training.checkpoint import build_recipe_model, load_trained, save_trainable
    from emox_core.training.recipe import load_recipe

    recipe = load_recipe("tiny/p2e-phase3", ["model.init_from=null", "model.build_seed=3"])
    model, processor = build_recipe_model(recipe.model)
    _train_a_little(model)
    reference = _logits(model, processor)
    save_trainable(model, processor, recipe, tmp_path)
    _, metadata, _ = read_adapters(tmp_path)
    assert metadata["emox_format"] == ADAPTERS_FORMAT and metadata["phase"] == "3"
    assert json.loads((tmp_path / "config.json").read_text())["backbone_seed"] == 3
    assert torch.equal(_logits(*load_model(tmp_path)), reference)
    assert torch.equal(_logits(*load_trained(tmp_path)[:2]), reference)


def test_directory_written_by_the_old_writer_still_loads(tmp_path: Path) -> None:
    """emox 0.1.0.dev0 wrote a tiny phase output as adapters.safetensors (metadata format/producer/phase),
    config.json without backbone sources, the processor and recipe.yaml; the whole model had been drawn from
    its config under the recipe's build_seed. Such a directory loads through the model loader, inference and
    load_trained, with identical outputs."""
    from safetensors.torch import save

    from emox_core.inference import load_for_inference
    from emox_core.training.checkpoint import load_trained
    from emox_core.training.recipe import load_recipe

    recipe = load_recipe("tiny/p2e-phase2", ["model.init_from=null", "model.build_seed=7"])
    config = tiny_config(backbones={}, tokenizer_source="")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        model, processor = build_model(config, tokenizer=build_tiny_tokenizer())
    _train_a_little(model)
    reference = _logits(model, processor)
    state = {k: v.contiguous() for k, v in model.adapter_state_dict().items()}
    (tmp_path / "adapters.safetensors").write_bytes(
        save(state, metadata={"format": "pt", "producer": "emox", "phase": recipe.phase}))
    saved_config = json.loads(model.config.to_json_string())
    for new_field in ("backbone_seed", "tokenizer_source"):
        saved_config.pop(new_field, None)
    (tmp_path / "config.json").write_text(json.dumps(saved_config))
    processor.save_pretrained(tmp_path)
    recipe.save(tmp_path)
    torch.manual_seed(1)
    assert torch.equal(_logits(*load_model(tmp_path)), reference)
    # inference runs on LoRA merged into the LM weights: equal up to float rounding
    assert torch.allclose(_logits(*load_for_inference(tmp_path, "cpu", "float32")), reference, atol=1e-5)
    assert torch.equal(_logits(*load_trained(tmp_path)[:2]), reference)
