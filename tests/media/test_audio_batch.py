"""Audio decoded by one ffmpeg process for several clips (``AudioBatch``) equals what one process per clip
gives (the official way: ``ffmpeg -i clip ...`` per file), sample for sample, in every case the batch covers
and in every case it hands back to the clip's own process."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from emox_core.errors import EmoxError
from emox_core.media import decode, prepare
from emox_core.media.cache import MediaCache
from emox_core.media.decode import AudioBatch, AudioDecode, ffmpeg_exe, load_clip
from emox_core.media.prepare import ClipJob, prepare_media
from emox_core.media.settings import MediaSettings
from emox_core.media.synthesize import synthetic_clip


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("batch")
    made = {
        "44k": synthetic_clip(folder / "a44k.mp4", duration=3.0, size=(120, 160), sample_rate=44100, seed=1),
        "48k": synthetic_clip(folder / "b48k.mp4", duration=2.2, size=(120, 160), sample_rate=48000, seed=2,
                              pitch_hz=300.0),
        "16k": synthetic_clip(folder / "c16k.mp4", duration=1.3, size=(120, 160), sample_rate=16000, seed=3),
        "no_audio": synthetic_clip(folder / "d_no_audio.mp4", duration=1.0, size=(120, 160), audio=False),
    }
    audio_only = folder / "e_audio_only.mp4"  # an mp4 container with no video stream
    subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-i", str(made["44k"]), "-vn",
                    "-c:a", "aac", str(audio_only)], check=True)
    made["audio_only"] = audio_only
    corrupt = folder / "f_corrupt.mp4"
    corrupt.write_bytes(made["44k"].read_bytes()[:64] + bytes(4096))
    made["corrupt"] = corrupt
    return made


def _own_process(path: Path, settings: MediaSettings) -> tuple[np.ndarray | None, float, float | None, bool | None]:
    audio = AudioDecode(path, settings)
    waveform, seconds = audio.result()
    return waveform, seconds, audio.container_seconds, audio.has_video


def _batched(paths: list[Path], settings: MediaSettings, folder: Path,
             indices: list[int] | None = None) -> list[tuple[Any, ...]]:
    """Clips ``indices`` (default: all) of one batch over ``paths``, through AudioDecode as load_clip reads."""
    batch = AudioBatch(paths, settings, folder)
    try:
        out = []
        for index in range(len(paths)) if indices is None else indices:
            audio = batch.audio(index)
            waveform, seconds = audio.result()
            out.append((waveform, seconds, audio.container_seconds, audio.has_video))
        return out
    finally:
        batch.close()


def _assert_same(ours: tuple[Any, ...], theirs: tuple[Any, ...]) -> None:
    if theirs[0] is None:
        assert ours[0] is None
    else:
        assert ours[0].dtype == theirs[0].dtype and np.array_equal(ours[0], theirs[0])
    assert ours[1:] == theirs[1:]


def test_batch_gives_each_clip_the_samples_of_its_own_process(clips: dict[str, Path], tmp_path: Path) -> None:
    settings = MediaSettings()
    paths = [clips[name] for name in ("44k", "48k", "16k", "audio_only")]
    batch = AudioBatch(paths, settings, tmp_path)
    try:
        decoded = [batch.result(index) for index in range(len(paths))]
    finally:
        batch.close()
    for path, got in zip(paths, decoded, strict=True):
        assert got is not None, path  # the batch covered it: no second process
        samples, declared = got
        own = decode._FfmpegAudio(path, settings.sample_rate)
        expected = np.concatenate(list(own.blocks()))
        assert np.array_equal(samples, expected), path
        assert (declared.seconds, declared.has_video) == (own.declared.seconds, own.declared.has_video)
    assert [d.has_video for _, d in decoded] == [True, True, True, False]
    for ours, path in zip(_batched(paths, settings, tmp_path), paths, strict=True):
        _assert_same(ours, _own_process(path, settings))


@pytest.mark.parametrize("odd", ["no_audio", "corrupt"])
def test_a_clip_the_batch_cannot_take_falls_back_to_its_own_process(clips: dict[str, Path], tmp_path: Path,
                                                                    odd: str) -> None:
    settings = MediaSettings()
    paths = [clips["44k"], clips[odd], clips["16k"]]
    batch = AudioBatch(paths, settings, tmp_path)
    try:
        assert batch.result(0) is None  # the process failed: every clip decodes on its own
    finally:
        batch.close()
    for ours, path in zip(_batched(paths, settings, tmp_path, [0, 2]), [clips["44k"], clips["16k"]], strict=True):
        _assert_same(ours, _own_process(path, settings))
    # the odd clip gets exactly its own process's outcome: no audio, or the same error
    if odd == "no_audio":
        batch = AudioBatch(paths, settings, tmp_path)
        try:
            assert load_clip(paths[1], settings, audio=batch.audio(1)).waveform is None
        finally:
            batch.close()
    else:
        with pytest.raises(EmoxError) as own_error:
            load_clip(paths[1], settings)
        batch = AudioBatch(paths, settings, tmp_path)
        try:
            with pytest.raises(EmoxError) as batch_error:
                load_clip(paths[1], settings, audio=batch.audio(1))
        finally:
            batch.close()
        assert str(batch_error.value) == str(own_error.value)


def test_a_track_near_the_keep_limit_is_decoded_by_its_own_process(clips: dict[str, Path], tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decode, "KEEP_SECONDS", 2.5)  # the 3-s clip is "long": two passes of its own
    settings = MediaSettings()
    paths = [clips["44k"], clips["16k"]]
    batch = AudioBatch(paths, settings, tmp_path)
    try:
        assert batch.result(0) is None and batch.result(1) is not None
    finally:
        batch.close()
    for ours, path in zip(_batched(paths, settings, tmp_path), paths, strict=True):
        _assert_same(ours, _own_process(path, settings))


@pytest.mark.parametrize("workers", [1, 2])
def test_prepare_media_stores_what_one_clip_at_a_time_stores(clips: dict[str, Path], tmp_path: Path,
                                                             workers: int) -> None:
    settings = MediaSettings()
    names = ["44k", "48k", "16k", "audio_only", "no_audio", "corrupt"]  # a batch that works, whatever the chunks
    jobs = [ClipJob(name, clips[name]) for name in names]
    report = prepare_media(jobs, tmp_path / "batched", settings, workers=workers, progress=False)
    by_id = {result.id: result for result in report.results}
    assert by_id["corrupt"].status == "failed" and all(by_id[n].status == "extracted" for n in names[:-1])
    batched, single = MediaCache(tmp_path / "batched"), MediaCache(tmp_path / "single")
    for name in names[:-1]:
        sha = by_id[name].sha256
        assert sha is not None
        expected = single.extract(clips[name], sha, settings)  # one clip, its own ffmpeg process
        stored = batched.load(sha, settings)
        assert stored is not None
        for field in ("frames", "faces", "waveform"):
            ours, theirs = getattr(stored, field), getattr(expected, field)
            assert (ours is None and theirs is None) or np.array_equal(ours, theirs), (name, field)
        assert stored.warnings == expected.warnings and stored.audio_seconds == expected.audio_seconds
    with pytest.raises(EmoxError) as own_error:
        load_clip(clips["corrupt"], settings)
    assert by_id["corrupt"].error == str(own_error.value)
    scratch = tmp_path / "batched" / settings.fingerprint() / ".scratch"
    assert scratch.is_dir() and not any(scratch.iterdir())  # the batches' files are gone


def test_a_killed_workers_scratch_folder_is_removed_by_a_later_run(tmp_path: Path) -> None:
    settings = MediaSettings()
    cache = MediaCache(tmp_path)
    with cache.scratch(settings) as live:
        (live / "audio-0.f32").write_bytes(bytes(8))
        stale = live.parent / "batch-left-by-a-killed-worker"
        stale.mkdir()
        (stale / "audio-0.f32").write_bytes(bytes(8))
        os.utime(stale, (time.time() - 7200, time.time() - 7200))
        assert cache.remove_stale_temp_files(settings) == 1
        assert not stale.exists() and (live / "audio-0.f32").exists()  # a live one is young: kept
    assert not live.exists()


def test_a_batch_the_machine_cannot_start_leaves_each_clip_to_its_own_process(
        clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_process(*_: Any) -> None:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(prepare, "AudioBatch", no_process)
    jobs = [ClipJob(name, clips[name]) for name in ("44k", "48k", "16k")]
    report = prepare_media(jobs, tmp_path, MediaSettings(), workers=1, progress=False)
    assert [result.status for result in report.results] == ["extracted"] * 3
