"""The frozen encoders run only up to the deepest layer read, HuBERT's feature extractor time-major, and the
states they return equal transformers' own ``output_hidden_states=True`` (the reference here): on the real
CLIP-L / HuBERT-L widths and feature extractor (three transformer layers, to stay cheap), on the tiny preset,
and on a HuBERT-base style tower (group norm, no stable layer norm)."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModel, HubertConfig

from emox_core.modeling import encoders
from emox_core.modeling.encoders import LAST, clip_states, conv_features, hubert_states
from emox_core.modeling.presets import nano_emox_2b_config, tiny_config


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _tower(config, layers: int | None = None):
    if layers is not None:
        config.num_hidden_layers = layers
    torch.manual_seed(0)
    return AutoModel.from_config(config).eval()


def _reference(tower, inputs):
    with torch.no_grad():
        return tower(inputs, output_hidden_states=True)


def _close(a: torch.Tensor, b: torch.Tensor, rel: float) -> bool:
    return (a.float() - b.float()).abs().max().item() <= rel * b.float().abs().max().item()


def test_real_clip_truncated_at_the_deepest_layer_read() -> None:
    tower = _tower(nano_emox_2b_config().vision_config, layers=3)
    pixels = torch.randn(2, 3, 224, 224)
    calls = []
    handle = tower.encoder.layers[2].register_forward_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        states = clip_states(tower, pixels, {0, 2})
    handle.remove()
    assert set(states) == {0, 2} and not calls  # layer 3 never ran
    reference = _reference(tower, pixels).hidden_states
    for index, state in states.items():
        assert _close(state, reference[index], 1e-6), index


def test_real_hubert_states_and_time_major_feature_extractor() -> None:
    tower = _tower(nano_emox_2b_config().speech_config, layers=3)
    audio = torch.randn(2, 8000)
    reference = _reference(tower, audio)
    with torch.no_grad():
        states = hubert_states(tower, audio, {1, 2, LAST})
        features = conv_features(tower.feature_extractor, audio)
        expected = tower.feature_extractor(audio).transpose(1, 2)
    assert _close(features, expected, 1e-5)
    assert _close(states[1], reference.hidden_states[1], 1e-5)
    assert _close(states[2], reference.hidden_states[2], 1e-5)
    assert _close(states[LAST], reference.last_hidden_state, 1e-5)
    assert 3 not in states  # the pre-LayerNorm output of the last layer is not kept unless asked for


def test_time_major_feature_extractor_in_bf16() -> None:
    tower = _tower(nano_emox_2b_config().speech_config, layers=1).to(torch.bfloat16)
    audio = torch.randn(2, 16000, dtype=torch.bfloat16)
    with torch.no_grad():
        ours = conv_features(tower.feature_extractor, audio)
        theirs = tower.feature_extractor(audio).transpose(1, 2)
    assert ours.dtype == torch.bfloat16 and ours.shape == theirs.shape == (2, 49, 512)
    assert _close(ours, theirs, 0.03)  # bf16: a few units in the last place of the largest values


def test_feature_extractor_in_passes_of_a_few_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    """Five segments in passes of 2, 2 and 1 through the reused buffers: each equals transformers' own forward."""
    monkeypatch.setattr(encoders, "SEGMENTS_PER_PASS", 2)
    tower = _tower(nano_emox_2b_config().speech_config, layers=1)
    for layer in tower.feature_extractor.conv_layers:  # not the initial zeros and ones: each must be applied
        for parameter in (layer.conv.bias, layer.layer_norm.weight, layer.layer_norm.bias):
            parameter.data.normal_()
    audio = torch.randn(5, 8000) * torch.arange(1, 6)[:, None]  # different scales: a mixed-up segment shows
    with torch.no_grad():
        ours = conv_features(tower.feature_extractor, audio)
        for index in range(5):
            theirs = tower.feature_extractor(audio[index:index + 1]).transpose(1, 2)
            assert _close(ours[index:index + 1], theirs, 1e-5), index


def test_feature_extractor_without_bias_or_gelu_and_short_input() -> None:
    config = nano_emox_2b_config().speech_config
    config.conv_bias, config.feat_extract_activation = False, "relu"
    tower = _tower(config, layers=1)
    audio = torch.randn(3, 4000)
    with torch.no_grad():
        ours = conv_features(tower.feature_extractor, audio)
        theirs = tower.feature_extractor(audio).transpose(1, 2)
        assert ours.shape == theirs.shape and _close(ours, theirs, 1e-5)
        with pytest.raises(RuntimeError):  # shorter than the kernels: transformers' own error
            conv_features(tower.feature_extractor, torch.randn(2, 300))


def test_feature_extractor_records_gradients_when_asked() -> None:
    tower = _tower(nano_emox_2b_config().speech_config, layers=1)
    audio = torch.randn(2, 4000, requires_grad=True)
    ours = conv_features(tower.feature_extractor, audio)
    ours.sum().backward()
    assert audio.grad is not None and audio.grad.abs().sum() > 0
    with torch.no_grad():
        assert _close(ours.detach(), tower.feature_extractor(audio).transpose(1, 2), 1e-6)


def test_hubert_base_style_tower() -> None:
    config = HubertConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64,
                          conv_dim=(32, 32), conv_stride=(5, 4), conv_kernel=(10, 4), num_conv_pos_embeddings=16,
                          num_conv_pos_embedding_groups=4, feat_extract_norm="group", do_stable_layer_norm=False)
    tower = _tower(config)
    audio = torch.randn(3, 4000)
    reference = _reference(tower, audio)
    with torch.no_grad():
        states = hubert_states(tower, audio, {0, 3, LAST})
    for index in (0, 3):
        assert _close(states[index], reference.hidden_states[index], 1e-6)
    assert _close(states[LAST], reference.last_hidden_state, 1e-6)


def test_encode_media_in_chunks_equals_one_pass() -> None:
    from emox_core.modeling.loading import build_model
    from emox_core.modeling.tokenizer import build_tiny_tokenizer

    torch.manual_seed(0)
    model, _ = build_model(tiny_config(vision_feature_source="patch", speech_feature_source="frames"),
                           tokenizer=build_tiny_tokenizer())
    media = (torch.randn(2, 8, 3, 32, 32), torch.randn(2, 8, 16000), torch.randn(2, 8, 3, 32, 32))
    model.encoder_chunk_size = 64
    whole = model.encode_media(*media)
    model.encoder_chunk_size = 3
    chunked = model.encode_media(*media)
    for name, value in vars(whole).items():
        assert value is not None and torch.allclose(getattr(chunked, name), value, atol=1e-6), name


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_real_facexformer_frame_vectors_without_the_fused_map(dtype: torch.dtype) -> None:
    """The pooled face vector from stage averages equals the average of the full fused map (the reference)."""
    from emox_core.modeling.face import FaceXFormerEncoder

    torch.manual_seed(0)
    encoder = FaceXFormerEncoder(nano_emox_2b_config().face_config).eval().to(dtype)
    frames = torch.randn(1, 2, 3, 224, 224, dtype=dtype)
    with torch.no_grad():
        expected = encoder(frames.flatten(0, 1)).float().mean(dim=(-2, -1)).reshape(1, 2, -1)
        got = encoder.frame_vectors(frames)
    assert got.dtype == dtype
    assert _close(got, expected, 1e-5 if dtype == torch.float32 else 0.02)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_linears_compute_the_same_states(dtype: torch.dtype) -> None:
    """oneDNN Linears with the bias and GELU fused (inference) against the tower's own modules (the reference)."""
    import copy

    from emox_core.modeling.cpu_linears import OneDNNLinear, fuse_linears

    tower = _tower(nano_emox_2b_config().speech_config, layers=2).to(dtype)
    fused = copy.deepcopy(tower)
    if fuse_linears(fused) == 0:
        pytest.skip("this torch has no oneDNN")
    assert isinstance(fused.encoder.layers[0].feed_forward.intermediate_dense, OneDNNLinear)
    assert list(fused.state_dict()) == list(tower.state_dict())  # same parameters, same names
    audio = torch.randn(2, 8000, dtype=dtype)
    with torch.no_grad():
        expected = hubert_states(tower, audio, {1, LAST})
        got = hubert_states(fused, audio, {1, LAST})
    for key in (1, LAST):
        assert _close(got[key], expected[key], 1e-5 if dtype == torch.float32 else 0.03), key


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_clip_with_fused_linears_and_quick_gelu_computes_the_same_states(dtype: torch.dtype) -> None:
    """The real CLIP-L layer widths (2 layers): oneDNN Linears, the quick-GELU folded into a swish, against the
    tower's own modules; the parameters stay the tower's."""
    import copy

    from emox_core.modeling.cpu_linears import SwishLinear, fuse_linears

    tower = _tower(nano_emox_2b_config().vision_config, layers=2).to(dtype)
    fused = copy.deepcopy(tower)
    if fuse_linears(fused) == 0:
        pytest.skip("this torch has no oneDNN")
    assert isinstance(fused.encoder.layers[0].mlp.fc1, SwishLinear)
    assert all(torch.equal(v, tower.state_dict()[k]) for k, v in fused.state_dict().items())
    with torch.no_grad():
        pixels = torch.randn(2, 3, 224, 224, dtype=dtype)
        expected, got = clip_states(tower, pixels, {1, 2}), clip_states(fused, pixels, {1, 2})
    for key in (1, 2):
        assert _close(got[key], expected[key], 1e-5 if dtype == torch.float32 else 0.03), key
