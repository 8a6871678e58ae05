"""``emox info``: the parameter table of a preset, per branch and per P2E phase (meta device, no download)."""

from __future__ import annotations

import typer


def info(preset: str = typer.Option("nano-emox-2b", "--preset", "-p", help="Preset name: nano-emox-2b or tiny.")
         ) -> None:
    """Print parameters per branch (total, and trainable in each P2E phase) from configs alone."""
    from rich.console import Console
    from rich.table import Table

    from emox_core.curriculum import PHASES
    from emox_core.modeling.presets import preset_config
    from emox_core.modeling.summary import count_parameters

    config = preset_config(preset)
    rows = count_parameters(config)
    table = Table(title=f"Nano-EmoX preset '{preset}': parameters per branch")
    table.add_column("branch")
    table.add_column("kind")
    table.add_column("parameters", justify="right")
    for key in PHASES:
        table.add_column(f"train {key}", justify="right")
    for row in rows:
        table.add_row(row.description, row.kind, f"{row.parameters:,}",
                      *[f"{row.trainable_by_phase[k]:,}" if row.trainable_by_phase[k] else "-" for k in PHASES])
    total = sum(r.parameters for r in rows)
    table.add_section()
    table.add_row("total", "", f"{total:,} ({total / 1e9:.3f} B)",
                  *[f"{sum(r.trainable_by_phase[k] for r in rows):,}" for k in PHASES])
    console = Console(width=None if Console().is_terminal else 150)
    console.print(table)
    backbones = config.backbones
    if backbones:
        console.print("backbones: " + ", ".join(f"{k}={v}" for k, v in backbones.items()))
