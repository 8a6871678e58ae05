"""HuBERT's input as the official code feeds it: the official encoder hands Wav2Vec2FeatureExtractor a clip's
segments as ONE 2-D tensor (models/encoder.py, HUBERT_LARGE_Plus.forward), so zero-mean / unit-variance is
taken over all 8 segments together. emox does that by default; per-segment normalisation is an option."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emox_core.errors import EmoxError
from emox_core.media.decode import segment_waveform
from emox_core.modeling.presets import tiny_config
from emox_core.modeling.tokenizer import build_tiny_tokenizer
from emox_core.processing import NanoEmoXProcessor, ProcessorSettings

RATE = 16000


def _processor(**config: object) -> NanoEmoXProcessor:
    return NanoEmoXProcessor(build_tiny_tokenizer(), ProcessorSettings.from_config(tiny_config(**config)))


def _loud_then_quiet() -> np.ndarray:
    """The 12-s clip of the issue: 4 s of a loud 440 Hz tone, then 8 s of quiet noise."""
    t = np.arange(4 * RATE) / RATE
    loud = 0.8 * np.sin(2 * np.pi * 440 * t)
    quiet = 0.01 * np.random.default_rng(0).standard_normal(8 * RATE)
    return np.concatenate([loud, quiet]).astype(np.float32)


def _official_extractor(segments: np.ndarray) -> np.ndarray:
    """The official call: Wav2Vec2FeatureExtractor(do_normalize=True) on the (S, L) tensor, ``input_values[0]``."""
    from transformers import Wav2Vec2FeatureExtractor

    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=RATE, padding_value=0.0, do_normalize=True,
                                         return_attention_mask=False)
    return extractor(torch.from_numpy(segments), sampling_rate=RATE, return_tensors="pt").input_values[0].numpy()


@pytest.mark.parametrize("seconds", [12.0, 1.3, 31.0])
def test_default_normalises_jointly_over_the_clip_like_the_official_code(seconds: float) -> None:
    rng = np.random.default_rng(int(seconds * 10))
    wave = _loud_then_quiet() if seconds == 12.0 else (rng.standard_normal(int(seconds * RATE)) * 0.2).astype(
        np.float32)
    processor = _processor()
    assert processor.settings.audio_normalization == "clip"
    ours = processor.audio_to_input_values(wave).numpy()
    segments = segment_waveform(wave, processor.media_settings())
    assert ours.shape == segments.shape == (8, 32000)
    # the formula, computed here with numpy over the whole 2-D input
    joint = (segments - segments.mean()) / np.sqrt(segments.var() + 1e-7)
    np.testing.assert_allclose(ours, joint, atol=1e-5)
    # and the official extractor, called as the official encoder calls it
    np.testing.assert_allclose(ours, _official_extractor(segments), atol=1e-5)


def test_per_segment_is_an_option_and_differs_where_the_issue_says() -> None:
    wave = _loud_then_quiet()
    joint = _processor().audio_to_input_values(wave).numpy()
    per_segment = _processor(audio_normalization="segment").audio_to_input_values(wave).numpy()
    segments = segment_waveform(wave, _processor().media_settings())
    expected = (segments - segments.mean(1, keepdims=True)) / np.sqrt(segments.var(1, keepdims=True) + 1e-7)
    np.testing.assert_allclose(per_segment, expected, atol=1e-5)
    # the last segment is quiet noise: per segment it reaches HuBERT as loud as the tone, jointly it stays quiet
    assert per_segment[-1].std() / joint[-1].std() > 10
    assert np.abs(per_segment - joint).max() > 2


def test_the_setting_travels_with_the_config_and_the_saved_processor(tmp_path) -> None:
    processor = _processor(audio_normalization="segment")
    processor.save_pretrained(tmp_path)
    assert NanoEmoXProcessor.from_pretrained(tmp_path).settings.audio_normalization == "segment"
    with pytest.raises(EmoxError, match="audio_normalization='batch'"):
        tiny_config(audio_normalization="batch")
    with pytest.raises(EmoxError, match="audio_normalization='batch'"):
        ProcessorSettings(audio_normalization="batch")
