"""Content-addressed media cache: one .npz per clip, keyed by the file's sha256 and the settings.

Layout under ``root``::

    hashes.json                               path -> [size, mtime_ns, sha256], so reruns skip hashing
                                              (merged under a lock: concurrent runs lose no entry)
    <fingerprint>/settings.json               the MediaSettings these entries were made with
    <fingerprint>/clips/<sha[:2]>/<sha>.npz   arrays + a JSON "meta" entry
    <fingerprint>/failed/<sha[:2]>/<sha>.json why the clip could not be read

Keying by content means a renamed or copied clip is found again, an edited one is re-extracted, and
two datasets that share a file share its entry. Every file is written atomically (temp + rename), so
a killed run leaves either a whole entry or none (plus a hidden ``.*.tmp`` that the next
``prepare_media`` removes once it is an hour old).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from emox_core.errors import EmoxError
from emox_core.fileio import atomic_open, atomic_write_json, user_cache_dir
from emox_core.locking import exclusive
from emox_core.media.decode import AudioDecode, ClipMedia, frame_files, load_clip
from emox_core.media.faces import FaceDetector
from emox_core.media.settings import MediaSettings

_ARRAYS = ("frames", "faces", "waveform", "frame_indices", "face_boxes", "face_detected")
# Folder (under a settings' fingerprint) of the readers' scratch folders: MediaCache.scratch.
_SCRATCH = ".scratch"
# How long a run waits for another one that is merging its hashes into the index (a quick write).
INDEX_LOCK_WAIT_S = 600.0


def default_cache_root() -> Path:
    """$EMOX_MEDIA_CACHE, else the ``media`` folder of :func:`~emox_core.fileio.user_cache_dir`
    ($XDG_CACHE_HOME/emox, else ~/.cache/emox): one place that prepare, training and infer agree on."""
    return Path(os.environ.get("EMOX_MEDIA_CACHE") or user_cache_dir() / "media")


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_clip(path: str | os.PathLike[str]) -> str:
    """The content hash of a clip: its bytes, or for a frame folder its frames' names and bytes."""
    path = Path(path)
    if not path.is_dir():
        return sha256_file(path)
    digest = hashlib.sha256(b"frame-folder\n")
    for frame in frame_files(path):
        digest.update(f"{frame.name}\0{sha256_file(frame)}\n".encode())
    return digest.hexdigest()


def _signature(path: Path) -> list[int]:
    """What must be unchanged for a remembered hash to hold: size and mtime (a folder: of its frames)."""
    if not path.is_dir():
        stat = path.stat()
        return [stat.st_size, stat.st_mtime_ns]
    stats = [frame.stat() for frame in frame_files(path)]
    return [len(stats), sum(s.st_size for s in stats), max((s.st_mtime_ns for s in stats), default=0)]


class MediaCache:
    """The media cache at ``root``; safe to share between processes (entries are written atomically, the
    hash index is merged under a lock)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._hashes: dict[str, list[Any]] | None = None
        self._new_hashes: dict[str, list[Any]] = {}  # remembered here since the last save

    # -- file hashes -------------------------------------------------------------------------------
    def _read_index(self) -> dict[str, list[Any]]:
        try:
            index = json.loads((self.root / "hashes.json").read_text())
        except (OSError, ValueError):
            return {}
        return index if isinstance(index, dict) else {}

    def _hash_memo(self) -> dict[str, list[Any]]:
        if self._hashes is None:
            self._hashes = self._read_index()
        return self._hashes

    def known_hash(self, path: str | os.PathLike[str]) -> str | None:
        """The sha256 remembered for ``path`` if its size and mtime are unchanged, else None."""
        path = Path(path)
        entry = self._hash_memo().get(str(path.resolve()))
        return entry[-1] if entry and entry[:-1] == _signature(path) else None

    def remember_hash(self, path: str | os.PathLike[str], sha: str) -> None:
        path = Path(path)
        entry = [*_signature(path), sha]
        self._hash_memo()[str(path.resolve())] = entry
        self._new_hashes[str(path.resolve())] = entry

    def file_hash(self, path: str | os.PathLike[str]) -> str:
        sha = self.known_hash(path)
        if sha is None:
            sha = sha256_clip(path)
            self.remember_hash(path, sha)
        return sha

    def save_hashes(self) -> None:
        """Merge the hashes remembered since the last save into the index (the next run then skips
        hashing unchanged files). Under the index lock, re-reading the file first, so a second process
        saving at the same time adds its entries instead of overwriting these."""
        if not self._new_hashes:
            return
        index = self.root / "hashes.json"
        with exclusive(index, "media cache index", wait_s=INDEX_LOCK_WAIT_S):
            merged = {**self._read_index(), **self._new_hashes}
            atomic_write_json(index, merged, indent=None)
        self._hashes = merged
        self._new_hashes = {}

    # -- entries -----------------------------------------------------------------------------------
    def clip_path(self, sha: str, settings: MediaSettings) -> Path:
        return self.root / settings.fingerprint() / "clips" / sha[:2] / f"{sha}.npz"

    def failure_path(self, sha: str, settings: MediaSettings) -> Path:
        return self.root / settings.fingerprint() / "failed" / sha[:2] / f"{sha}.json"

    def meta(self, sha: str, settings: MediaSettings) -> dict[str, Any] | None:
        """The entry's metadata only (cheap: one small member of the .npz), or None if absent/unreadable."""
        try:
            with np.load(self.clip_path(sha, settings), allow_pickle=False) as data:
                return json.loads(str(data["meta"]))
        except (OSError, KeyError, ValueError, zipfile.BadZipFile):
            return None

    def load(self, sha: str, settings: MediaSettings) -> ClipMedia | None:
        """The cached arrays, or None when there is no (readable) entry."""
        try:
            with np.load(self.clip_path(sha, settings), allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                arrays = {name: data.get(name) for name in _ARRAYS}
        except (OSError, KeyError, ValueError, zipfile.BadZipFile):
            return None
        if meta["faces_are_frames"]:
            arrays["faces"] = arrays["frames"]
        fields = {f.name for f in dataclasses.fields(ClipMedia)}
        return ClipMedia(**arrays, **{k: v for k, v in meta.items() if k in fields and k not in arrays})

    def store(self, sha: str, settings: MediaSettings, media: ClipMedia, source: str) -> Path:
        path = self.clip_path(sha, settings)
        settings_file = path.parents[2] / "settings.json"
        if not settings_file.exists():
            atomic_write_json(settings_file, settings.to_dict())
        faces_are_frames = media.faces is not None and media.faces is media.frames
        arrays = {name: getattr(media, name) for name in _ARRAYS if getattr(media, name) is not None}
        if faces_are_frames:
            del arrays["faces"]
        meta = {
            "source": source, "sha256": sha, "settings": settings.to_dict(), "missing": media.missing,
            "faces_are_frames": faces_are_frames, "sample_rate": media.sample_rate,
            "num_video_frames": media.num_video_frames, "fps": media.fps,
            "video_seconds": media.video_seconds, "audio_seconds": media.audio_seconds,
            "warnings": media.warnings,
        }
        with atomic_open(path, "wb") as handle:
            np.savez(handle, meta=np.array(json.dumps(meta)), **arrays)
        return path

    def remove_stale_temp_files(self, settings: MediaSettings, older_than_s: float = 3600.0) -> int:
        """Delete temp files and scratch folders that a killed process left behind; younger ones may belong
        to a live one."""
        cutoff = time.time() - older_than_s
        removed = 0
        base = self.root / settings.fingerprint()
        for temp in [*base.glob("*/*/.*.tmp"), *base.glob(f"{_SCRATCH}/*")]:
            with contextlib.suppress(FileNotFoundError):
                if temp.stat().st_mtime < cutoff:
                    shutil.rmtree(temp) if temp.is_dir() else temp.unlink()
                    removed += 1
        return removed

    @contextlib.contextmanager
    def scratch(self, settings: MediaSettings) -> Iterator[Path]:
        """A private folder for a reader's temporary files (an :class:`AudioBatch`'s outputs), removed after
        use; one a killed worker leaves is removed by :meth:`remove_stale_temp_files` on a later run."""
        parent = self.root / settings.fingerprint() / _SCRATCH
        parent.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="batch-", dir=parent))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def failure(self, sha: str, settings: MediaSettings,
                path: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
        """The recorded failure of the content ``sha``; its error names ``path`` (the file asked about)
        instead of the file first recorded with those bytes."""
        try:
            record = json.loads(self.failure_path(sha, settings).read_text())
        except (OSError, ValueError):
            return None
        source = record.get("source")
        if path is not None and source and str(path) != source:
            record["error"] = str(record.get("error", "")).replace(source, str(path))
        return record

    def record_failure(self, sha: str, settings: MediaSettings, source: str, error: str) -> None:
        record = {"source": source, "sha256": sha, "error": error, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                          time.gmtime())}
        atomic_write_json(self.failure_path(sha, settings), record)

    def extract(self, path: Path, sha: str, settings: MediaSettings,
                detector: FaceDetector | None = None, audio: AudioDecode | None = None) -> ClipMedia:
        """Read the clip and store it (``audio``: its audio already under way, as :func:`load_clip` takes it);
        a user-level failure is recorded, then re-raised."""
        try:
            media = load_clip(path, settings, detector, audio)
        except EmoxError as exc:
            self.record_failure(sha, settings, str(path), str(exc))
            raise
        self.store(sha, settings, media, str(path))
        self.failure_path(sha, settings).unlink(missing_ok=True)
        return media

    def get_or_extract(self, path: str | os.PathLike[str], settings: MediaSettings | None = None,
                       detector: FaceDetector | None = None, retry_failed: bool = False) -> ClipMedia:
        """The clip's arrays from the cache, extracting (and storing) them on a miss.

        A clip that failed before raises its recorded EmoxError again without being re-read, unless
        ``retry_failed``.
        """
        settings = settings or MediaSettings()
        path = Path(path)
        if not path.exists():
            raise EmoxError(f"{path}: clip not found")
        sha = self.file_hash(path)
        cached = self.load(sha, settings)
        if cached is not None:
            return cached
        failed = self.failure(sha, settings, path)
        if failed is not None and not retry_failed:
            raise EmoxError(failed["error"])
        return self.extract(path, sha, settings, detector)

    def get_sample(self, video: str | os.PathLike[str] | None, audio: str | os.PathLike[str] | None,
                   settings: MediaSettings | None = None) -> ClipMedia:
        """A manifest sample's media: frames and faces from ``video``; the waveform from ``audio`` when
        the sample has a separate audio file, else the video's own track."""
        if video is None:
            if audio is None:
                raise EmoxError("sample has neither video nor audio")
            return self.get_or_extract(audio, settings)
        picture = self.get_or_extract(video, settings)
        if audio is None:
            return picture
        sound = self.get_or_extract(audio, settings)
        return dataclasses.replace(picture, waveform=sound.waveform, audio_seconds=sound.audio_seconds)
