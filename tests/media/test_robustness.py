"""Media failure behaviour (issue 13): audio-only .mp4, truncated files, memory flat in clip length,
transient OS errors, failure records, one bad manifest item, concurrent runs on one cache."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from emox_core.errors import EmoxError
from emox_core.media import cache as cache_module
from emox_core.media import decode, prepare
from emox_core.media.cache import MediaCache, sha256_file
from emox_core.media.decode import ffmpeg_exe, load_clip, segment_waveform
from emox_core.media.prepare import ClipJob, prepare_media
from emox_core.media.settings import MediaSettings
from emox_core.media.synthesize import synthetic_waveform, write_wav

SETTINGS = MediaSettings()


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def _emox(*args: str | Path, cwd: Path | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "emox_cli.main", *map(str, args)], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})


# --- item 9: an audio-only .mp4 ----------------------------------------------------------------------------

def test_audio_only_mp4_reads_like_the_same_bytes_named_m4a(tmp_path: Path) -> None:
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=330:sample_rate=44100:duration=2.5", "-c:a", "aac",
            str(tmp_path / "voice.mp4"))
    shutil.copyfile(tmp_path / "voice.mp4", tmp_path / "voice.m4a")
    as_mp4, as_m4a = load_clip(tmp_path / "voice.mp4"), load_clip(tmp_path / "voice.m4a")
    assert as_mp4.missing == ["video", "face"] and as_mp4.audio_seconds == 2.5
    assert np.array_equal(as_mp4.waveform, as_m4a.waveform)
    assert as_mp4.warnings == []


def test_an_unreadable_video_with_a_good_audio_track_is_still_an_error(media_dir: Path, tmp_path: Path) -> None:
    """Only a container without a video stream becomes an audio clip; a broken video stream stays an error."""
    with pytest.raises(EmoxError, match="not a readable video"):
        load_clip(media_dir / "corrupt.mp4")


# --- item 10: a truncated mp4 whose index is at the front ----------------------------------------------------

def test_truncated_faststart_mp4_is_read_with_a_warning(tmp_path: Path) -> None:
    whole = tmp_path / "whole.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=96x64:rate=25:duration=20", "-f", "lavfi", "-i",
            "sine=frequency=440:sample_rate=16000:duration=20", "-c:v", "libx264", "-preset", "ultrafast",
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "+faststart", "-shortest", str(whole))
    data = whole.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[:len(data) // 3])  # the index (moov) survives at the front
    assert load_clip(whole).warnings == []
    clip = load_clip(tmp_path / "cut.mp4")
    assert clip.audio_seconds < 15 and len(clip.warnings) == 1
    assert "cut.mp4: decodes to" in clip.warnings[0] and "container declares 20.0 s" in clip.warnings[0]
    report = prepare_media([ClipJob("cut", tmp_path / "cut.mp4")], tmp_path / "cache", workers=1, progress=False)
    assert report.results[0].status == "extracted" and report.results[0].warnings == clip.warnings
    assert dict(report.summary_rows())["read with warnings"] == "1"
    rerun = prepare_media([ClipJob("cut", tmp_path / "cut.mp4")], tmp_path / "cache", workers=1, progress=False)
    assert rerun.results[0].reused and rerun.results[0].warnings == clip.warnings  # kept in the cache entry


def test_ordinary_clips_have_no_warning(media_dir: Path) -> None:
    for name in ("good.mp4", "silent_track_missing.mp4", "short.mp4", "speech44k.wav"):
        assert load_clip(media_dir / name).warnings == [], name


# --- item 11: memory flat in clip length --------------------------------------------------------------------

# VmHWM: the peak RSS of this process image (ru_maxrss would carry over the forking parent's peak).
PEAK_RSS = textwrap.dedent("""
    import sys
    from emox_core.media.decode import load_clip
    clip = load_clip(sys.argv[1])
    with open("/proc/self/status") as status:
        peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print(peak_kb // 1024, clip.audio_seconds)
""")


def _peak_mb(path: Path) -> tuple[int, float]:
    out = subprocess.run([sys.executable, "-c", PEAK_RSS, str(path)], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}).stdout
    peak, seconds = out.split()
    return int(peak), float(seconds)


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads the peak RSS from /proc")
def test_peak_memory_does_not_grow_with_clip_length(tmp_path: Path) -> None:
    """A 20-minute clip costs what a 20-second one does (the old whole-track decode: +215 MB here)."""
    for name, seconds in (("short.mp4", 20), ("long.mp4", 1200)):
        _ffmpeg("-f", "lavfi", "-i", f"color=c=red:size=32x32:rate=1:duration={seconds}", "-f", "lavfi", "-i",
                f"sine=frequency=440:sample_rate=16000:duration={seconds}", "-c:v", "libx264", "-preset",
                "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "24k", "-shortest", str(tmp_path / name))
    short_mb, short_s = _peak_mb(tmp_path / "short.mp4")
    long_mb, long_s = _peak_mb(tmp_path / "long.mp4")
    assert (short_s, long_s) == (20.0, 1200.0)
    assert long_mb - short_mb < 40, (short_mb, long_mb)


def test_long_wav_windows_equal_the_whole_track(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The soundfile path (a wav at 16 kHz) also keeps only the windows of a long track, same values."""
    import soundfile

    wave = synthetic_waveform(40.0, 16000, seed=3)
    write_wav(tmp_path / "long.wav", wave)
    monkeypatch.setattr(decode, "KEEP_SECONDS", 10.0)  # force the count-then-cut path on a short file
    clip = load_clip(tmp_path / "long.wav")
    whole, _ = soundfile.read(tmp_path / "long.wav", dtype="float32")
    assert clip.waveform.shape == (8, 32000) and clip.audio_seconds == 40.0
    assert np.array_equal(clip.audio_segments(SETTINGS), segment_waveform(whole, SETTINGS))


def test_compact_windows_survive_the_cache(tmp_path: Path, media_dir: Path) -> None:
    path = tmp_path / "long.wav"
    write_wav(path, synthetic_waveform(30.0, 16000, seed=4))
    first = MediaCache(tmp_path / "cache").get_or_extract(path)
    again = MediaCache(tmp_path / "cache").get_or_extract(path)
    assert again.waveform.shape == (8, 32000) and again.audio_seconds == 30.0
    assert np.array_equal(first.audio_segments(SETTINGS), again.audio_segments(SETTINGS))


# --- item 8: transient OS errors, failure records -----------------------------------------------------------

def test_disk_full_stops_the_run_and_blames_no_clip(media_dir: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    jobs = [ClipJob("good", media_dir / "good.mp4")]
    monkeypatch.setattr(MediaCache, "store", full)
    with pytest.raises(EmoxError, match=r"good.mp4: No space left on device; free some space, then rerun"):
        prepare_media(jobs, tmp_path / "cache", workers=1, progress=False)
    assert MediaCache(tmp_path / "cache").failure(sha256_file(media_dir / "good.mp4"), SETTINGS) is None
    monkeypatch.undo()
    report = prepare_media(jobs, tmp_path / "cache", workers=1, progress=False)
    assert [r.status for r in report.results] == ["extracted"]  # nothing recorded: no --retry-failed needed


def test_a_write_limit_in_the_workers_is_one_line_and_records_nothing(media_dir: Path, tmp_path: Path) -> None:
    """Real worker processes whose writes fail (RLIMIT_FSIZE: EFBIG, like a full disk): one line, exit 1, and
    the rerun with room to write extracts every clip without --retry-failed."""
    import resource

    (tmp_path / "clips").mkdir()
    for name in ("good.mp4", "short.mp4", "speech16k.wav"):
        shutil.copyfile(media_dir / name, tmp_path / "clips" / name)
    args = [sys.executable, "-m", "emox_cli.main", "prepare", "media", str(tmp_path / "clips"), "--cache-dir",
            str(tmp_path / "cache"), "--workers", "2", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    limited = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300,
                             preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000)))
    assert limited.returncode == 1, limited.stderr
    assert limited.stderr.count("\n") == 1 and "File too large; free some space, then rerun" in limited.stderr
    assert not list((tmp_path / "cache").glob("*/failed/*/*.json"))
    again = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stderr
    report = json.loads(next((tmp_path / "cache" / "reports").glob("*.json")).read_text())
    assert report["summary"]["failed"] == "0 (0 recorded earlier)"


def test_too_many_open_files_in_a_worker_is_one_line(media_dir: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def exhausted(*_: object, **__: object) -> None:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(cache_module, "load_clip", exhausted)
    with pytest.raises(EmoxError, match=r"short.mp4: Too many open files; fix this, then rerun") as caught:
        prepare_media([ClipJob("short", media_dir / "short.mp4")], tmp_path / "cache", workers=1, progress=False)
    assert "\n" not in str(caught.value)
    assert MediaCache(tmp_path / "cache").failure(sha256_file(media_dir / "short.mp4"), SETTINGS) is None


def test_a_failure_is_reported_under_the_file_that_failed(media_dir: Path, tmp_path: Path) -> None:
    first = shutil.copyfile(media_dir / "corrupt.mp4", tmp_path / "first.mp4")
    second = shutil.copyfile(media_dir / "corrupt.mp4", tmp_path / "second.mp4")  # the same bytes
    cache = tmp_path / "cache"
    prepare_media([ClipJob("first", first)], cache, workers=1, progress=False)
    report = prepare_media([ClipJob("second", second)], cache, workers=1, progress=False)
    assert report.results[0].reused and report.results[0].error.startswith(f"{second}: not a readable video")
    with pytest.raises(EmoxError, match=r"second.mp4: not a readable video"):
        MediaCache(cache).get_or_extract(second)


# --- item 12: a symlink out of the data root is one bad item ------------------------------------------------

def test_symlink_out_of_the_data_root_is_one_bad_item(media_dir: Path, tmp_path: Path) -> None:
    from emox_core.data.manifest import Sample, write_manifest

    root = tmp_path / "data"
    (root / "clips").mkdir(parents=True)
    shutil.copyfile(media_dir / "short.mp4", root / "clips" / "ok.mp4")
    outside = shutil.copyfile(media_dir / "good.mp4", tmp_path / "elsewhere.mp4")
    (root / "clips" / "link.mp4").symlink_to(outside)
    samples = [Sample(id=i, task="MER", split="test", dataset="x", target="",
                      media={"video": f"clips/{n}.mp4", "audio": None}) for i, n in (("a", "ok"), ("b", "link"))]
    write_manifest(tmp_path / "manifest-test.jsonl", samples)
    run = _emox("prepare", "media", tmp_path / "manifest-test.jsonl", "--data-root", root, "--cache-dir",
                tmp_path / "cache", "--workers", "1", "--no-progress", "--report", tmp_path / "report.json")
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err
    report = json.loads((tmp_path / "report.json").read_text())
    assert {c["id"]: c["status"] for c in report["clips"]} == {"a": "extracted", "b": "failed"}
    assert "escapes the data root" in report["failures"][0]["error"]


# --- item 4: one cache index, two writers; report names ------------------------------------------------------

def test_concurrent_index_saves_keep_both_sets_of_hashes(media_dir: Path, tmp_path: Path) -> None:
    one, two = MediaCache(tmp_path / "cache"), MediaCache(tmp_path / "cache")
    one.file_hash(media_dir / "good.mp4")
    two.file_hash(media_dir / "short.mp4")  # read the (empty) index before `one` saved
    one.save_hashes()
    two.save_hashes()
    index = json.loads((tmp_path / "cache" / "hashes.json").read_text())
    assert {Path(p).name for p in index} == {"good.mp4", "short.mp4"}


def test_two_prepare_media_runs_on_one_cache_lose_nothing(media_dir: Path, tmp_path: Path) -> None:
    sets = {"a": ["good.mp4", "speech16k.wav"], "b": ["short.mp4", "speech44k.wav", "silent_track_missing.mp4"]}
    for folder, names in sets.items():
        (tmp_path / folder).mkdir()
        for name in names:
            shutil.copyfile(media_dir / name, tmp_path / folder / name)
    runs = [_emox("prepare", "media", tmp_path / folder, "--cache-dir", tmp_path / "cache", "--workers", "1",
                  "--no-progress") for folder in sets]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
    index = json.loads((tmp_path / "cache" / "hashes.json").read_text())
    assert sorted(Path(p).name for p in index) == sorted(sets["a"] + sets["b"])
    assert len(list((tmp_path / "cache" / "reports").glob("prepare-*.json"))) == 2


def test_report_names_never_collide(tmp_path: Path) -> None:
    assert len({prepare.default_report_path(tmp_path) for _ in range(50)}) == 50


# --- item 13: the suite's caches are temporary ---------------------------------------------------------------

def test_the_default_cache_is_not_the_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    users = Path.home() / ".cache" / "emox"
    assert not cache_module.default_cache_root().resolve().is_relative_to(users.resolve())
    monkeypatch.delenv("EMOX_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # the code default honours XDG too
    assert cache_module.default_cache_root() == tmp_path / "xdg" / "emox" / "media"


def test_a_cli_run_without_cache_dir_stays_in_the_temporary_cache(media_dir: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "clips").mkdir()
    shutil.copyfile(media_dir / "short.mp4", tmp_path / "clips" / "short.mp4")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # where ~/.cache/emox would be
    run = _emox("prepare", "media", tmp_path / "clips", "--workers", "1", "--no-progress")
    _, err = run.communicate(timeout=300)
    assert run.returncode == 0, err
    assert not (tmp_path / "home").exists()
    assert (Path(os.environ["EMOX_CACHE_DIR"]) / "media" / "hashes.json").is_file()
