"""``emox prepare features``: fill a recipe's frozen-encoder feature cache ahead of training."""

from __future__ import annotations

import typer


def features(
    overrides: list[str] | None = typer.Argument(None, metavar="KEY=VALUE",
        help="key=value recipe overrides, as for emox train."),
    phase: str | None = typer.Option(None, "--phase", help="P2E phase 1.1, 1.2, 2 or 3: picks its recipe."),
    recipe: str | None = typer.Option(None, "--recipe", help="Recipe name or YAML file."),
) -> None:
    """Run the frozen encoders once over the recipe's data and store their outputs in its feature_cache."""
    from emox_core.training.recipe import load_recipe
    from emox_core.training.trainer import prepare_features

    cache, computed, total = prepare_features(load_recipe(recipe, overrides, phase))
    typer.echo(f"{cache}: {computed} computed, {total - computed} already cached")
