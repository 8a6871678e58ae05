"""``emox train``: Train one P2E phase from a recipe."""

from __future__ import annotations

import typer


def train(
    overrides: list[str] | None = typer.Argument(
        None, help="key=value recipe overrides, dotted (max_samples=1200 optim.lr=1e-4 data.mintrec.weight=3)."),
    phase: str | None = typer.Option(None, "--phase", help="P2E phase 1.1, 1.2, 2 or 3: picks its recipe."),
    recipe: str | None = typer.Option(
        None, "--recipe", help="Recipe name (p2e-phase3, tiny/p2e-phase2, ablations/visual-tokens-64) or YAML file."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in output_dir from its last checkpoint."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Train one P2E phase from a recipe; single process, or under torchrun / accelerate launch."""
    import contextlib
    import os

    from emox_core.fileio import environment_error
    from emox_core.locking import exclusive
    from emox_core.training.recipe import load_recipe
    from emox_core.training.trainer import run_training

    loaded = load_recipe(recipe, overrides, phase)
    # One run per output dir: rank 0 (the only process under a plain launch) holds its lock.
    lock = (exclusive(loaded.output_dir, "training output dir", directory=True, hint="; wait for it to finish or "
                      "set another output_dir") if os.environ.get("RANK", "0") == "0" else contextlib.nullcontext())
    with lock:
        try:
            run_training(loaded, resume=resume, quiet=quiet)
        except Exception as exc:  # a full disk while saving: one line naming the output dir, not a traceback
            if (error := environment_error(exc, loaded.output_dir)) is None:
                raise
            raise error from exc
