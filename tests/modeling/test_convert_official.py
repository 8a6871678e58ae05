"""``emox convert official``: an official runner checkpoint becomes an emox adapters directory whose branches
compute what the official modules computed. Expected values: ``shared/fixtures/official-modules`` (outputs
of the official Nano-EmoX code for official-named weights, see its README); the dims come from its
``fixture.json``, so fixtures of other seeds and sizes run unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from emox_core.errors import EmoxError
from emox_core.modeling.loading import load_model
from emox_core.modeling.modeling_nano_emox import MediaFeatures, NanoEmoXForConditionalGeneration
from tests.conftest import official_fixture, run_emox

TOKENS = {"visual.tokens": "<FrameHere>", "speech.tokens": "<AudioHere>", "fusion.tokens": "<MultiHere>",
          "face.tokens": "<FaceHere>"}
FACE_KEYS = ("facial_encoder.query", "facial_encoder.attn.", "facial_encoder.face_proj.")


@pytest.fixture(scope="module")
def official(shared_dir: Path) -> tuple[Path, dict]:
    return official_fixture(shared_dir, "official-modules")


def fixture_overrides(dims: dict) -> dict:
    """Config overrides that give the tiny preset the fixture's encoder/LM widths and the attention heads no
    weight fixes (one head per backbone, so any width works), with one encoder layer pair per fusion expert."""
    experts = dims["fusion"]["num_experts"]
    depth = {"num_hidden_layers": max(4, experts), "num_attention_heads": 1}
    return {"vision_config": {"hidden_size": dims["vision_width"], **depth},
            "speech_config": {"hidden_size": dims["speech_width"], **depth, "num_conv_pos_embedding_groups": 1},
            "fusion_speech_layers": list(range(1, experts + 1)), "fusion_vision_layers": list(range(1, experts + 1)),
            "text_config": {"hidden_size": dims["lm_width"], "num_attention_heads": 1, "num_key_value_heads": 1},
            "face_config": {"fusion_dim": dims["face"]["face_dim"]},
            "qformer_num_heads": dims["qformer"]["num_attention_heads"],
            "fusion_num_heads": dims["fusion"]["num_heads"], "face_num_heads": dims["face"]["num_heads"]}


def convert(checkpoint: Path, out: Path, dims: dict) -> int:
    """``emox convert official`` with the fixture's sizes as ``--set`` values."""
    settings = [f"{key}.{field}={value}" if isinstance(values, dict) else f"{key}={values}"
                for key, values in fixture_overrides(dims).items()
                for field, value in (values.items() if isinstance(values, dict) else [(None, values)])]
    args = [a for s in settings for a in ("--set", s)]
    return run_emox("convert", "official", checkpoint, out, "--preset", "tiny", *args)


def recipe_model_from(out: Path) -> NanoEmoXForConditionalGeneration:
    """A tiny recipe's model of the converted config's sizes, initialised from ``out`` (``model.init_from``)."""
    from emox_core.training.checkpoint import build_recipe_model
    from emox_core.training.recipe import ModelSpec

    saved = json.loads((out / "config.json").read_text())
    sizes = {k: saved[k] for k in ("vision_config", "speech_config", "text_config", "face_config", "qformer_num_heads",
                                   "fusion_num_heads", "face_num_heads", "fusion_hidden_size", "face_hidden_size",
                                   "fusion_speech_layers", "fusion_vision_layers")}
    return build_recipe_model(ModelSpec(preset="tiny", config=sizes, init_from=str(out)))[0]


def save_official(path: Path, state: dict[str, torch.Tensor], config: dict | None = None) -> Path:
    """An official runner checkpoint (``runners/runner_base.py`` ``_save_checkpoint`` layout)."""
    torch.save({"model": state, "optimizer": {}, "config": config or {}, "scaler": None, "epoch": 0}, path)
    return path


def official_state(root: Path) -> tuple[dict[str, torch.Tensor], dict]:
    raw = torch.load(root / "official-checkpoint.pth", map_location="cpu", weights_only=True)
    return dict(raw["model"]), raw["config"]


def branch_outputs(model: NanoEmoXForConditionalGeneration, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every output the fixture records, computed by emox's modules from the fixture's inputs (the official
    concatenated multi-scale layout reshaped to emox's (B, E, L, D), as the fixture README says)."""
    experts = len(model.fusion_encoder.experts)
    captured: dict[str, object] = {}

    def keep(name: str):
        return lambda module, args, output: captured.__setitem__(name, output)

    hooks = [model.visual_resampler.qformer.register_forward_hook(keep("visual")),
             model.speech_resampler.qformer.register_forward_hook(keep("speech")),
             model.fusion_encoder.gate.register_forward_hook(keep("gate")),
             model.face_temporal.attention.register_forward_hook(keep("face"))]
    hooks += [e.register_forward_hook(keep(f"expert{i}")) for i, e in enumerate(model.fusion_encoder.experts)]

    def layers(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], x.shape[1], experts, -1).transpose(1, 2)

    features = MediaFeatures(vision=inputs["visual.features"][:, :, None], speech=inputs["speech.features"][:, :, None],
                             vision_fusion=layers(inputs["fusion.visual_multi"]),
                             speech_fusion=layers(inputs["fusion.speech_multi"]), face=inputs["face.frame_vectors"])
    with torch.no_grad():
        tokens = model.media_tokens(features)
    for hook in hooks:
        hook.remove()
    gate = torch.softmax(captured["gate"], dim=-1)
    hidden = sum(gate[:, i, None, None] * captured[f"expert{i}"] for i in range(experts))
    return {**{name: tokens[token] for name, token in TOKENS.items()},
            "visual.qformer_hidden": captured["visual"].last_hidden_state,
            "speech.qformer_hidden": captured["speech"].last_hidden_state,
            "fusion.gate_weights": gate, "fusion.hidden": hidden, "face.attention_output": captured["face"][0]}


def test_converted_checkpoint_reproduces_every_branch(official: tuple[Path, dict], tmp_path: Path,
                                                      capfd: pytest.CaptureFixture[str]) -> None:
    root, meta = official
    out = tmp_path / "converted"
    assert convert(root / "official-checkpoint.pth", out, meta["dims"]) == 0
    printed = capfd.readouterr().out
    assert "missing" not in printed and "skipped 10 saved-but-unused tensors" in printed
    model, _ = load_model(out)
    model.eval()
    expected = load_file(str(root / "outputs.safetensors"))
    ours = branch_outputs(model, load_file(str(root / "inputs.safetensors")))
    assert set(ours) == set(expected)
    for name, want in expected.items():
        assert ours[name].shape == want.shape, name
        error = (ours[name] - want).abs().max().item()
        assert error <= meta["tolerance"]["max_abs_diff"], f"{name}: max |diff| {error:.3g}"
    # the same directory through from_pretrained, inference loading and a recipe's init_from
    from emox_core.inference import load_for_inference

    reference = model.adapter_state_dict()
    for loaded in (NanoEmoXForConditionalGeneration.from_pretrained(out), load_for_inference(out, "cpu")[0],
                   recipe_model_from(out)):
        state = loaded.adapter_state_dict()
        assert all(torch.equal(state[k], v) for k, v in reference.items() if "lora_" not in k)


def test_lora_keys_map_onto_the_language_model_lora(official: tuple[Path, dict], tmp_path: Path) -> None:
    """Official peft LoRA keys land on emox's LM LoRA with the official rank and alpha: the adapted layer
    computes base(x) + alpha/r * B(A(x)) (peft's LoRA, the official model's)."""
    from emox_core.modeling.modeling_nano_emox import expected_adapter_shapes
    from emox_core.modeling.presets import configure_preset

    root, meta = official
    state, run_config = official_state(root)
    rank, alpha = 3, 32
    config = configure_preset("tiny", {**fixture_overrides(meta["dims"]), "lora_r": rank})
    generator = torch.Generator().manual_seed(0)
    for name, shape in expected_adapter_shapes(config).items():
        if "lora_" in name:
            official_name = name.replace("language_model.", "llama_model.base_model.model.", 1)
            state[official_name] = torch.randn(shape, generator=generator)
    run_config = {**run_config, "model": {**run_config["model"], "lora_r": rank, "lora_alpha": alpha}}
    assert convert(save_official(tmp_path / "lora.pth", state, run_config), tmp_path / "out", meta["dims"]) == 0
    model, _ = load_model(tmp_path / "out")
    assert (model.config.lora_r, model.config.lora_alpha) == (rank, alpha)
    layer = model.language_model.model.layers[1].mlp.down_proj
    prefix = "llama_model.base_model.model.model.layers.1.mlp.down_proj"
    lora_a, lora_b = state[f"{prefix}.lora_A.default.weight"], state[f"{prefix}.lora_B.default.weight"]
    x = torch.randn(2, lora_a.shape[1], generator=generator)
    with torch.no_grad():
        expected = layer.base_layer(x) + alpha / rank * (x @ lora_a.T @ lora_b.T)
        assert torch.allclose(layer(x), expected, atol=1e-5)


def test_checkpoint_missing_a_branch_converts_what_it_has(official: tuple[Path, dict], tmp_path: Path,
                                                          capfd: pytest.CaptureFixture[str]) -> None:
    """A phase that froze the face head saved none of its parameters (but its buffers): the rest converts,
    the output says the face head is missing, inference refuses it, a recipe's init_from takes what is there."""
    from emox_core.modeling.adapters import read_adapters

    root, meta = official
    state, run_config = official_state(root)
    partial = {k: v for k, v in state.items() if not k.startswith(FACE_KEYS)}
    out = tmp_path / "phase"
    assert convert(save_official(tmp_path / "partial.pth", partial, run_config), out, meta["dims"]) == 0
    assert "missing face_temporal: 0 of 9 tensors" in capfd.readouterr().out
    weights, metadata, _ = read_adapters(out)
    assert metadata["missing"] == "face_temporal" and not any(k.startswith("face_temporal.") for k in weights)
    assert torch.equal(weights["visual_resampler.query_tokens"], state["video_query_tokens"])
    with pytest.raises(EmoxError, match="no weights for face_temporal .*init_from"):
        load_model(out)
    recipe_model = recipe_model_from(out).adapter_state_dict()
    assert all(torch.equal(recipe_model[k], v) for k, v in weights.items())


def test_unknown_key_is_an_error_naming_it(official: tuple[Path, dict], tmp_path: Path,
                                           capfd: pytest.CaptureFixture[str]) -> None:
    root, meta = official
    state, run_config = official_state(root)
    state["video_Qformer.bert.encoder.layer.0.output.dense.weight"] = torch.zeros(2, 2)  # the text FFN: deleted
    assert convert(save_official(tmp_path / "odd.pth", state, run_config), tmp_path / "out", meta["dims"]) == 1
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown key 'video_Qformer.bert.encoder.layer.0.output.dense.weight'" in err
    assert not (tmp_path / "out").exists()


class _RunsCodeWhenUnpickled:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def test_checkpoint_needing_pickle_is_refused(official: tuple[Path, dict], tmp_path: Path,
                                              capfd: pytest.CaptureFixture[str]) -> None:
    root, meta = official
    state, _ = official_state(root)
    marker = tmp_path / "code-ran"
    path = save_official(tmp_path / "pickled.pth", state, {"model": _RunsCodeWhenUnpickled(marker)})
    assert convert(path, tmp_path / "out", meta["dims"]) == 1
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pickled.pth: refused" in err and "weights_only=True" in err
    assert not marker.exists() and not (tmp_path / "out").exists()
