"""The batch job behind ``emox prepare media``: fill the media cache for many clips in parallel.

Resumable by construction: clips whose entry (or recorded failure) exists are skipped, and entries are
written atomically by the workers, so a killed run loses at most the clips in flight. A bad clip (or a
manifest path that escapes the data root) is reported and the rest continue; a bad clip's failure is
recorded. An error of the machine (disk full, too many open files, ...) stops the run with one line and
blames no clip: the rerun resumes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import multiprocessing
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from emox_core.errors import EmoxError
from emox_core.fileio import atomic_write_json, environment_error, require_dir
from emox_core.media.cache import MediaCache, sha256_clip
from emox_core.media.decode import AUDIO_SUFFIXES, IMAGE_SUFFIXES, AudioBatch, AudioDecode
from emox_core.media.settings import MediaSettings

if TYPE_CHECKING:
    from emox_core.data.manifest import Sample

# Clips a worker takes at a time: their audio is decoded by one ffmpeg process (media.decode.AudioBatch).
# Measured on this project's machine (6-s clips): 4 clips a process take 20-23 ms of CPU a clip, 12 take
# 17-20, one a process 34-47; 4 keep the work of a small run spread over the workers.
CHUNK_CLIPS = 4
# How often a pool whose worker died (killed or crashed) is restarted; one more death ends the run.
MAX_POOL_RESTARTS = 2
HASH_SAVE_INTERVAL_S = 30.0

Status = Literal["extracted", "cached", "failed"]


@dataclasses.dataclass(frozen=True)
class ClipJob:
    """One clip to prepare: the sample id (manifest id, or the path relative to the folder) and its file;
    ``error`` marks an item refused before reading (it is reported as failed, nothing is read)."""

    id: str
    path: Path
    error: str | None = None


@dataclasses.dataclass
class ClipResult:
    """What happened to one clip; ``reused`` means the cache already had its entry or its failure."""

    id: str
    path: str
    status: Status
    sha256: str | None = None
    missing: list[str] = dataclasses.field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    reused: bool = False
    warnings: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class PrepareReport:
    settings: MediaSettings
    cache_root: str
    workers: int
    seconds: float
    results: list[ClipResult]

    def count(self, status: Status, reused: bool | None = None) -> int:
        return sum(r.status == status and (reused is None or r.reused == reused) for r in self.results)

    @property
    def failures(self) -> list[ClipResult]:
        return [r for r in self.results if r.status == "failed"]

    def summary_rows(self) -> list[tuple[str, str]]:
        """(label, value) rows for the end-of-run table."""
        done = [r for r in self.results if r.status != "failed"]
        extracted = self.count("extracted")
        rate = f"{extracted / self.seconds:.2f}" if self.seconds > 0 and extracted else "-"
        return [
            ("clips", str(len(self.results))),
            ("extracted now", str(extracted)),
            ("already cached", str(self.count("cached"))),
            ("failed", f"{self.count('failed')} ({self.count('failed', reused=True)} recorded earlier)"),
            ("without audio", str(sum("audio" in r.missing for r in done))),
            ("without video", str(sum("video" in r.missing for r in done))),
            ("without face", str(sum("face" in r.missing and "video" not in r.missing for r in done))),
            ("read with warnings", str(sum(bool(r.warnings) for r in done))),
            ("workers", str(self.workers)),
            ("seconds", f"{self.seconds:.1f}"),
            ("clips/s extracted", rate),
            ("cache", f"{self.cache_root}/{self.settings.fingerprint()}"),
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": self.settings.to_dict(), "fingerprint": self.settings.fingerprint(),
            "cache_root": self.cache_root, "workers": self.workers, "seconds": round(self.seconds, 3),
            "summary": dict(self.summary_rows()),
            "failures": [dataclasses.asdict(r) for r in self.failures],
            "warnings": [w for r in self.results for w in r.warnings],
            "clips": [dataclasses.asdict(r) for r in self.results],
        }


def jobs_from_folder(
    folder: str | os.PathLike[str], exclude: str | os.PathLike[str] | None = None
) -> list[ClipJob]:
    """Every clip under ``folder`` (recursively), with its relative path as id.

    A clip is a non-hidden file, or a sub-folder holding only images (a frame folder). No filtering by
    suffix: a stray non-media file shows up in the failures report instead of being silently ignored,
    and clips with unusual extensions are still read. ``exclude`` (the cache, when it sits inside the
    folder) is skipped.
    """
    root = require_dir(folder, "clip folder")
    skip = Path(exclude).resolve() if exclude else None
    jobs: list[ClipJob] = []
    for current, dirs, files in os.walk(root):
        here = Path(current)
        dirs[:] = [d for d in dirs if not d.startswith(".") and (here / d).resolve() != skip]
        files = [f for f in files if not f.startswith(".")]
        if here != root and files and all(Path(f).suffix.lower() in IMAGE_SUFFIXES for f in files):
            jobs.append(ClipJob(here.relative_to(root).as_posix(), here))
            dirs[:] = []
        else:
            jobs.extend(ClipJob((here / f).relative_to(root).as_posix(), here / f) for f in files)
    return sorted(jobs, key=lambda job: job.id)


def unique_jobs(items: Iterable[tuple[str, str | os.PathLike[str]]]) -> list[ClipJob]:
    """Jobs for (id, path) pairs, one per distinct file: samples of several tasks often share a clip."""
    jobs: dict[Path, ClipJob] = {}
    for item_id, path in items:
        jobs.setdefault(Path(path), ClipJob(item_id, Path(path)))
    return list(jobs.values())


def manifest_jobs(samples: Iterable[Sample], data_root: str | os.PathLike[str]) -> list[ClipJob]:
    """One job per distinct media file of manifest samples (a separate audio file: id ``ID/audio``).

    A path the data root refuses (absolute, or escaping it, e.g. through a symlink pointing outside) is
    one bad item: a job carrying the error, reported as failed, never read.
    """
    items: list[tuple[str, Path]] = []
    refused: list[ClipJob] = []
    for sample in samples:
        for kind in ("video", "audio"):
            job_id = sample.id if kind == "video" else f"{sample.id}/audio"
            try:
                path = sample.media_path(data_root, kind)
            except EmoxError as exc:
                refused.append(ClipJob(job_id, Path(str(sample.media.get(kind))), error=str(exc)))
                continue
            if path is not None:
                items.append((job_id, path))
    return unique_jobs(items) + refused


def _settled(cache: MediaCache, job: ClipJob, sha: str, settings: MediaSettings,
             retry_failed: bool) -> ClipResult | None:
    """The result for a clip the cache already knows (its entry, or its failure unless retried), else None."""
    meta = cache.meta(sha, settings)
    if meta is not None:
        return ClipResult(job.id, str(job.path), "cached", sha, meta["missing"], reused=True,
                          warnings=meta.get("warnings", []))
    failed = None if retry_failed else cache.failure(sha, settings, job.path)
    if failed is not None:
        return ClipResult(job.id, str(job.path), "failed", sha, error=failed["error"], reused=True)
    return None


def _prepare_one(job: ClipJob, sha: str | None, root: str, settings: MediaSettings,
                 retry_failed: bool, audio: AudioDecode | None = None) -> ClipResult:
    """Hash, skip if known, else extract and store (``audio``: the clip's audio already under way). Never
    raises for a bad clip; raises EmoxError for an error of the machine (disk full, ...), which is no clip's
    fault and is not recorded."""
    start = time.perf_counter()
    result = ClipResult(job.id, str(job.path), "failed", sha)
    cache = MediaCache(root)
    try:
        if not job.path.exists():
            raise EmoxError(f"{job.path}: clip not found")
        result.sha256 = sha = sha or sha256_clip(job.path)
        known = _settled(cache, job, sha, settings, retry_failed)
        if known is not None:
            return known
        media = cache.extract(job.path, sha, settings, audio=audio)
        result.status, result.missing, result.warnings = "extracted", media.missing, media.warnings
    except EmoxError as exc:
        result.error = str(exc)
    except Exception as exc:  # a decoder bug on one odd file must not stop the batch; it is reported
        stop = environment_error(exc, job.path)
        if stop is not None:
            raise stop from None
        result.error = f"{job.path}: unexpected {type(exc).__name__}: {exc}"
        if result.sha256:
            cache.record_failure(result.sha256, settings, str(job.path), result.error)
    result.seconds = time.perf_counter() - start
    return result


def _prepare_chunk(chunk: Sequence[tuple[ClipJob, str | None]], root: str, settings: MediaSettings,
                   retry_failed: bool) -> list[ClipResult]:
    """Worker body: :func:`_prepare_one` for each clip, the audio of the chunk's video files decoded by one
    ffmpeg process (:class:`AudioBatch`: the same samples, one process start instead of one per clip) while
    their frames are read. A clip the batch has nothing for decodes its audio on its own."""
    videos = [index for index, (job, _) in enumerate(chunk)
              if job.error is None and job.path.is_file() and job.path.suffix.lower() not in AUDIO_SUFFIXES]
    position = {index: place for place, index in enumerate(videos)}
    with contextlib.ExitStack() as stack:
        batch = None
        if len(videos) >= 2:
            try:
                folder = stack.enter_context(MediaCache(root).scratch(settings))
                batch = AudioBatch([chunk[index][0].path for index in videos], settings, folder)
                stack.callback(batch.close)
            except OSError:  # the machine's (disk full, too many open files): each clip meets it and reports it
                batch = None
        return [_prepare_one(job, sha, root, settings, retry_failed,
                             batch.audio(position[index]) if batch is not None and index in position else None)
                for index, (job, sha) in enumerate(chunk)]


def _chunks(todo: Sequence[tuple[ClipJob, str | None]], workers: int) -> list[list[tuple[ClipJob, str | None]]]:
    """``todo`` in chunks of up to :data:`CHUNK_CLIPS`, small enough that every worker gets one."""
    size = max(1, min(CHUNK_CLIPS, math.ceil(len(todo) / max(1, workers))))
    return [list(todo[start:start + size]) for start in range(0, len(todo), size)]


def _exit_when_gone(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()  # returns when the parent's sentinel closes, i.e. when it has died
    os._exit(1)


def init_media_worker(face_mode: str) -> None:
    """Initializer of a process that reads media (this pool, ``emox infer``'s readers): die with the parent,
    one OpenCV thread per process, no C-level log noise.

    Without the watcher a SIGKILLed run leaves its workers alive: each holds both ends of the task
    queue's pipe, so it never sees EOF (and the forkserver lives as long as its children).
    """
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_when_gone, args=(parent,), daemon=True).start()
    if face_mode == "crop":
        import cv2

        cv2.setNumThreads(1)
    with contextlib.suppress(ImportError):
        import decord

        decord.logging.set_level(decord.logging.QUIET)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # failures are captured in the report; decord/ffmpeg chatter is not needed
    os.close(devnull)


def _pool_context() -> multiprocessing.context.BaseContext:
    """forkserver where the platform has it, else spawn.

    Not fork: the caller may hold threads (torch, the progress bar) that a forked child would inherit
    mid-lock. forkserver forks workers from a clean process that imported the decoders once (measured
    here: 0.4 s to start two workers, against 1.05 s with spawn, which re-imports them in each).
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["emox_core.media.prepare", "decord"])  # ImportError is ignored
        return context
    return multiprocessing.get_context("spawn")


def _run_pool(todo: list[tuple[ClipJob, str | None]], workers: int, root: str, settings: MediaSettings,
              retry_failed: bool) -> Iterator[ClipResult]:
    """Yield results as workers finish; restart a broken pool, then give up (the rerun resumes)."""
    restarts = 0
    while todo:
        finished: set[ClipJob] = set()
        with ProcessPoolExecutor(workers, mp_context=_pool_context(), initializer=init_media_worker,
                                 initargs=(settings.face_mode,)) as pool:
            futures: dict[Future[list[ClipResult]], list[ClipJob]] = {
                pool.submit(_prepare_chunk, chunk, root, settings, retry_failed): [job for job, _ in chunk]
                for chunk in _chunks(todo, workers)
            }
            try:
                for future in as_completed(futures):
                    results = future.result()  # raises BrokenProcessPool for the chunks a dead worker held
                    finished.update(futures[future])
                    yield from results
            except BrokenProcessPool:
                restarts += 1
                if restarts > MAX_POOL_RESTARTS:
                    raise EmoxError(f"{root}: a worker process died {restarts} times (killed, crashed on a "
                                    "clip, or a script without `if __name__ == '__main__':`); finished "
                                    "clips are cached, rerun to resume") from None
            finally:
                pool.shutdown(cancel_futures=True)  # a consumer that stops early must not wait for the queue
        todo = [(job, sha) for job, sha in todo if job not in finished]


def prepare_media(
    jobs: Sequence[ClipJob],
    cache_root: str | os.PathLike[str],
    settings: MediaSettings | None = None,
    workers: int = 2,
    retry_failed: bool = False,
    progress: bool = True,
) -> PrepareReport:
    """Extract every job into the cache with ``workers`` processes (1: in this process) and report.

    Clips whose file hash is remembered and whose entry exists are settled here without a worker, so
    a rerun over a finished corpus does no decoding and no hashing.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    settings = settings or MediaSettings()
    cache = MediaCache(cache_root)
    cache.remove_stale_temp_files(settings)
    start = time.perf_counter()
    results: list[ClipResult] = []
    todo: list[tuple[ClipJob, str | None]] = []
    columns = (TextColumn("media"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
               TextColumn("{task.fields[failed]} failed"))
    with Progress(*columns, console=Console(stderr=True), disable=not progress) as bar:
        task = bar.add_task("media", total=len(jobs), failed=0)
        failed = 0

        def settle(result: ClipResult) -> None:
            nonlocal failed
            results.append(result)
            failed += result.status == "failed"
            if result.sha256:
                with contextlib.suppress(OSError):
                    cache.remember_hash(result.path, result.sha256)
            bar.update(task, advance=1, failed=failed)

        for job in jobs:
            if job.error is not None:
                settle(ClipResult(job.id, str(job.path), "failed", error=job.error))
                continue
            sha = _known_hash(cache, job.path)
            known = _settled(cache, job, sha, settings, retry_failed) if sha else None
            if known is not None:
                settle(known)
            else:
                todo.append((job, sha))
        last_save = time.monotonic()
        stream = (
            (result for chunk in _chunks(todo, 1)
             for result in _prepare_chunk(chunk, str(cache.root), settings, retry_failed))
            if workers <= 1 or len(todo) <= 1
            else _run_pool(todo, workers, str(cache.root), settings, retry_failed)
        )
        try:
            for result in stream:
                settle(result)
                if time.monotonic() - last_save > HASH_SAVE_INTERVAL_S:
                    cache.save_hashes()
                    last_save = time.monotonic()
        except BaseException:
            with contextlib.suppress(OSError, EmoxError):  # keep the first error (a full disk fails this too)
                cache.save_hashes()
            raise
        cache.save_hashes()
    order = {job.id: i for i, job in enumerate(jobs)}
    results.sort(key=lambda r: order.get(r.id, len(order)))
    return PrepareReport(settings, str(cache.root), workers, time.perf_counter() - start, results)


def _known_hash(cache: MediaCache, path: Path) -> str | None:
    try:
        return cache.known_hash(path)
    except OSError:
        return None  # missing file: the worker reports it


def write_report(report: PrepareReport, path: str | os.PathLike[str]) -> Path:
    """Write the run's JSON report (settings, summary, failures, every clip)."""
    atomic_write_json(path, report.to_dict())
    return Path(path)


def default_report_path(cache_root: str | os.PathLike[str]) -> Path:
    """``reports/prepare-<UTC time to the microsecond>-<pid>.json``: two runs never share a name."""
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"
    return Path(cache_root) / "reports" / f"prepare-{stamp}-{os.getpid()}.json"
