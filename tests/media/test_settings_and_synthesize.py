"""MediaSettings fingerprints and the synthesize helpers other tests and the demo rely on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emox_core.errors import EmoxError
from emox_core.media.decode import load_clip
from emox_core.media.settings import MediaSettings
from emox_core.media.synthesize import synthetic_clip, write_clip


def test_fingerprint_is_stable_and_tracks_every_extraction_field() -> None:
    base = MediaSettings()
    assert base.fingerprint() == MediaSettings().fingerprint() and len(base.fingerprint()) == 16
    changed = {MediaSettings(frames=16).fingerprint(), MediaSettings(image_size=336).fingerprint(),
               MediaSettings(sample_rate=22050).fingerprint(), MediaSettings(face_mode="crop").fingerprint()}
    assert base.fingerprint() not in changed and len(changed) == 4
    # the detector only matters when faces are cropped
    assert MediaSettings(detector="x:y").fingerprint() == base.fingerprint()
    crop = MediaSettings(face_mode="crop")
    assert MediaSettings(face_mode="crop", detector="x:y").fingerprint() != crop.fingerprint()


@pytest.mark.parametrize("kwargs", [{"face_mode": "box"}, {"frames": 0}, {"face_margin": -1.0}])
def test_invalid_settings_are_user_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(EmoxError, match="media settings"):
        MediaSettings(**kwargs)  # type: ignore[arg-type]


def test_write_clip_round_trips_frames_and_audio(tmp_path: Path) -> None:
    frames = np.zeros((10, 64, 96, 3), np.uint8)
    frames[:, :, :48] = (0, 200, 0)
    wave = (0.5 * np.sin(np.linspace(0, 400 * np.pi, 16000))).astype(np.float32)
    clip = load_clip(write_clip(tmp_path / "x.mp4", frames, wave, fps=10))
    assert clip.num_video_frames == 10 and clip.fps == pytest.approx(10)
    assert len(clip.waveform) == 16000 and np.abs(clip.waveform).max() == pytest.approx(0.5, abs=0.05)
    assert np.allclose(clip.frames[0, 100, 20], (0, 200, 0), atol=15)


def test_synthetic_clip_options(tmp_path: Path) -> None:
    clip = load_clip(synthetic_clip(tmp_path / "y.mp4", duration=2.0, fps=5, size=(48, 64), audio=False))
    assert clip.num_video_frames == 10 and clip.waveform is None


def test_write_clip_refuses_odd_sizes(tmp_path: Path) -> None:
    with pytest.raises(EmoxError, match="even"):
        write_clip(tmp_path / "odd.mp4", np.zeros((2, 63, 64, 3), np.uint8))
    assert not (tmp_path / "odd.mp4").exists()
