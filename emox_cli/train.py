"""``emox train``: Train one P2E phase from a recipe."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from emox_core.training.prerequisites import MissingPrerequisites
    from emox_core.training.recipe import Recipe


def train(
    overrides: list[str] | None = typer.Argument(
        None, metavar="KEY=VALUE",
        help="key=value recipe overrides, dotted (max_samples=1200 optim.lr=1e-4 data.mintrec.weight=3)."),
    phase: str | None = typer.Option(None, "--phase", help="P2E phase 1.1, 1.2, 2 or 3: picks its recipe."),
    recipe: str | None = typer.Option(
        None, "--recipe", help="Recipe name (p2e-phase3, tiny/p2e-phase2, ablations/visual-tokens-64) or YAML file."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in output_dir from its last checkpoint."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Train one P2E phase from a recipe; single process, or under torchrun / accelerate launch.

    Before anything is built, everything the recipe needs is checked (backbones offline, manifests and their
    clips, the previous phase's output, free disk): what is missing is listed with the command that
    provides it, and the run stops (exit 1).
    """
    from emox_core.training.prerequisites import MissingPrerequisites, require_prerequisites
    from emox_core.training.recipe import load_recipe

    loaded = load_recipe(recipe, overrides, phase)
    try:
        require_prerequisites(loaded)  # before the output dir is even locked
    except MissingPrerequisites as missing:
        _print_missing(missing, loaded.name)
        raise typer.Exit(1) from None
    _train(loaded, resume, quiet)


def _train(loaded: Recipe, resume: bool, quiet: bool) -> None:
    import contextlib
    import os

    from emox_core.fileio import environment_error
    from emox_core.locking import exclusive
    from emox_core.training.trainer import run_training

    # One run per output dir: rank 0 (the only process under a plain launch) holds its lock.
    lock = (exclusive(loaded.output_dir, "training output dir", directory=True, hint="; wait for it to finish or "
                      "set another output_dir") if os.environ.get("RANK", "0") == "0" else contextlib.nullcontext())
    with lock:
        try:
            run_training(loaded, resume=resume, quiet=quiet, check=False)
        except Exception as exc:  # a full disk while saving: one line naming the output dir, not a traceback
            if (error := environment_error(exc, loaded.output_dir)) is None:
                raise
            raise error from exc


def _print_missing(missing: MissingPrerequisites, name: str) -> None:
    """One table of everything the recipe needs that is not there, each with the command that provides it."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"emox train {name}: missing before training can start", title_justify="left")
    table.add_column("needed", style="bold", no_wrap=True)
    table.add_column("problem", overflow="fold")
    table.add_column("how to get it", overflow="fold")
    for item in missing.missing:
        table.add_row(item.what, item.problem, item.fix)
    Console(stderr=True).print(table)
    typer.echo("emox: error: fix the items above and rerun (nothing was built or written)", err=True)
