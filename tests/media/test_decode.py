"""load_clip: official sampling, exact 16 kHz audio, absent modalities, clear errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from emox_core.errors import EmoxError
from emox_core.media import decode
from emox_core.media.decode import load_clip, segment_waveform, uniform_indices
from emox_core.media.settings import MediaSettings
from emox_core.media.synthesize import synthetic_clip


@pytest.mark.parametrize(("vlen", "expected"), [
    (100, [0, 12, 25, 37, 50, 62, 75, 87]),
    (8, [0, 1, 2, 3, 4, 5, 6, 7]),
    (5, [0, 1, 2, 3, 4, 4, 4, 4]),
    (1, [0] * 8),
])
def test_uniform_indices_follow_the_official_formula(vlen: int, expected: list[int]) -> None:
    assert uniform_indices(vlen, 8).tolist() == expected


def test_good_clip_gives_model_inputs(media_dir: Path) -> None:
    clip = load_clip(media_dir / "good.mp4")
    assert clip.frames is not None and clip.frames.shape == (8, 224, 224, 3) and clip.frames.dtype == np.uint8
    assert clip.faces is clip.frames  # raw mode: the official face input is the full frames
    assert clip.waveform is not None and clip.waveform.dtype == np.float32
    assert len(clip.waveform) == 48000  # 3.0 s of 44.1 kHz AAC -> exactly 3.0 s at 16 kHz, padding trimmed
    assert clip.frame_indices.tolist() == uniform_indices(75, 8).tolist()
    assert clip.num_video_frames == 75 and clip.fps == pytest.approx(25.0)
    assert clip.missing == []
    corner = clip.frames[:, :8, :8].reshape(-1, 3).mean(axis=0)
    assert np.allclose(corner, (200, 60, 60), atol=12)  # background colour survives the codec


def test_clip_without_audio_track_reports_audio_absent(media_dir: Path) -> None:
    clip = load_clip(media_dir / "silent_track_missing.mp4")
    assert clip.waveform is None and clip.audio_seconds == 0.0
    assert clip.missing == ["audio"] and clip.frames is not None


def test_short_clip_repeats_the_last_frame(media_dir: Path) -> None:
    clip = load_clip(media_dir / "short.mp4")
    assert clip.frame_indices.tolist() == [0, 1, 2, 3, 4, 4, 4, 4]
    assert np.array_equal(clip.frames[4], clip.frames[7])
    assert clip.audio_segments(MediaSettings()).shape == (8, 32000)


@pytest.mark.parametrize("name", ["speech16k.wav", "speech44k.wav"])
def test_audio_files_are_audio_only_clips(media_dir: Path, name: str) -> None:
    clip = load_clip(media_dir / name)
    assert clip.missing == ["video", "face"]
    assert clip.waveform is not None and len(clip.waveform) == 24000


@pytest.mark.parametrize(("name", "problem"), [
    ("empty.mp4", "empty file"),
    ("corrupt.mp4", "not a readable video"),
    ("notes.txt", "not a readable video"),
    ("missing.mp4", "not found"),
])
def test_bad_files_raise_one_line_emox_errors(media_dir: Path, name: str, problem: str) -> None:
    with pytest.raises(EmoxError) as info:
        load_clip(media_dir / name)
    message = str(info.value)
    assert message.startswith(str(media_dir / name)) and problem in message and "\n" not in message


def test_pyav_fallback_reads_the_same_frames(media_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = load_clip(media_dir / "good.mp4")

    def broken(*args: object) -> None:
        raise RuntimeError("decord cannot read this")

    monkeypatch.setattr(decode, "_frames_decord", broken)
    fallback = load_clip(media_dir / "good.mp4")
    assert fallback.frame_indices.tolist() == reference.frame_indices.tolist()
    difference = np.abs(fallback.frames.astype(int) - reference.frames.astype(int))
    assert difference.mean() < 3  # same pixels up to the scaler's rounding


def test_segment_waveform_matches_the_official_clip_sampler() -> None:
    settings = MediaSettings()
    wave = np.random.default_rng(0).standard_normal(4 * 16000).astype(np.float32)
    segments = segment_waveform(wave, settings)  # D = 4 s: segment k starts at k * (4 - 2) / 8 s
    assert segments.shape == (8, 32000)
    for k in range(8):
        expected = wave[4000 * k:4000 * k + 32000]
        assert np.allclose(segments[k], expected - expected.mean(), atol=1e-6)  # DC-removed
    short = segment_waveform(np.ones(8000, dtype=np.float32), settings)
    assert short.shape == (8, 32000) and np.array_equal(short[0], short[7])


def _whole_track(path: Path) -> np.ndarray:
    """The whole 16 kHz track decoded in one go (the ffmpeg call of environment-notes §2): the reference."""
    command = [decode.ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(path), "-vn", "-ac", "1",
               "-ar", "16000", "-f", "f32le", "-"]
    return np.frombuffer(subprocess.run(command, capture_output=True, check=True).stdout, dtype="<f4")


@pytest.mark.parametrize("keep_seconds", [decode.KEEP_SECONDS, 1000.0])
def test_minutes_long_clip_is_sampled_uniformly(tmp_path: Path, keep_seconds: float,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """150 s: over KEEP_SECONDS the track is decoded twice and only the windows kept; with a larger limit
    it is held whole. Either way the model's audio is the official windows of the whole track."""
    monkeypatch.setattr(decode, "KEEP_SECONDS", keep_seconds)
    path = synthetic_clip(tmp_path / "long.mp4", duration=150.0, fps=4.0, size=(64, 64))
    clip = load_clip(path)
    assert clip.num_video_frames == 600
    assert clip.frame_indices.tolist() == uniform_indices(600, 8).tolist()
    assert clip.audio_seconds == 150.0 and clip.waveform.shape == (8, 32000)
    settings = MediaSettings()
    assert np.array_equal(clip.audio_segments(settings), segment_waveform(_whole_track(path), settings))


def test_frame_folder_is_a_clip_without_audio(tmp_path: Path) -> None:
    from PIL import Image

    folder = tmp_path / "clip_frames"
    folder.mkdir()
    for i in range(12):  # natural order: frame2 before frame10
        Image.fromarray(np.full((90, 120, 3), 20 * i, np.uint8)).save(folder / f"frame{i}.png")
    clip = load_clip(folder)
    assert clip.frames.shape == (8, 224, 224, 3) and clip.missing == ["audio"]
    assert clip.frame_indices.tolist() == uniform_indices(12, 8).tolist()
    assert [int(f[0, 0, 0]) for f in clip.frames] == [20 * i for i in clip.frame_indices.tolist()]
    (tmp_path / "no_frames").mkdir()
    with pytest.raises(EmoxError, match="no frame images"):
        load_clip(tmp_path / "no_frames")
