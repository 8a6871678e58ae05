"""Read a clip the way the model sees it: uniform frames, 16 kHz mono audio, face input.

:func:`load_clip` is the single entry point used by ``emox prepare media``, training and inference.
A clip is a video file, an audio file, or a folder of frame images (FERV39K ships those). Frames come
from decord (PyAV as fallback), audio from the ffmpeg binary that the imageio-ffmpeg wheel ships
(exact length, no system ffmpeg), or from soundfile for audio files at the target rate.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

import numpy as np

from emox_core.errors import EmoxError
from emox_core.media.faces import FaceDetector, crop_faces, get_detector
from emox_core.media.settings import MediaSettings

# Audio-only inputs (soundfile when already at the target rate, else ffmpeg); any other file is read
# as a video container.
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aac", ".opus"})
# The frames of a frame-folder clip.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})


@dataclasses.dataclass
class ClipMedia:
    """Everything the model reads from one clip; an absent modality is None.

    ``frames`` and ``faces`` are uint8 (T, S, S, 3) RGB. In raw face mode ``faces`` is ``frames`` (the
    official input); in crop mode it holds the detected face crops, ``face_boxes`` (T, 4) int32
    x0,y0,x1,y1 in source pixels, and ``face_detected`` (T,) says which frames had their own box
    (the others reuse the nearest detected one). ``waveform`` is float32 mono at the settings' rate.
    """

    frames: np.ndarray | None
    faces: np.ndarray | None
    waveform: np.ndarray | None
    sample_rate: int
    frame_indices: np.ndarray | None = None
    face_boxes: np.ndarray | None = None
    face_detected: np.ndarray | None = None
    num_video_frames: int = 0
    fps: float = 0.0
    video_seconds: float = 0.0
    audio_seconds: float = 0.0

    @property
    def missing(self) -> list[str]:
        """Names of the absent modalities ("video", "audio", "face"), for reports and batch masks."""
        present = {"video": self.frames, "audio": self.waveform, "face": self.faces}
        return [name for name, value in present.items() if value is None]

    def audio_segments(self, settings: MediaSettings) -> np.ndarray | None:
        return None if self.waveform is None else segment_waveform(self.waveform, settings)


def uniform_indices(num_video_frames: int, frames: int) -> np.ndarray:
    """The official uniform sampling: the start of ``frames`` equal segments; short clips repeat the last.

    Fact from the official code (processors/video_processor.py:29-64, official-code-notes §2.1):
    indices = floor(arange(0, vlen, vlen / min(n, vlen))), padded with the last index when vlen < n.
    """
    count = min(frames, num_video_frames)
    indices = np.floor(np.arange(0, num_video_frames, num_video_frames / count)).astype(np.int64)[:count]
    return np.concatenate([indices, np.full(frames - count, indices[-1], dtype=np.int64)])


def segment_waveform(waveform: np.ndarray, settings: MediaSettings) -> np.ndarray:
    """Cut the waveform into the official (segments, segment_samples) float32 HuBERT input.

    Facts from the official code (models/ImageBind/data.py:170-238, official-code-notes §2.2): clips
    shorter than one segment are zero-padded; segment k starts at k * max(D - seg, 0) / segments seconds;
    each segment has its mean removed (a side effect of the mel transform that reaches HuBERT).
    """
    seg = round(settings.segment_seconds * settings.sample_rate)
    wav = np.asarray(waveform, dtype=np.float32)
    if len(wav) < seg:
        wav = np.pad(wav, (0, seg - len(wav)))
    stride = max(len(wav) / settings.sample_rate - settings.segment_seconds, 0.0) / settings.audio_segments
    starts = [int(k * stride * settings.sample_rate) for k in range(settings.audio_segments)]
    segments = np.stack([wav[s:s + seg] for s in starts])
    return segments - segments.mean(axis=1, keepdims=True)


def read_frames(path: Path, frames: int, size: int | None) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Decode ``frames`` uniform frames, resized directly to size x size (None: source resolution).

    Returns (frames uint8 (T,H,W,3), indices, number of video frames, fps). decord first; PyAV if
    decord is missing or cannot read the file (its resize is close to decord's, not bit-identical).
    A folder is read as a frame-folder clip.
    """
    if path.is_dir():
        return _frames_folder(path, frames, size)
    try:
        return _frames_decord(path, frames, size)
    # decord raises RuntimeError or DECORDError (environment-notes §2); ImportError: decord not installed
    except Exception as decord_error:
        try:
            return _frames_pyav(path, frames, size)
        except ImportError:  # PyAV is optional
            raise EmoxError(f"{path}: not a readable video ({_one_line(decord_error)})") from decord_error


def _frames_decord(path: Path, frames: int, size: int | None) -> tuple[np.ndarray, np.ndarray, int, float]:
    import decord

    side = size or -1
    reader = decord.VideoReader(str(path), ctx=decord.cpu(0), width=side, height=side, num_threads=1)
    count = len(reader)
    if count == 0:
        raise EmoxError(f"{path}: video has no frames")
    indices = uniform_indices(count, frames)
    return reader.get_batch(indices.tolist()).asnumpy(), indices, count, float(reader.get_avg_fps())


def frame_files(folder: Path) -> list[Path]:
    """The images of a frame-folder clip in natural order (frame2 before frame10)."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)])


def _frames_folder(folder: Path, frames: int, size: int | None) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Uniform frames from a folder of images; bilinear resize, measured closest to decord's scaler."""
    from PIL import Image, UnidentifiedImageError

    files = frame_files(folder)
    if not files:
        raise EmoxError(f"{folder}: folder has no frame images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    indices = uniform_indices(len(files), frames)
    picked = []
    for index in indices.tolist():
        try:
            with Image.open(files[index]) as image:
                rgb = image.convert("RGB")
        except (OSError, UnidentifiedImageError) as exc:
            raise EmoxError(f"{files[index]}: not a readable image ({exc})") from exc
        picked.append(np.asarray(rgb.resize((size, size), Image.Resampling.BILINEAR) if size else rgb))
    return np.stack(picked), indices, len(files), 0.0


def _frames_pyav(path: Path, frames: int, size: int | None) -> tuple[np.ndarray, np.ndarray, int, float]:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise EmoxError(f"{path}: no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or 0)
            count = sum(1 for packet in container.demux(stream) if packet.size)
        if count == 0:
            raise EmoxError(f"{path}: video has no frames")
        indices = uniform_indices(count, frames)
        wanted = set(indices.tolist())
        picked: dict[int, np.ndarray] = {}
        with av.open(str(path)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i in wanted:
                    kwargs = {"width": size, "height": size} if size else {}
                    picked[i] = frame.to_ndarray(format="rgb24", **kwargs)
                if i >= indices[-1]:
                    break
    except av.error.FFmpegError as exc:  # its message repeats the path; the reason alone reads better
        raise EmoxError(f"{path}: not a readable video ({exc.strerror or _one_line(exc)})") from exc
    if len(picked) < len(wanted):
        raise EmoxError(f"{path}: video is truncated (decoded {len(picked)} of {len(wanted)} sampled frames)")
    return np.stack([picked[i] for i in indices.tolist()]), indices, count, fps


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped inside the imageio-ffmpeg wheel (no system ffmpeg needed)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


class AudioDecode:
    """Decode the first audio track to float32 mono in the background; :meth:`result` collects it.

    Starting first lets the ffmpeg subprocess run while the caller decodes frames; ``-vn`` before
    ``-i`` keeps ffmpeg from demuxing the video. Fact
    (environment-notes §2): the ffmpeg CLI trims codec padding, so a 3.0 s AAC track gives exactly 3.0 s.
    Audio files already at the target rate are read in-process by soundfile.
    """

    def __init__(self, path: Path, sample_rate: int) -> None:
        self.path = path
        self._ready: np.ndarray | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        if path.suffix.lower() in AUDIO_SUFFIXES and self._read_soundfile(sample_rate):
            return
        self._proc = subprocess.Popen(
            [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-vn", "-i", str(path),
             "-map", "0:a:0", "-ac", "1", "-ar", str(sample_rate), "-f", "f32le", "-"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )

    def _read_soundfile(self, sample_rate: int) -> bool:
        import soundfile

        try:
            if soundfile.info(str(self.path)).samplerate != sample_rate:
                return False
            data, _ = soundfile.read(str(self.path), dtype="float32", always_2d=True)
        except (soundfile.LibsndfileError, RuntimeError):
            return False  # not libsndfile-readable after all: ffmpeg tries and reports a clear error
        self._ready = data.mean(axis=1, dtype=np.float32)
        return True

    def result(self) -> np.ndarray | None:
        """The waveform, or None when the file has no audio track or the track is empty."""
        if self._proc is not None:
            out, err = self._proc.communicate()
            if self._proc.returncode != 0:
                message = err.decode(errors="replace")
                if "matches no streams" in message:
                    return None
                raise EmoxError(f"{self.path}: cannot decode audio ({_one_line(message)})")
            self._ready = np.frombuffer(out, dtype="<f4").astype(np.float32)
        return self._ready if self._ready is not None and len(self._ready) else None

    def cancel(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.communicate()


def load_clip(
    path: str | Path, settings: MediaSettings | None = None, detector: FaceDetector | None = None
) -> ClipMedia:
    """Read one clip (video file, audio file or frame folder) as the model sees it.

    Absent modalities come back as None. Raises EmoxError for a missing, empty or unreadable clip.
    ``detector`` overrides ``settings.detector`` (crop mode only).
    """
    settings = settings or MediaSettings()
    path = Path(path)
    if not path.exists():
        raise EmoxError(f"{path}: clip not found")
    if path.is_file() and path.stat().st_size == 0:
        raise EmoxError(f"{path}: empty file (0 bytes)")
    audio = None if path.is_dir() else AudioDecode(path, settings.sample_rate)
    if audio is not None and path.suffix.lower() in AUDIO_SUFFIXES:
        waveform = audio.result()
        if waveform is None:
            raise EmoxError(f"{path}: audio file has no samples")
        return ClipMedia(None, None, waveform, settings.sample_rate,
                         audio_seconds=len(waveform) / settings.sample_rate)
    try:
        frames, indices, count, fps = read_frames(path, settings.frames, settings.image_size)
        faces, boxes, detected = frames, None, None
        if settings.face_mode == "crop":
            full, _, _, _ = read_frames(path, settings.frames, None)
            faces, boxes, detected = crop_faces(full, detector or get_detector(settings.detector),
                                                settings.face_margin, settings.image_size)
    except BaseException:
        if audio is not None:
            audio.cancel()
        raise
    waveform = None if audio is None else audio.result()
    return ClipMedia(
        frames=frames, faces=faces, waveform=waveform, sample_rate=settings.sample_rate,
        frame_indices=indices, face_boxes=boxes, face_detected=detected, num_video_frames=count,
        fps=fps, video_seconds=count / fps if fps > 0 else 0.0,
        audio_seconds=0.0 if waveform is None else len(waveform) / settings.sample_rate,
    )


def _one_line(message: object) -> str:
    """The last non-empty line of an error message (ffmpeg/decord put the cause last)."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    return lines[-1][-200:] if lines else "unknown error"
