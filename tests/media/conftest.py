"""Real media files for the media tests, generated with emox's own synthesize module."""

from __future__ import annotations

from pathlib import Path

import pytest

from emox_core.media.synthesize import synthetic_clip, synthetic_waveform, write_wav


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of small clips of every kind the pipeline must handle (read-only for tests)."""
    folder = tmp_path_factory.mktemp("media")
    synthetic_clip(folder / "good.mp4", duration=3.0, size=(240, 320), sample_rate=44100, color=(200, 60, 60))
    synthetic_clip(folder / "silent_track_missing.mp4", duration=1.0, size=(120, 160), audio=False)
    synthetic_clip(folder / "short.mp4", duration=0.2, size=(120, 160))
    write_wav(folder / "speech16k.wav", synthetic_waveform(1.5, 16000))
    write_wav(folder / "speech44k.wav", synthetic_waveform(1.5, 44100, seed=1), 44100)
    (folder / "empty.mp4").write_bytes(b"")
    good = (folder / "good.mp4").read_bytes()
    (folder / "corrupt.mp4").write_bytes(good[:64] + bytes(4096))
    (folder / "notes.txt").write_text("not a video\n")
    return folder
