"""The branches read exactly the configured encoder layers, in train mode as in eval mode (HuBERT's
layer-drop would shorten hidden_states in train mode if the frozen towers were not kept in eval)."""

from __future__ import annotations

import pytest
import torch

from emox_core.modeling.loading import build_preset_model


@pytest.fixture(scope="module")
def model_and_inputs():
    torch.manual_seed(0)
    model, processor = build_preset_model("tiny")
    pixel_values = torch.randn(2, 8, 3, 32, 32)
    input_values = torch.randn(2, 8, 32000)
    return model, pixel_values, input_values


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_fusion_experts_read_the_configured_layers(model_and_inputs, mode: str) -> None:
    model, pixel_values, input_values = model_and_inputs
    model.train(mode == "train")
    assert model.speech_tower.config.layerdrop > 0  # the trap is armed; eval mode must defuse it
    seen: dict[str, torch.Tensor] = {}

    def grab(_module, args):
        seen["speech"], seen["vision"] = args[0], args[1]

    handle = model.fusion_encoder.register_forward_pre_hook(grab)
    try:
        features = model.encode_media(pixel_values, input_values)
        model.media_tokens(features)
    finally:
        handle.remove()
    with torch.no_grad():
        clip = model.vision_tower(pixel_values.flatten(0, 1), output_hidden_states=True).hidden_states
        hubert = model.speech_tower(input_values.flatten(0, 1), output_hidden_states=True).hidden_states
    assert len(hubert) == model.config.speech_config.num_hidden_layers + 1
    for e, layer in enumerate(model.config.fusion_vision_layers):
        expected = clip[layer][:, 0].reshape(2, 8, -1)
        assert torch.allclose(seen["vision"][:, e], expected, atol=1e-6)
    for e, layer in enumerate(model.config.fusion_speech_layers):
        expected = hubert[layer].mean(1).reshape(2, 8, -1)
        assert torch.allclose(seen["speech"][:, e], expected, atol=1e-6)


def test_main_features_follow_the_official_recipe(model_and_inputs) -> None:
    model, pixel_values, input_values = model_and_inputs
    model.train()
    features = model.encode_media(pixel_values, input_values)
    with torch.no_grad():
        clip = model.vision_tower(pixel_values.flatten(0, 1), output_hidden_states=True).hidden_states
        out = model.speech_tower(input_values.flatten(0, 1), output_hidden_states=True)
    # CLIP: CLS token of hidden_states[-2] per frame
    assert torch.allclose(features.vision[:, :, 0], clip[-2][:, 0].reshape(2, 8, -1), atol=1e-6)
    # HuBERT: mean of the last 4 hidden states (the last one post-LayerNorm), time-mean per segment
    last4 = torch.stack([*out.hidden_states[-4:-1], out.last_hidden_state]).mean(0).mean(1)
    assert torch.allclose(features.speech[:, :, 0], last4.reshape(2, 8, -1), atol=1e-6)
    model.eval()


def test_paper_variants_change_what_the_qformers_see() -> None:
    from emox_core.modeling.loading import build_model
    from emox_core.modeling.presets import tiny_config
    from emox_core.modeling.tokenizer import build_tiny_tokenizer

    model, _ = build_model(tiny_config(vision_feature_source="patch", speech_feature_source="frames"),
                           tokenizer=build_tiny_tokenizer())
    features = model.encode_media(torch.randn(1, 8, 3, 32, 32), torch.randn(1, 8, 32000))
    assert features.vision.shape[:3] == (1, 8, 17)  # CLS + 16 patches per frame
    assert features.speech.shape[2] > 1  # every HuBERT frame of each segment
    tokens = model.media_tokens(features)
    assert tokens["<FrameHere>"].shape == (1, 32, 64) and tokens["<AudioHere>"].shape == (1, 32, 64)
