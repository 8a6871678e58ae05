"""``emox export``: Merge LoRA and write a full model directory."""

from __future__ import annotations

from pathlib import Path

import typer


def export(
    checkpoint: Path = typer.Argument(..., metavar="MODEL_DIR",
        help="A training output, checkpoint-N or any saved model directory."),
    out_dir: Path = typer.Argument(..., metavar="OUT_DIR", help="New directory for the merged save_pretrained model."),
) -> None:
    """Merge LoRA into the language model and write a full model directory (from_pretrained, emox infer)."""
    from emox_core.modeling.loading import export_model

    typer.echo(f"exported {export_model(checkpoint, out_dir)}")
