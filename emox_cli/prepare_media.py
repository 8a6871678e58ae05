"""``emox prepare media``: fill the media cache from a manifest or a clip folder (parse and print only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from emox_core.media.prepare import ClipJob


def media(
    source: Path = typer.Argument(..., help="A manifest (.jsonl) or a folder of clips."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", "-c", help="Media cache root (default "
                                          "$EMOX_MEDIA_CACHE, else $XDG_CACHE_HOME/emox/media or "
                                          "~/.cache/emox/media)."),
    data_root: Path | None = typer.Option(None, "--data-root", help="Root of a manifest's media paths "
                                          "(default: data_root from stats.json beside the manifest)."),
    workers: int = typer.Option(2, "--workers", "-j", min=1, help="Worker processes (1: no pool)."),
    face_mode: str = typer.Option("raw", "--face-mode", help="raw: full frames (official) | crop: detected "
                                  "face +50 % margin (FaceXFormer)."),
    detector: str = typer.Option("haar", "--detector", help="Face detector for crop mode: haar | "
                                 "package.module:factory."),
    frames: int = typer.Option(8, "--frames", min=1, help="Uniform frames per clip."),
    image_size: int = typer.Option(224, "--image-size", min=16, help="Frame and face size (square)."),
    sample_rate: int = typer.Option(16000, "--sample-rate", min=1000, help="Audio rate (Hz, mono)."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Re-read clips that failed before."),
    report: Path | None = typer.Option(None, "--report", help="JSON report path "
                                       "(default CACHE_DIR/reports/prepare-TIME-PID.json)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
) -> None:
    """Extract frames, 16 kHz mono audio and face input of every clip into the content-addressed cache.

    Resumable: finished clips are skipped. Bad clips are listed in the report; the run still exits 0.
    A full disk (or another error of the machine) stops the run with one line, blaming no clip.
    """
    from rich.console import Console
    from rich.table import Table

    from emox_core.errors import EmoxError
    from emox_core.media import prepare
    from emox_core.media.cache import default_cache_root
    from emox_core.media.settings import MediaSettings

    settings = MediaSettings(frames=frames, image_size=image_size, sample_rate=sample_rate,
                             face_mode=face_mode, detector=detector)
    cache_dir = cache_dir or default_cache_root()
    if source.is_dir():
        jobs = prepare.jobs_from_folder(source, exclude=cache_dir)
    elif source.suffix == ".jsonl":
        jobs = _manifest_jobs(source, data_root)
    else:
        raise EmoxError(f"{source}: expected a manifest (.jsonl) or a folder of clips")
    if not jobs:
        raise EmoxError(f"{source}: no clips found")
    result = prepare.prepare_media(jobs, cache_dir, settings, workers=workers, retry_failed=retry_failed,
                                   progress=progress)
    report_path = prepare.write_report(result, report or prepare.default_report_path(cache_dir))
    console = Console()
    if result.failures:
        failed = Table(title=f"failed clips ({len(result.failures)})", title_justify="left")
        failed.add_column("clip")
        failed.add_column("problem", overflow="fold")
        for item in result.failures:
            failed.add_row(item.id, item.error or "")
        console.print(failed)
    for item in result.results:
        for warning in item.warnings:
            console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    summary = Table(title="emox prepare media", title_justify="left", show_header=False)
    summary.add_column("", style="bold")
    summary.add_column("", justify="right")
    for row in result.summary_rows():
        summary.add_row(*row)
    console.print(summary)
    console.print(f"report: {report_path}")


def _manifest_jobs(manifest: Path, data_root: Path | None) -> list[ClipJob]:
    """One job per distinct media file of a manifest; ids are sample ids (a separate audio file: id/audio)."""
    from emox_core.data.manifest import read_manifest
    from emox_core.errors import EmoxError
    from emox_core.media.prepare import manifest_jobs

    if data_root is None:
        stats = manifest.parent / "stats.json"
        try:
            data_root = Path(json.loads(stats.read_text())["data_root"])
        except (OSError, ValueError, KeyError):
            raise EmoxError(f"{manifest}: no data_root in {stats}; pass --data-root") from None
    return manifest_jobs(read_manifest(manifest), data_root)
