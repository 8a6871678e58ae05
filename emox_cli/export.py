"""``emox export``: Merge LoRA and write a full model directory with its Hugging Face model card."""

from __future__ import annotations

from pathlib import Path

import typer


def export(
    checkpoint: Path = typer.Argument(..., metavar="MODEL_DIR",
        help="A training output, checkpoint-N or any saved model directory."),
    out_dir: Path = typer.Argument(..., metavar="OUT_DIR", help="New directory for the merged save_pretrained model."),
    evals: list[Path] = typer.Option([], "--eval", help="An emox eval output folder (or its metrics.json) to list "
                                     "in the model card; those under MODEL_DIR are found by themselves. Repeatable."),
    license_id: str = typer.Option("mit", "--license", help="License of the weights in the card's metadata (a hub "
                                   "license id: mit, apache-2.0, cc-by-nc-4.0, other, ...)."),
    name: str | None = typer.Option(None, "--name", help="Model name in the card (default: OUT_DIR's name)."),
) -> None:
    """Merge LoRA into the language model and write a full model directory (from_pretrained, emox infer) with a
    model card (README.md) for the Hugging Face Hub: base models, datasets, license, the P2E recipe of each
    phase, the emox eval results with their protocol versions, the SHA-256 of every file."""
    from emox_core.modeling.loading import export_model

    out = export_model(checkpoint, out_dir, evals=evals, license_id=license_id, name=name)
    typer.echo(f"exported {out} (model card: {out / 'README.md'}; publish: huggingface-cli upload OWNER/NAME {out})")
