"""A freshly built model starts where the official one starts: LoRA is a no-op (its LM computes exactly what
the bare LM computes, on every build path), and each new module holds the official initial values.

Expected values come from the official code's formulas (waHAHJIAHAO/Nano-EmoX @ b08f985; notes §1.4-1.6, §1.8):
BERT init N(0, 0.02) inside the Q-Formers and for the query tokens; ``nn.Embedding``'s N(0, 1) for the
resampler positions; ``torch.randn`` for the face queries; torch's Linear default (kaiming-uniform weights,
uniform biases, both within 1/sqrt(fan_in)) for the projectors, the face MLP and the whole fusion encoder;
``nn.MultiheadAttention``'s xavier-uniform in-projection with zero biases; peft's LoRA (A kaiming-uniform
within 1/sqrt(fan_in), B zeros).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from emox_core.modeling.modeling_nano_emox import ADAPTER_MODULES

# Widths large enough for the statistics to be tight (the tiny preset's adapters are 16-64 wide).
WIDE = {"qformer_hidden_size": 128, "qformer_intermediate_size": 256, "qformer_num_heads": 4,
        "face_hidden_size": 128, "fusion_hidden_size": 128, "face_config": {"fusion_dim": 64}}


def _tiny(**overrides: object):
    from emox_core.modeling.loading import build_preset_model

    torch.manual_seed(0)
    return build_preset_model("tiny", config_overrides=overrides)


def _bare_lm(model) -> nn.Module:
    """The LM without LoRA: a new model of the same config holding the base weights (peft's ``base_layer``)."""
    from transformers import AutoModelForCausalLM

    state = {k.replace(".base_layer.", "."): v for k, v in model.language_model.state_dict().items()
             if "lora_" not in k}
    bare = AutoModelForCausalLM.from_config(model.config.text_config)
    bare.load_state_dict(state)
    return bare.eval()


def _same_logits(lm: nn.Module, bare: nn.Module) -> None:
    ids = torch.randint(0, bare.config.vocab_size, (2, 37), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ours = lm.eval()(input_ids=ids).logits[..., :bare.config.vocab_size]
        theirs = bare(input_ids=ids).logits
    assert torch.equal(ours, theirs), float((ours - theirs).abs().max())


def _strip_adapters(directory: Path) -> None:
    """Turn a full save into a directory without adapters: the backbones' and the LM's weights only."""
    from safetensors.torch import load_file, save_file

    file = next(directory.glob("model*.safetensors"))
    state = load_file(str(file))
    kept = {k: v for k, v in state.items() if "lora_" not in k and k.split(".")[0] not in ADAPTER_MODULES}
    assert len(kept) < len(state)
    save_file(kept, str(file), metadata={"format": "pt"})


def test_lm_of_a_model_built_from_configs_is_the_bare_lm() -> None:
    model, _ = _tiny()
    _same_logits(model.language_model, _bare_lm(model))


def test_lm_of_a_model_built_from_backbones_is_the_saved_lm(tiny_backbones: dict[str, str]) -> None:
    from transformers import AutoModelForCausalLM

    from emox_core.modeling.loading import build_model
    from emox_core.modeling.presets import tiny_config

    torch.manual_seed(0)
    model, _ = build_model(tiny_config(), tiny_backbones)
    _same_logits(model.language_model, AutoModelForCausalLM.from_pretrained(tiny_backbones["text"]))
    _check_official_values(model, tight=False)


def test_from_pretrained_of_a_directory_without_adapters(tmp_path: Path) -> None:
    from emox_core.modeling.loading import load_model, save_model

    model, processor = _tiny()
    save_model(model, processor, tmp_path / "full")
    loaded, _ = load_model(tmp_path / "full")  # complete: every weight comes back as saved
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    save_model(model, processor, tmp_path / "bare")
    _strip_adapters(tmp_path / "bare")
    loaded, _ = load_model(tmp_path / "bare")  # adapters and LoRA missing: initialised, never N(0, 0.02)
    _same_logits(loaded.language_model, _bare_lm(model))
    _check_official_values(loaded, tight=False)


def test_new_modules_start_at_the_official_initial_values() -> None:
    model, _ = _tiny(**WIDE)
    _check_official_values(model, tight=True)


# ----------------------------------------------------------------------------------------------- statistics
def _close(actual: float, expected: float, n: int, tight: bool, what: str) -> None:
    """``actual`` (a std over n values) within 5 standard errors (relative 1/sqrt(2n)), or a factor 1.5 for
    the narrow tiny-preset layers."""
    tolerance = 5 / math.sqrt(2 * n) if tight else 0.5
    assert abs(actual / expected - 1) < tolerance, (what, actual, expected, n)


def _normal(param: torch.Tensor, std: float, tight: bool, what: str) -> None:
    values = param.detach().float().flatten()
    assert abs(float(values.mean())) < 5 * std / math.sqrt(values.numel()) + (0 if tight else std / 4), what
    _close(float(values.std()), std, values.numel(), tight, what)


def _uniform(param: torch.Tensor, bound: float, tight: bool, what: str) -> None:
    values = param.detach().float().flatten()
    assert float(values.abs().max()) <= bound + 1e-7, what
    _close(float(values.std()), bound / math.sqrt(3), values.numel(), tight, what)


def _default_linear(layer: nn.Linear, tight: bool, what: str) -> None:
    bound = 1 / math.sqrt(layer.in_features)
    _uniform(layer.weight, bound, tight, f"{what}.weight")
    bias = layer.bias.detach()
    assert float(bias.abs().max()) <= bound and bool(bias.ne(0).any()), f"{what}.bias"


def _default_attention(attention: nn.MultiheadAttention, tight: bool, what: str) -> None:
    d = attention.embed_dim
    _uniform(attention.in_proj_weight, math.sqrt(6 / (d + 3 * d)), tight, f"{what}.in_proj_weight")
    assert not attention.in_proj_bias.any() and not attention.out_proj.bias.any(), what
    _uniform(attention.out_proj.weight, 1 / math.sqrt(d), tight, f"{what}.out_proj.weight")


def _check_official_values(model, tight: bool) -> None:
    # LoRA: B exactly zero, A kaiming-uniform within 1/sqrt(fan_in) (peft's default)
    from peft.tuners.lora import LoraLayer

    layers = [m for m in model.language_model.modules() if isinstance(m, LoraLayer)]
    assert layers
    for layer in layers:
        assert not layer.lora_B["default"].weight.any()
        a = layer.lora_A["default"].weight
        assert float(a.detach().abs().max()) <= 1 / math.sqrt(a.shape[1]) + 1e-7
    for name in ("visual_resampler", "speech_resampler"):
        resampler = getattr(model, name)
        _normal(resampler.position_embedding.weight, 1.0, tight, f"{name}.position_embedding")
        _normal(resampler.query_tokens, 0.02, tight, f"{name}.query_tokens")
        _default_linear(resampler.projector, tight, f"{name}.projector")
        for sub_name, sub in resampler.qformer.named_modules():
            if isinstance(sub, nn.Linear):
                _normal(sub.weight, 0.02, tight, f"{name}.qformer.{sub_name}")
                assert not sub.bias.any()
            elif isinstance(sub, nn.LayerNorm):
                assert bool((sub.weight == 1).all()) and not sub.bias.any()
    face = model.face_temporal
    _normal(face.query, 1.0, tight, "face_temporal.query")
    _default_attention(face.attention, tight, "face_temporal.attention")
    _default_linear(face.projector[0], tight, "face_temporal.projector.0")
    _default_linear(face.projector[3], tight, "face_temporal.projector.3")
    fusion = model.fusion_encoder
    for sub_name, sub in fusion.named_modules():
        if isinstance(sub, nn.MultiheadAttention):
            _default_attention(sub, tight, f"fusion_encoder.{sub_name}")
        elif isinstance(sub, nn.Linear) and not sub_name.endswith("out_proj"):
            _default_linear(sub, tight, f"fusion_encoder.{sub_name}")
        elif isinstance(sub, nn.LayerNorm):
            assert bool((sub.weight == 1).all()) and not sub.bias.any()


@pytest.mark.parametrize("module", ADAPTER_MODULES)
def test_official_init_draws_again_and_is_seeded(module: str) -> None:
    model, _ = _tiny()
    target = getattr(model, module)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    torch.manual_seed(5)
    target.official_init()
    first = {k: v.clone() for k, v in target.state_dict().items()}
    torch.manual_seed(5)
    target.official_init()
    assert all(torch.equal(first[k], v) for k, v in target.state_dict().items())
    assert any(not torch.equal(first[k], before[k]) for k in before if first[k].ne(0).any())
