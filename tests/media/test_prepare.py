"""The batch job and ``emox prepare media``: failures reported, resumable, safe to kill."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from emox_cli.prepare_media import media
from emox_core.media import prepare
from emox_core.media.cache import MediaCache
from emox_core.media.decode import load_clip
from emox_core.media.prepare import ClipJob, jobs_from_folder, prepare_media
from emox_core.media.settings import MediaSettings
from emox_core.media.synthesize import synthetic_clip

GOOD = {"good.mp4", "short.mp4", "silent_track_missing.mp4", "speech16k.wav", "speech44k.wav"}
BAD = {"corrupt.mp4", "empty.mp4", "notes.txt"}


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "emox_cli.main", "prepare", "media", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def cached_entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("*/clips/*/*.npz"))


@pytest.mark.parametrize("workers", [1, 2])
def test_prepare_media_reports_bad_clips_and_keeps_going(media_dir: Path, tmp_path: Path, workers: int) -> None:
    report = prepare_media(jobs_from_folder(media_dir), tmp_path / "cache", workers=workers, progress=False)
    status = {r.id: r.status for r in report.results}
    assert status == {**dict.fromkeys(GOOD, "extracted"), **dict.fromkeys(BAD, "failed")}
    assert {r.id for r in report.failures} == BAD and all(r.error for r in report.failures)
    rows = dict(report.summary_rows())
    assert rows["without audio"] == "1" and rows["without video"] == "2"
    assert len(cached_entries(tmp_path / "cache")) == len(GOOD)
    rerun = prepare_media(jobs_from_folder(media_dir), tmp_path / "cache", workers=workers, progress=False)
    assert all(r.reused for r in rerun.results) and rerun.count("extracted") == 0


def test_rerun_does_no_decoding_and_no_hashing(media_dir: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = jobs_from_folder(media_dir)
    prepare_media(jobs, tmp_path / "cache", workers=1, progress=False)
    monkeypatch.setattr(prepare, "_prepare_one", lambda *a: pytest.fail("a settled clip went to a worker"))
    report = prepare_media(jobs, tmp_path / "cache", workers=2, progress=False)
    assert report.count("cached") == len(GOOD) and report.count("failed", reused=True) == len(BAD)


def test_duplicate_files_in_a_manifest_become_one_job(tmp_path: Path) -> None:
    path = tmp_path / "a.mp4"
    jobs = prepare.unique_jobs([("s1", path), ("s2", path), ("s3", tmp_path / "b.wav")])
    assert jobs == [ClipJob("s1", path), ClipJob("s3", tmp_path / "b.wav")]


def test_cli_accepts_a_manifest(media_dir: Path, tmp_path: Path) -> None:
    manifest_module = pytest.importorskip("emox_core.data.manifest")
    first_task, second_task = pytest.importorskip("emox_core.tasks").TASK_NAMES[:2]
    samples = [
        manifest_module.Sample(id=f"s{i}", task=task, split="test", dataset="demo", target="happy",
                               media={"video": video, "audio": None})
        for i, (task, video) in enumerate([(first_task, "good.mp4"), (second_task, "good.mp4"),
                                           (first_task, "silent_track_missing.mp4")])
    ]
    out = tmp_path / "manifests"
    manifest_module.write_manifest(out / "manifest-test.jsonl", samples)
    (out / "stats.json").write_text(json.dumps({"data_root": str(media_dir)}))
    app = typer.Typer()
    app.command()(media)
    result = CliRunner().invoke(app, [str(out / "manifest-test.jsonl"), "--cache-dir", str(tmp_path / "cache"),
                                      "-j", "1", "--no-progress", "--report", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert [c["id"] for c in report["clips"]] == ["s0", "s2"]


def test_cli_done_when_folder_with_bad_files(media_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = run_cli(media_dir, "--cache-dir", cache, "--no-progress", "--report", tmp_path / "r1.json")
    assert first.returncode == 0, first.stderr
    for name in BAD:
        assert name in first.stdout
    report = json.loads((tmp_path / "r1.json").read_text())
    assert {f["id"] for f in report["failures"]} == BAD
    assert len(cached_entries(cache)) == len(GOOD)
    second = run_cli(media_dir, "--cache-dir", cache, "--no-progress", "--report", tmp_path / "r2.json")
    assert second.returncode == 0
    summary = json.loads((tmp_path / "r2.json").read_text())["summary"]
    assert summary["extracted now"] == "0" and summary["already cached"] == str(len(GOOD))


def test_cli_user_errors(tmp_path: Path) -> None:
    (tmp_path / "clips.csv").write_text("x\n")
    result = run_cli(tmp_path / "clips.csv", "--cache-dir", tmp_path / "cache")
    assert result.returncode == 1 and "expected a manifest" in result.stderr
    result = run_cli(tmp_path, "--face-mode", "box", "--cache-dir", tmp_path / "cache")
    assert result.returncode == 1 and "face_mode" in result.stderr


@pytest.fixture(scope="module")
def face_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Enough crop-mode clips (slow per clip: Haar at full resolution) to kill a run midway."""
    folder = tmp_path_factory.mktemp("corpus")
    for i in range(12):
        synthetic_clip(folder / f"c{i:02d}.mp4", duration=2.0, size=(480, 640), color=(20 * i, 90, 160), seed=i)
    return folder


def _children(pid: int) -> list[int]:
    """Child process ids (Linux /proc)."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _wait_for_entries(cache: Path, proc: subprocess.Popen[str], count: int = 1) -> None:
    deadline = time.monotonic() + 60
    while len(cached_entries(cache)) < count:
        assert proc.poll() is None, "the run finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)


def _start(corpus: Path, cache: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "emox_cli.main", "prepare", "media", str(corpus), "--cache-dir",
                             str(cache), "--face-mode", "crop", "-j", "2", "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _check_entries(corpus: Path, cache: Path) -> None:
    entries = cached_entries(cache)
    assert len(entries) == 12
    settings = MediaSettings(face_mode="crop")
    store = MediaCache(cache)
    for path in sorted(corpus.glob("*.mp4")):
        cached = store.load(store.file_hash(path), settings)
        assert cached is not None and cached.missing == ["face"]
    fresh = load_clip(corpus / "c00.mp4", settings)
    assert np.array_equal(store.load(store.file_hash(corpus / "c00.mp4"), settings).frames, fresh.frames)


@pytest.mark.slow
def test_killing_a_worker_loses_nothing(face_corpus: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    proc = _start(face_corpus, cache)
    _wait_for_entries(cache, proc)
    # the pool's workers are the children of its forkserver (their own children are ffmpeg)
    workers = [g for c in _children(proc.pid) for g in _children(c)
               if "ffmpeg" not in Path(f"/proc/{g}/cmdline").read_text(errors="replace")]
    assert workers
    os.kill(workers[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    _check_entries(face_corpus, cache)


@pytest.mark.slow
def test_killing_the_run_and_rerunning_loses_nothing(face_corpus: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    proc = _start(face_corpus, cache)
    _wait_for_entries(cache, proc, count=2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    done_before = len(cached_entries(cache))
    assert done_before < 12
    rerun = run_cli(face_corpus, "--cache-dir", cache, "--face-mode", "crop", "--no-progress",
                    "--report", tmp_path / "r.json")
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads((tmp_path / "r.json").read_text())["summary"]
    assert int(summary["already cached"]) >= done_before and summary["failed"].startswith("0")
    _check_entries(face_corpus, cache)
    shutil.rmtree(cache)


def test_folder_jobs_treat_image_folders_as_clips(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "scene" / "clip1").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "scene" / "clip1" / f"{i}.jpg")
    (tmp_path / "scene" / "b.mp4").write_bytes(b"x")
    (tmp_path / ".hidden").write_bytes(b"x")
    (tmp_path / "cache" / "x").mkdir(parents=True)
    (tmp_path / "cache" / "x" / "entry.npz").write_bytes(b"x")
    jobs = jobs_from_folder(tmp_path, exclude=tmp_path / "cache")
    assert [job.id for job in jobs] == ["scene/b.mp4", "scene/clip1"]
    store = MediaCache(tmp_path / "store")
    sha = store.file_hash(tmp_path / "scene" / "clip1")
    assert store.known_hash(tmp_path / "scene" / "clip1") == sha
    Image.fromarray(np.ones((8, 8, 3), np.uint8)).save(tmp_path / "scene" / "clip1" / "3.jpg")
    assert store.known_hash(tmp_path / "scene" / "clip1") is None
