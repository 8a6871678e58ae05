"""MediaCache: content-addressed entries, recorded failures, atomic and self-healing reads."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from emox_core.errors import EmoxError
from emox_core.media import cache as cache_module
from emox_core.media.cache import MediaCache, sha256_file
from emox_core.media.decode import load_clip
from emox_core.media.settings import MediaSettings

SETTINGS = MediaSettings()


def test_get_or_extract_stores_then_returns_the_same_arrays(media_dir: Path, tmp_path: Path) -> None:
    cache = MediaCache(tmp_path / "cache")
    first = cache.get_or_extract(media_dir / "good.mp4")
    entry = cache.clip_path(sha256_file(media_dir / "good.mp4"), SETTINGS)
    assert entry.is_file() and (entry.parents[2] / "settings.json").is_file()
    second = MediaCache(tmp_path / "cache").get_or_extract(media_dir / "good.mp4")
    assert np.array_equal(first.frames, second.frames) and np.array_equal(first.waveform, second.waveform)
    assert second.faces is second.frames and second.missing == [] and second.fps == first.fps
    assert np.array_equal(second.frames, load_clip(media_dir / "good.mp4").frames)


def test_entries_are_keyed_by_content_not_path(media_dir: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    cache = MediaCache(tmp_path / "cache")
    cache.get_or_extract(media_dir / "silent_track_missing.mp4")
    copy = shutil.copy(media_dir / "silent_track_missing.mp4", tmp_path / "renamed.mp4")
    monkeypatch.setattr(cache_module, "load_clip", lambda *a, **k: pytest.fail("re-extracted a known clip"))
    assert cache.get_or_extract(copy).missing == ["audio"]


def test_failures_are_recorded_and_not_retried(media_dir: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    cache = MediaCache(tmp_path / "cache")
    with pytest.raises(EmoxError, match="not a readable video"):
        cache.get_or_extract(media_dir / "corrupt.mp4")
    assert cache.failure(sha256_file(media_dir / "corrupt.mp4"), SETTINGS)["error"].endswith("input)")
    monkeypatch.setattr(cache_module, "load_clip", lambda *a, **k: pytest.fail("re-read a failed clip"))
    with pytest.raises(EmoxError, match="not a readable video"):
        cache.get_or_extract(media_dir / "corrupt.mp4")
    monkeypatch.undo()
    with pytest.raises(EmoxError):
        cache.get_or_extract(media_dir / "corrupt.mp4", retry_failed=True)


def test_settings_change_means_a_separate_entry(media_dir: Path, tmp_path: Path) -> None:
    cache = MediaCache(tmp_path / "cache")
    small = cache.get_or_extract(media_dir / "short.mp4", MediaSettings(frames=4, image_size=112))
    assert small.frames.shape == (4, 112, 112, 3)
    assert cache.get_or_extract(media_dir / "short.mp4").frames.shape == (8, 224, 224, 3)


def test_a_damaged_entry_is_re_extracted(media_dir: Path, tmp_path: Path) -> None:
    cache = MediaCache(tmp_path / "cache")
    cache.get_or_extract(media_dir / "short.mp4")
    entry = cache.clip_path(sha256_file(media_dir / "short.mp4"), SETTINGS)
    entry.write_bytes(entry.read_bytes()[:100])
    assert cache.get_or_extract(media_dir / "short.mp4").frames.shape == (8, 224, 224, 3)
    assert cache.load(sha256_file(media_dir / "short.mp4"), SETTINGS) is not None


def test_hash_memo_skips_rehashing_unchanged_files(media_dir: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    cache = MediaCache(tmp_path / "cache")
    sha = cache.file_hash(media_dir / "good.mp4")
    cache.save_hashes()
    monkeypatch.setattr(cache_module, "sha256_file", lambda *a: pytest.fail("hashed again"))
    assert MediaCache(tmp_path / "cache").file_hash(media_dir / "good.mp4") == sha


def test_get_sample_takes_the_separate_audio_file(media_dir: Path, tmp_path: Path) -> None:
    cache = MediaCache(tmp_path / "cache")
    merged = cache.get_sample(media_dir / "silent_track_missing.mp4", media_dir / "speech16k.wav")
    assert merged.frames is not None and len(merged.waveform) == 24000 and merged.missing == []
    assert cache.get_sample(None, media_dir / "speech16k.wav").missing == ["video", "face"]
    assert len(cache.get_sample(media_dir / "good.mp4", None).waveform) == 48000
    with pytest.raises(EmoxError, match="neither"):
        cache.get_sample(None, None)


def test_stale_temp_files_from_a_killed_writer_are_removed(media_dir: Path, tmp_path: Path) -> None:
    cache = MediaCache(tmp_path / "cache")
    entry = cache.clip_path("ab" * 32, SETTINGS)
    entry.parent.mkdir(parents=True)
    old, fresh = entry.parent / f".{entry.name}.x1.tmp", entry.parent / f".{entry.name}.x2.tmp"
    old.write_bytes(b"partial")
    fresh.write_bytes(b"partial")
    os.utime(old, (1, 1))
    assert cache.remove_stale_temp_files(SETTINGS) == 1
    assert not old.exists() and fresh.exists()
