"""Fixtures for the dataset adapter tests: real (tiny) mp4/wav files placed under raw trees."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def media_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One real mp4 (4 frames, with an audio track) and one real 16 kHz wav, made once per session."""
    from emox_core.media.synthesize import synthetic_frames, synthetic_waveform, write_clip, write_wav

    root = tmp_path_factory.mktemp("media")
    wave = synthetic_waveform(duration=0.25)
    return {
        ".mp4": write_clip(root / "clip.mp4", synthetic_frames(duration=0.16, size=(32, 32)), wave),
        ".wav": write_wav(root / "clip.wav", wave),
    }


@pytest.fixture
def put_media(media_files: dict[str, Path]) -> Callable[..., None]:
    """``put_media(root, "video/a.mp4", "audio/a.wav", ...)``: real clips at those paths (.avi gets mp4 bytes)."""

    def put(root: Path, *relpaths: str) -> None:
        for rel in relpaths:
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(media_files[".wav" if rel.endswith(".wav") else ".mp4"], target)

    return put
