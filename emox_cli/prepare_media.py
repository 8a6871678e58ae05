"""``emox prepare media``: fill the media cache from a manifest or a clip folder (parse and print only)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from emox_core.media.prepare import ClipJob
    from emox_core.media.settings import MediaSettings
    from emox_core.training.recipe import Recipe


def media(
    source: Path | None = typer.Argument(None, metavar="MANIFEST|FOLDER",
                                         help="A manifest (.jsonl) or a folder of clips (default with --recipe: "
                                              "every manifest of the recipe)."),
    model: Path | None = typer.Option(None, "--model", "-m", help="Prepare for this saved model: its media "
                                      "settings (frames, size, audio, face input)."),
    recipe: str | None = typer.Option(None, "--recipe", help="Prepare for this recipe's model: its media "
                                      "settings and media_cache (p2e-phase3, tiny/p2e-phase2 or a YAML file)."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", "-c", help="Media cache root (default: the "
                                          "recipe's media_cache, else $EMOX_MEDIA_CACHE, else "
                                          "$XDG_CACHE_HOME/emox/media or ~/.cache/emox/media)."),
    data_root: Path | None = typer.Option(None, "--data-root", help="Root of a manifest's media paths "
                                          "(default: data_root from stats.json beside the manifest)."),
    workers: int = typer.Option(2, "--workers", "-j", min=1, help="Worker processes (1: no pool)."),
    face_mode: str | None = typer.Option(None, "--face-mode", help="raw: full frames (official default) | crop: "
                                         "detected face +50 % margin (FaceXFormer)."),
    detector: str | None = typer.Option(None, "--detector", help="Face detector for crop mode: haar (default) | "
                                        "package.module:factory."),
    frames: int | None = typer.Option(None, "--frames", min=1, help="Uniform frames per clip (default 8)."),
    image_size: int | None = typer.Option(None, "--image-size", min=16, help="Frame and face size, square "
                                          "(default 224)."),
    sample_rate: int | None = typer.Option(None, "--sample-rate", min=1000, help="Audio rate, Hz, mono "
                                           "(default 16000)."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Re-read clips that failed before."),
    report: Path | None = typer.Option(None, "--report", help="JSON report path "
                                       "(default CACHE_DIR/reports/prepare-TIME-PID.json)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
) -> None:
    """Extract frames, 16 kHz mono audio and face input of every clip into the content-addressed cache.

    The settings are the official ones, or a model's (--model) or a recipe's (--recipe), so training and
    inference find the clips; any flag given overrides them. Resumable: finished clips are skipped. Bad clips
    are listed in the report; the run still exits 0. A full disk (or another error of the machine) stops the
    run with one line, blaming no clip.
    """
    from rich.console import Console
    from rich.table import Table

    from emox_core.errors import EmoxError
    from emox_core.media import prepare
    from emox_core.media.cache import default_cache_root

    if model is not None and recipe is not None:
        raise EmoxError("--model and --recipe: give one (both name the media settings)")
    loaded = _load_recipe(recipe)
    if source is None and loaded is None:
        raise EmoxError("MANIFEST|FOLDER: give a manifest or a folder of clips (or --recipe NAME)")
    flags = {"frames": frames, "image_size": image_size, "sample_rate": sample_rate, "face_mode": face_mode,
             "detector": detector}
    settings = _settings(model, loaded, {k: v for k, v in flags.items() if v is not None})
    cache_dir = cache_dir or (Path(loaded.media_cache) if loaded and loaded.media_cache else default_cache_root())
    if source is None:
        assert loaded is not None
        jobs = _recipe_jobs(loaded)
    elif source.is_dir():
        jobs = prepare.jobs_from_folder(source, exclude=cache_dir)
    elif source.suffix == ".jsonl":
        jobs = _manifest_jobs(source, data_root)
    else:
        raise EmoxError(f"{source}: expected a manifest (.jsonl) or a folder of clips")
    if not jobs:
        raise EmoxError(f"{source or loaded.name}: no clips found")  # type: ignore[union-attr]
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
    from emox_core.data.manifest import manifest_data_root, read_manifest
    from emox_core.media.prepare import manifest_jobs

    return manifest_jobs(read_manifest(manifest), manifest_data_root(manifest, data_root))


def _load_recipe(recipe: str | None) -> Recipe | None:
    if recipe is None:
        return None
    from emox_core.training.recipe import load_recipe

    return load_recipe(recipe)


def _settings(model: Path | None, recipe: Recipe | None, flags: dict[str, Any]) -> MediaSettings:
    """The model's or the recipe's media settings (else the official defaults), with the flags given on top."""
    import dataclasses

    from emox_core.media.settings import MediaSettings

    if model is not None:
        from emox_core.processing import saved_media_settings

        base = saved_media_settings(model)
    elif recipe is not None:
        from emox_core.training.prerequisites import recipe_media_settings

        base = recipe_media_settings(recipe)
    else:
        base = MediaSettings()
    return dataclasses.replace(base, **flags)


def _recipe_jobs(recipe: Recipe) -> list[ClipJob]:
    """One job per distinct media file of the recipe's training samples (every source with a weight > 0)."""
    from emox_core.data.manifest import read_manifest
    from emox_core.media.prepare import manifest_jobs, unique_jobs

    jobs = []
    for source in recipe.active_sources().values():
        samples = [s for s in read_manifest(source.manifest_path())
                   if s.split == "train" and source.task in (None, s.task)]
        jobs += manifest_jobs(samples, source.root())
    return unique_jobs((job.id, job.path) for job in jobs if job.error is None) + [j for j in jobs if j.error]
