"""``emox prepare ...``: dataset manifests, media extraction, feature cache."""

from __future__ import annotations

import typer

app = typer.Typer(help="Prepare datasets: manifests, media cache, encoder feature cache.", no_args_is_help=True)
