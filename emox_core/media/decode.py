"""Read a clip the way the model sees it: uniform frames, 16 kHz mono audio, face input.

:func:`load_clip` is the single entry point used by ``emox prepare media``, training and inference.
A clip is a video file, an audio file, or a folder of frame images (FERV39K ships those). Frames come
from decord (PyAV as fallback), audio from the ffmpeg binary that the imageio-ffmpeg wheel ships
(exact length, no system ffmpeg), or from soundfile for audio files at the target rate.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import subprocess
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
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
    (the others reuse the nearest detected one). ``waveform`` is float32 mono at the settings' rate: the
    whole track when it is no longer than the audio windows together (16 s by default), else only the
    windows the model reads, (segments, segment_samples) before their mean is removed
    (:func:`compact_waveform`), so memory does not grow with clip length; ``audio_seconds`` is the
    track's true length either way. ``warnings`` lists what looked wrong but was still read (a file that
    decodes much shorter than its container declares).
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
    warnings: list[str] = dataclasses.field(default_factory=list)

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


def window_starts(num_samples: int, settings: MediaSettings) -> list[int]:
    """Start sample of each official audio window for a track of ``num_samples`` samples.

    Fact from the official code (models/ImageBind/data.py:170-238, official-code-notes §2.2): segment k
    starts at k * max(D - seg, 0) / segments seconds (D: duration; shorter tracks are zero-padded first).
    """
    seg = round(settings.segment_seconds * settings.sample_rate)
    seconds = max(num_samples, seg) / settings.sample_rate
    stride = max(seconds - settings.segment_seconds, 0.0) / settings.audio_segments
    return [int(k * stride * settings.sample_rate) for k in range(settings.audio_segments)]


def compact_waveform(waveform: np.ndarray, settings: MediaSettings) -> np.ndarray:
    """The waveform as kept in a :class:`ClipMedia`: unchanged up to segments x segment length, else
    only its official windows (what :func:`segment_waveform` reads, so its result is the same)."""
    seg = round(settings.segment_seconds * settings.sample_rate)
    if waveform.ndim != 1 or len(waveform) <= settings.audio_segments * seg:
        return waveform
    return np.stack([waveform[s:s + seg] for s in window_starts(len(waveform), settings)])


def segment_waveform(waveform: np.ndarray, settings: MediaSettings) -> np.ndarray:
    """Cut the waveform into the official (segments, segment_samples) float32 HuBERT input.

    ``waveform`` is a whole track (1-D) or its windows already cut (2-D, :func:`compact_waveform`).
    Facts from the official code (models/ImageBind/data.py:170-238, official-code-notes §2.2): clips
    shorter than one segment are zero-padded; windows start at :func:`window_starts`; each segment has
    its mean removed (a side effect of the mel transform that reaches HuBERT).
    """
    seg = round(settings.segment_seconds * settings.sample_rate)
    wav = np.asarray(waveform, dtype=np.float32)
    if wav.ndim == 2:
        if wav.shape != (settings.audio_segments, seg):
            raise EmoxError(f"audio windows of shape {wav.shape} do not match the media settings "
                            f"({settings.audio_segments} x {seg})")
        segments = wav
    else:
        if len(wav) < seg:
            wav = np.pad(wav, (0, seg - len(wav)))
        segments = np.stack([wav[s:s + seg] for s in window_starts(len(wav), settings)])
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


# Tracks up to this long are decoded in one pass and kept whole while decoding; a longer one is counted
# in that pass (its samples dropped) and decoded again to copy out the official windows, so memory stays
# flat in clip length. Both passes run the same deterministic decoder: the windows are identical.
KEEP_SECONDS = 120.0
_BLOCK_BYTES = 1 << 20
_DURATION = re.compile(r"^\s*Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_VIDEO_STREAM = re.compile(r"^\s*Stream #\d+:\d+.*?: Video: ")
_INPUT = re.compile(r"^Input #(\d+), ")
_OUTPUT = re.compile(r"^Output #\d+, ")


@dataclasses.dataclass
class Declared:
    """What an input's container declares, as ffmpeg's log shows it."""

    seconds: float | None = None
    has_video: bool = False


class _InputLog:
    """ffmpeg's log read line by line: each input's declared duration and whether it has a video stream
    (an attached picture, e.g. an album cover, is not one)."""

    def __init__(self) -> None:
        self.inputs: dict[int, Declared] = {}
        self._current: int | None = None

    def feed(self, line: str) -> None:
        if (opened := _INPUT.match(line)) is not None:
            self._current = int(opened.group(1))
            self.inputs.setdefault(self._current, Declared())
        elif _OUTPUT.match(line):
            self._current = None
        elif self._current is not None:
            declared = self.inputs[self._current]
            if (duration := _DURATION.match(line)) is not None:
                hours, minutes, seconds = duration.groups()
                declared.seconds = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
            elif _VIDEO_STREAM.match(line) and "(attached pic)" not in line:
                declared.has_video = True

    def declared(self, index: int) -> Declared:
        return self.inputs.get(index, Declared())


class _FfmpegAudio:
    """One ffmpeg process decoding the first audio track to float32 mono on a pipe, in blocks.

    Its stderr (read by a thread, so neither pipe can fill up and block) tells what the container
    declares: duration and whether it holds a video stream. ``-vn`` before ``-i`` keeps ffmpeg from
    demuxing the video. Fact (environment-notes §2): the ffmpeg CLI trims codec padding, so a 3.0 s AAC
    track gives exactly 3.0 s.
    """

    def __init__(self, path: Path, sample_rate: int) -> None:
        self.path = path
        self._log = _InputLog()
        self._tail: list[str] = []
        self._proc = subprocess.Popen(
            [ffmpeg_exe(), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "info", "-vn", "-i", str(path),
             "-map", "0:a:0", "-ac", "1", "-ar", str(sample_rate), "-f", "f32le", "-"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self) -> None:
        assert self._proc.stderr is not None
        for raw in self._proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            self._log.feed(line)
            self._tail = [*self._tail[-20:], line]

    @property
    def declared(self) -> Declared:
        """What the container declares (complete once the samples are read)."""
        return self._log.declared(0)

    def blocks(self) -> Generator[np.ndarray, None, None]:
        """The samples as they are decoded; raises EmoxError if ffmpeg fails, and ends early (killing
        ffmpeg) when the consumer stops."""
        assert self._proc.stdout is not None
        try:
            while block := self._proc.stdout.read(_BLOCK_BYTES):
                yield np.frombuffer(block[:len(block) // 4 * 4], dtype="<f4").astype(np.float32)
        finally:
            self.cancel()  # a no-op kill once ffmpeg has exited
        if self._proc.returncode != 0 and not self.no_audio_track:
            raise EmoxError(f"{self.path}: cannot decode audio ({_one_line(chr(10).join(self._tail))})")

    @property
    def no_audio_track(self) -> bool:
        return any("matches no streams" in line for line in self._tail)

    def cancel(self) -> None:
        """Stop ffmpeg (if still running) and release its pipes and the stderr reader."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        self._reader.join()
        for pipe in (self._proc.stdout, self._proc.stderr):
            if pipe is not None:
                pipe.close()


def _soundfile_blocks(path: Path) -> Generator[np.ndarray, None, None]:
    import soundfile

    for block in soundfile.blocks(str(path), blocksize=_BLOCK_BYTES // 4, dtype="float32", always_2d=True):
        yield block.mean(axis=1, dtype=np.float32)


def _collect(blocks: Iterator[np.ndarray], keep: int) -> tuple[np.ndarray | None, int]:
    """All samples of the stream if there are at most ``keep``, else None; and how many there are."""
    kept: list[np.ndarray] = []
    total = 0
    for block in blocks:
        total += len(block)
        if total <= keep:
            kept.append(block)
        else:
            kept.clear()  # too long to hold: only count from here on
    if total > keep:
        return None, total
    return (np.concatenate(kept) if kept else np.zeros(0, np.float32)), total


def _cut_windows(blocks: Generator[np.ndarray, None, None], starts: list[int], length: int) -> np.ndarray:
    """Copy the windows [start, start + length) out of a stream of blocks; stop after the last one."""
    windows = np.zeros((len(starts), length), dtype=np.float32)
    position = 0
    end = max(starts) + length
    with contextlib.closing(blocks):  # closing the generator stops its decoder
        for block in blocks:
            for k, start in enumerate(starts):
                lo, hi = max(start, position), min(start + length, position + len(block))
                if lo < hi:
                    windows[k, lo - start:hi - start] = block[lo - position:hi - position]
            position += len(block)
            if position >= end:
                break
    return windows


class AudioDecode:
    """Decode the first audio track in the background; :meth:`result` collects what the model reads.

    Starting first lets the ffmpeg subprocess run while the caller decodes frames. Audio files already
    at the target rate are read in-process by soundfile. A track longer than :data:`KEEP_SECONDS` is
    decoded twice (count, then cut the windows: :func:`compact_waveform`) instead of held whole. A clip
    given an :class:`AudioBatch` takes its samples from that batch's process, or starts its own when the batch
    has none for it.
    """

    def __init__(self, path: Path, settings: MediaSettings, batch: tuple[AudioBatch, int] | None = None) -> None:
        self.path = path
        self.settings = settings
        self._ready: tuple[np.ndarray | None, int] | None = None
        self._ffmpeg: _FfmpegAudio | None = None
        self._declared: Declared | None = None
        self._batch = batch
        self._source: Callable[[], Generator[np.ndarray, None, None]] = lambda: _soundfile_blocks(path)
        if batch is None:
            if path.suffix.lower() in AUDIO_SUFFIXES and self._read_soundfile():
                return
            self._ffmpeg = _FfmpegAudio(path, settings.sample_rate)
        self._source = lambda: _FfmpegAudio(path, settings.sample_rate).blocks()

    @property
    def _keep(self) -> int:
        return round(KEEP_SECONDS * self.settings.sample_rate)

    def _read_soundfile(self) -> bool:
        import soundfile

        try:
            if soundfile.info(str(self.path)).samplerate != self.settings.sample_rate:
                return False
            self._ready = _collect(_soundfile_blocks(self.path), self._keep)
        except (soundfile.LibsndfileError, RuntimeError):
            return False  # not libsndfile-readable after all: ffmpeg tries and reports a clear error
        return True

    @property
    def _container(self) -> Declared | None:
        if self._declared is not None:
            return self._declared
        return None if self._ffmpeg is None else self._ffmpeg.declared

    @property
    def container_seconds(self) -> float | None:
        """The duration the container declares (None: not known, e.g. a wav read by soundfile)."""
        return None if self._container is None else self._container.seconds

    @property
    def has_video(self) -> bool | None:
        """Whether the container declares a video stream (known once :meth:`result` returned; None: not
        probed)."""
        return None if self._container is None else self._container.has_video

    def result(self) -> tuple[np.ndarray | None, float]:
        """(waveform as :func:`compact_waveform` keeps it, track seconds); (None, 0.0) when the file has no
        audio track or the track is empty."""
        if self._ready is None and self._batch is not None:
            batch, index = self._batch
            self._batch = None
            decoded = batch.result(index)
            if decoded is None:  # the batch has nothing for this clip: its own process says why
                self._ffmpeg = _FfmpegAudio(self.path, self.settings.sample_rate)
            else:
                samples, self._declared = decoded
                self._ready = samples, len(samples)
        if self._ready is None:
            assert self._ffmpeg is not None
            self._ready = _collect(self._ffmpeg.blocks(), self._keep)
        kept, total = self._ready
        if total == 0:
            return None, 0.0
        if kept is not None:
            waveform = compact_waveform(kept, self.settings)
        else:  # a long track: decode again, copying out only the windows
            seg = round(self.settings.segment_seconds * self.settings.sample_rate)
            waveform = _cut_windows(self._source(), window_starts(total, self.settings), seg)
        return waveform, total / self.settings.sample_rate

    def cancel(self) -> None:
        if self._ffmpeg is not None:
            self._ffmpeg.cancel()


class AudioBatch:
    """The audio tracks of several video files decoded by one ffmpeg process in the background.

    Each input has its own output and so its own resampler: every clip's samples are those its own process
    gives (``tests/media/test_audio_batch.py``). What it saves is starting ffmpeg: the 170 MB binary of
    imageio-ffmpeg takes about 12 ms of CPU to start, of the ~31 ms a 6-s clip's audio costs in a process of
    its own (this project's machine). Each output stops at :data:`KEEP_SECONDS`; a clip whose track reaches
    that (or a second short of it), and every clip when the process fails (a file ffmpeg cannot open, one
    without an audio track), gets nothing from :meth:`result`: :class:`AudioDecode` then runs the clip's
    own process, which gives the clip's own error. Outputs are files in ``folder``.
    """

    def __init__(self, paths: Sequence[Path], settings: MediaSettings, folder: Path) -> None:
        self.paths = list(paths)
        self.settings = settings
        self._outputs = [folder / f"audio-{index}.f32" for index in range(len(self.paths))]
        self._log_path = folder / "ffmpeg.log"
        command = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "info", "-y"]
        for path in self.paths:
            command += ["-vn", "-i", str(path)]
        for index, output in enumerate(self._outputs):
            # A strict map: one clip without an audio track fails the batch (its clips then decode alone). The
            # optional ``-map i:a:0?`` would not: an output whose map matches nothing got ffmpeg's automatic
            # stream choice, another input's audio (checked with imageio-ffmpeg 9.0.2's binary).
            command += ["-map", f"{index}:a:0", "-ac", "1", "-ar", str(settings.sample_rate), "-t", str(KEEP_SECONDS),
                        "-f", "f32le", str(output)]
        with self._log_path.open("wb") as log:
            self._proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        self._log: _InputLog | None = None

    def audio(self, index: int) -> AudioDecode:
        """The :class:`AudioDecode` of clip ``index``, its samples taken from this batch."""
        return AudioDecode(self.paths[index], self.settings, batch=(self, index))

    def result(self, index: int) -> tuple[np.ndarray, Declared] | None:
        """Clip ``index``'s samples and what its container declares (waits for the process); None: the clip
        has to be decoded by a process of its own."""
        if self._log is None:
            self._proc.wait()
            self._log = _InputLog()
            if self._proc.returncode == 0:
                for line in self._log_path.read_text(errors="replace").splitlines():
                    self._log.feed(line.rstrip())
        output = self._outputs[index]
        if self._proc.returncode != 0 or not output.exists():
            return None
        samples = np.fromfile(output, dtype="<f4").astype(np.float32, copy=False)
        output.unlink()
        if len(samples) >= (KEEP_SECONDS - 1.0) * self.settings.sample_rate:
            return None  # (near) the cut: a long track, decoded by its own process in two passes
        return samples, self._log.declared(index)

    def close(self) -> None:
        """Stop the process if it still runs."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()


def load_clip(
    path: str | Path, settings: MediaSettings | None = None, detector: FaceDetector | None = None,
    audio: AudioDecode | None = None,
) -> ClipMedia:
    """Read one clip (video file, audio file or frame folder) as the model sees it.

    Absent modalities come back as None; a container without a video stream (an audio-only .mp4) is an
    audio clip. Raises EmoxError for a missing, empty or unreadable clip. ``detector`` overrides
    ``settings.detector`` (crop mode only); ``audio``: the clip's audio already under way (an
    :class:`AudioBatch`'s), else it is started here.
    """
    settings = settings or MediaSettings()
    path = Path(path)
    if not path.exists():
        raise EmoxError(f"{path}: clip not found")
    if path.is_file() and path.stat().st_size == 0:
        raise EmoxError(f"{path}: empty file (0 bytes)")
    if audio is None and not path.is_dir():
        audio = AudioDecode(path, settings)
    if audio is not None and path.suffix.lower() in AUDIO_SUFFIXES:
        return _audio_clip(path, audio, settings)
    try:
        frames, indices, count, fps = read_frames(path, settings.frames, settings.image_size)
        faces, boxes, detected = frames, None, None
        if settings.face_mode == "crop":
            full, _, _, _ = read_frames(path, settings.frames, None)
            faces, boxes, detected = crop_faces(full, detector or get_detector(settings.detector),
                                                settings.face_margin, settings.image_size)
    except EmoxError as frames_error:
        if audio is None:
            raise
        try:
            return _audio_clip(path, audio, settings, only_without_video=True)
        except EmoxError:
            raise frames_error from None
    except BaseException:
        if audio is not None:
            audio.cancel()
        raise
    waveform, audio_seconds = (None, 0.0) if audio is None else audio.result()
    video_seconds = count / fps if fps > 0 else 0.0
    return ClipMedia(
        frames=frames, faces=faces, waveform=waveform, sample_rate=settings.sample_rate,
        frame_indices=indices, face_boxes=boxes, face_detected=detected, num_video_frames=count,
        fps=fps, video_seconds=video_seconds, audio_seconds=audio_seconds,
        warnings=_duration_warnings(path, audio, max(video_seconds, audio_seconds)),
    )


def _audio_clip(path: Path, audio: AudioDecode, settings: MediaSettings,
                only_without_video: bool = False) -> ClipMedia:
    """The clip as audio only; ``only_without_video``: only if the container has no video stream."""
    waveform, seconds = audio.result()
    if only_without_video and audio.has_video is not False:
        raise EmoxError(f"{path}: has a video stream")
    if waveform is None:
        raise EmoxError(f"{path}: audio file has no samples")
    return ClipMedia(None, None, waveform, settings.sample_rate, audio_seconds=seconds,
                     warnings=_duration_warnings(path, audio, seconds))


def _duration_warnings(path: Path, audio: AudioDecode | None, decoded_seconds: float) -> list[str]:
    """A warning when the clip decodes clearly shorter than its container declares: a truncated file whose
    index sits at the front reads without an error, but only up to where the data stops."""
    declared = None if audio is None else audio.container_seconds
    if not declared or declared - decoded_seconds <= max(0.5, 0.05 * declared):
        return []
    return [f"{path}: decodes to {decoded_seconds:.1f} s but the container declares {declared:.1f} s "
            "(truncated or damaged file?)"]


def _one_line(message: object) -> str:
    """The last non-empty line of an error message (ffmpeg/decord put the cause last)."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    return lines[-1][-200:] if lines else "unknown error"
