"""``emox doctor``: what works on this machine, as a table (parsing and printing only; the checks are in
:mod:`emox_core.doctor`)."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def doctor(
    preset: str = typer.Option("nano-emox-2b", "--preset", "-p",
                               help="Whose backbones to look for: nano-emox-2b, demo or tiny."),
    backbone: list[str] = typer.Option([], "--backbone", metavar="NAME=SOURCE",
                                       help="vision/speech/face/text -> hub id or local directory, as "
                                            "model.backbones.NAME in a recipe (repeatable)."),
    recipe: str | None = typer.Option(None, "--recipe", help="Take the preset, backbones and caches from a "
                                      "recipe (p2e-phase3, tiny/p2e-phase2, a YAML file)."),
    media_cache: Path | None = typer.Option(None, "--media-cache", help="Media cache folder (default "
                                            "$EMOX_MEDIA_CACHE, else ~/.cache/emox/media)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of the table."),
) -> None:
    """Check what works on this machine: emox and torch versions, GPU and bf16, ffmpeg, decord, the face
    detector, which backbones are available offline (hub cache or local folder) and their sizes, the Hugging
    Face offline variables, free disk for the caches. Exit 1 when a check fails."""
    from emox_core import doctor as checks_module
    from emox_core.errors import EmoxError

    sources = {}
    for item in backbone:
        name, sep, source = item.partition("=")
        if not sep or name not in ("vision", "speech", "face", "text"):
            raise EmoxError(f"--backbone {item!r}: expected NAME=SOURCE with NAME vision, speech, face or text")
        sources[name] = source
    feature_cache = None
    if recipe is not None:
        from emox_core.training.recipe import load_recipe

        loaded = load_recipe(recipe)
        preset, sources = loaded.model.preset, {**loaded.model.backbones, **sources}
        media_cache = media_cache or (Path(loaded.media_cache) if loaded.media_cache else None)
        feature_cache = loaded.feature_cache
    checks = checks_module.run_checks(preset, sources, media_cache, feature_cache)
    if as_json:
        typer.echo(json.dumps(checks_module.report(checks)))
    else:
        _print_table(checks)
    if checks_module.failed(checks):
        raise typer.Exit(1)


def _print_table(checks: list) -> None:
    from rich.console import Console
    from rich.table import Table

    styles = {"ok": "green", "warn": "yellow", "fail": "bold red"}
    table = Table(title="emox doctor", title_justify="left")
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for check in checks:
        table.add_row(check.name, f"[{styles[check.status]}]{check.status}[/]", check.detail)
    console = Console()
    console.print(table)
    failures = [check.name for check in checks if check.status == "fail"]
    if failures:
        console.print(f"[bold red]{len(failures)} check(s) failed:[/] {', '.join(failures)}", highlight=False)
