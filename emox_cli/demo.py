"""``emox demo``: the whole toolkit offline on a synthetic corpus (generate, prepare, train, evaluate, infer)."""

from __future__ import annotations

from pathlib import Path

import typer


def demo(
    out: Path = typer.Option(Path("emox-demo"), "--out", "-o", help="Folder for the corpus, runs and report."),
    preset: str = typer.Option("demo", "--preset", help="demo (SmolLM2 LM, needs the demo extra) or tiny."),
    train_clips: int = typer.Option(256, "--train-clips", min=8, help="Synthetic training clips."),
    test_clips: int = typer.Option(32, "--test-clips", min=4, help="Synthetic held-out clips."),
    steps: list[str] = typer.Option([], "--steps", help="PHASE=N optimizer steps, e.g. --steps 3=80."),
) -> None:
    """Run the whole toolkit offline on a synthetic corpus whose labels live in the audio and the frames."""
    from rich.console import Console
    from rich.table import Table

    from emox_core.demo import DemoOptions, run_demo
    from emox_core.errors import EmoxError

    phase_steps = {}
    for item in steps:
        phase, _, value = item.partition("=")
        if not value.isdigit():
            raise EmoxError(f"--steps {item!r}: expected PHASE=N, e.g. 3=80")
        phase_steps[phase] = int(value)
    console = Console(stderr=True)
    report = run_demo(DemoOptions(out_dir=out, preset=preset, train_clips=train_clips, test_clips=test_clips,
                                  steps=phase_steps), log=console.print)
    table = Table(title="emox demo")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    for name, seconds in report.stages:
        table.add_row(name, f"{seconds:.1f}")
    table.add_section()
    table.add_row("MER accuracy before training", f"{report.before['accuracy']:.3f}")
    table.add_row("MER accuracy after training", f"{report.after['accuracy']:.3f}")
    Console().print(table)
    for task, answer in report.answers.items():
        Console().print(f"[bold]{task}[/bold]: {answer.get('prediction', '')}", highlight=False)
    Console().print(f"report: {out / 'report'}", highlight=False)
