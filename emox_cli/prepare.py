"""``emox prepare ...``: dataset manifests (one subcommand per registered dataset) and the media cache.

The subcommands are generated from :mod:`emox_core.data.registry` (a light import: no torch, numpy
or datasets); the adapters themselves run inside the command body.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from emox_cli.help_format import EmoxTyper
from emox_core.data.registry import ADAPTERS

if TYPE_CHECKING:
    from emox_core.data.common import PrepareReport

app = EmoxTyper(help="Prepare datasets: 'emox prepare DATASET RAW_DIR OUT_DIR' writes a manifest; 'emox prepare "
                     "media' fills the media cache; 'emox prepare features' the encoder feature cache.")

_TOP_LABELS = 12


def _command(name: str, splits: tuple[str, ...]) -> Callable[..., None]:
    def command(
        raw_dir: Path = typer.Argument(..., metavar="RAW_DIR",
            help="The dataset as downloaded (the manifest's data root)."),
        out_dir: Path = typer.Argument(..., metavar="OUT_DIR",
            help="Where manifest-{split}.jsonl and stats.json are written."),
        split: str = typer.Option("all", "--split", help=f"all | {' | '.join(splits)}"),
        sha256_file: Path | None = typer.Option(
            None, "--sha256-file", help="sha256sum-style list of raw files (paths relative to RAW_DIR)."
        ),
    ) -> None:
        from emox_core.data.registry import prepare

        report = prepare(name, raw_dir, out_dir, split=split, verify_sha256=sha256_file)
        _print_report(report)

    return command


def _print_report(report: PrepareReport) -> None:
    """Samples per split and task, dataset statistics, label distribution, warnings, outputs."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    samples = report.samples
    tasks = sorted({task for counts in samples.values() for task in counts})
    table = Table(title=f"{report.dataset}: samples")
    table.add_column("split")
    for task in tasks:
        table.add_column(task, justify="right")
    for split, counts in samples.items():
        table.add_row(split, *(str(counts.get(task, 0)) for task in tasks))
    console.print(table)
    stats = report.stats
    if stats:
        info = Table(title="statistics")
        info.add_column("item")
        info.add_column("count", justify="right")
        for key, value in stats.items():
            info.add_row(key, str(value))
        console.print(info)
    for split, labels in report.labels.items():
        if not labels:
            continue
        dist = Table(title=f"labels ({split})")
        dist.add_column("raw label")
        dist.add_column("items", justify="right")
        for label, count in list(labels.items())[:_TOP_LABELS]:
            dist.add_row(label, str(count))
        if len(labels) > _TOP_LABELS:
            dist.add_row(f"… {len(labels) - _TOP_LABELS} more", "")
        console.print(dist)
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    for split, path in report.manifests.items():
        console.print(f"{split}: {path}")
    console.print(f"media paths are relative to {report.data_root}")


for _name, _adapter in ADAPTERS.items():
    app.command(_name, help=f"{_adapter.title} (see docs/data.md for the raw layout).")(
        _command(_name, _adapter.splits)
    )

from emox_cli.prepare_media import media  # noqa: E402  (after the dataset commands, so it lists last)

app.command("media")(media)

from emox_cli.prepare_features import features  # noqa: E402

app.command("features")(features)
