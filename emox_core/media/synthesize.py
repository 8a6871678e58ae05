"""Write real media files from numpy arrays, for tests, benchmarks and the synthetic demo corpus.

Encoding goes through the ffmpeg binary bundled in the imageio-ffmpeg wheel, so no system ffmpeg is
needed, and the files are ordinary H.264/AAC mp4s that exercise the same decoders as real data.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from emox_core.errors import EmoxError
from emox_core.fileio import atomic_open
from emox_core.media.decode import ffmpeg_exe


def write_clip(
    path: str | os.PathLike[str],
    frames: np.ndarray,
    waveform: np.ndarray | None = None,
    *,
    fps: float = 25.0,
    sample_rate: int = 16000,
    crf: int = 18,
) -> Path:
    """Encode ``frames`` (T,H,W,3 uint8 RGB) and an optional mono ``waveform`` (float32 in [-1, 1]) to mp4.

    ``waveform=None`` writes a file with no audio track at all (not a silent one), which is what a
    "no audio" clip looks like in the wild. H and W must be even (H.264 with yuv420p).
    """
    path = Path(path)
    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise EmoxError(f"{path}: frames must have shape (T,H,W,3) with T >= 1, got {frames.shape}")
    _, height, width, _ = frames.shape
    if height % 2 or width % 2:
        raise EmoxError(f"{path}: frame size {width}x{height} must be even for H.264")
    with tempfile.TemporaryDirectory(prefix="emox-synth-") as tmp:
        cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{fps}",
               "-i", os.path.join(tmp, "video.rgb")]
        frames.tofile(os.path.join(tmp, "video.rgb"))
        if waveform is not None:
            np.asarray(waveform, dtype="<f4").reshape(-1).tofile(os.path.join(tmp, "audio.f32"))
            cmd += ["-f", "f32le", "-ar", str(sample_rate), "-ac", "1", "-i", os.path.join(tmp, "audio.f32"),
                    "-c:a", "aac", "-b:a", "96k"]
        out = os.path.join(tmp, "clip" + (path.suffix or ".mp4"))
        cmd += ["-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p", out]
        proc = subprocess.run(cmd, capture_output=True)
        if proc.returncode != 0:
            raise EmoxError(f"{path}: ffmpeg failed: {proc.stderr.decode(errors='replace').strip()[-300:]}")
        with open(out, "rb") as src, atomic_open(path, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return path


def write_wav(path: str | os.PathLike[str], waveform: np.ndarray, sample_rate: int = 16000) -> Path:
    """Write a mono float waveform as a 16-bit PCM wav (an audio-only clip)."""
    import soundfile

    path = Path(path)
    with atomic_open(path, "wb") as handle:
        soundfile.write(handle, np.asarray(waveform, dtype=np.float32), sample_rate, format="WAV",
                        subtype="PCM_16")
    return path


def synthetic_frames(
    duration: float = 3.0,
    fps: float = 25.0,
    size: tuple[int, int] = (224, 224),
    color: tuple[int, int, int] = (200, 60, 60),
    motion: float = 1.0,
) -> np.ndarray:
    """Frames of a ``color`` background with a light square that moves ``motion`` square-widths a second.

    Colour and motion are what a synthetic label can hide in the picture.
    """
    height, width = size
    count = max(1, round(duration * fps))
    side = max(2, min(height, width) // 4)
    frames = np.empty((count, height, width, 3), dtype=np.uint8)
    frames[:] = np.asarray(color, dtype=np.uint8)
    for t in range(count):
        offset = int(t / fps * motion * side) % max(1, width - side)
        top = (height - side) // 2
        frames[t, top:top + side, offset:offset + side] = 255 - np.asarray(color, dtype=np.uint8)
    return frames


def synthetic_waveform(
    duration: float = 3.0,
    sample_rate: int = 16000,
    pitch_hz: float = 220.0,
    energy: float = 0.3,
    seed: int = 0,
) -> np.ndarray:
    """A tone at ``pitch_hz`` with amplitude ``energy`` plus faint noise (pitch and energy carry a label)."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(duration * sample_rate), dtype=np.float64) / sample_rate
    wave = energy * np.sin(2 * np.pi * pitch_hz * t) + 0.01 * rng.standard_normal(t.shape)
    return np.clip(wave, -1.0, 1.0).astype(np.float32)


def synthetic_clip(
    path: str | os.PathLike[str],
    *,
    duration: float = 3.0,
    fps: float = 25.0,
    size: tuple[int, int] = (224, 224),
    audio: bool = True,
    color: tuple[int, int, int] = (200, 60, 60),
    motion: float = 1.0,
    pitch_hz: float = 220.0,
    energy: float = 0.3,
    sample_rate: int = 16000,
    seed: int = 0,
) -> Path:
    """Write a generated mp4 of ``duration`` seconds; ``audio=False`` gives a file with no audio track."""
    frames = synthetic_frames(duration, fps, size, color, motion)
    waveform = synthetic_waveform(duration, sample_rate, pitch_hz, energy, seed) if audio else None
    return write_clip(path, frames, waveform, fps=fps, sample_rate=sample_rate)
