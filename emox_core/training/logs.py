"""Run logging: a rich progress line (loss, lr, samples/s, ETA) and a time estimate after the first steps,
``train_log.jsonl`` (one line per logged optimizer step with the sample indices it consumed, the question
each was asked and the over-length samples skipped, so a resumed run can be compared with an uninterrupted
one) and a PNG loss curve at the end."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from emox_core.fileio import atomic_write_text

TRAIN_LOG = "train_log.jsonl"
LOSS_PNG = "loss.png"


def read_train_log(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of a train log; a last line cut short by a killed run is left out."""
    path = Path(path)
    if path.is_dir():
        path = path / TRAIN_LOG
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def format_duration(seconds: float) -> str:
    """``3 h 05 min``, ``4 min 10 s`` or ``12 s``."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def truncate_train_log(path: Path, step: int) -> None:
    """Drop the lines past ``step`` (written after the checkpoint a run resumes from)."""
    if path.is_file():
        keep = [r for r in read_train_log(path) if r["step"] <= step]
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in keep))


def plot_loss(records: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from emox_core.fileio import atomic_open

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["step"] for r in records], [r["loss"] for r in records], lw=1)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=100)
    plt.close(fig)


class ProgressCallback(TrainerCallback):
    """Main process only: a rich progress bar on a terminal, one plain line per log event otherwise, and one
    line with the estimated time of the whole run once the first ``estimate_after`` steps are done."""

    def __init__(self, samples_per_step: int, quiet: bool = False, estimate_after: int = 5) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self.samples_per_step = samples_per_step
        self.quiet = quiet
        self.estimate_after = estimate_after
        self.progress: Any = None
        self.task: Any = None
        self.start_step = 0
        self.start_time = 0.0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.start_step, self.start_time = state.global_step, time.time()
        if state.is_world_process_zero and self.console.is_terminal and not self.quiet:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[info]}"), TimeRemainingColumn(), console=self.console)
            self.progress.start()
            self.task = self.progress.add_task("train", total=state.max_steps, completed=state.global_step, info="")

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        done = state.global_step - self.start_step
        remaining = state.max_steps - self.start_step
        if self.quiet or not state.is_world_process_zero or done != min(self.estimate_after, remaining):
            return
        per_step = (time.time() - self.start_time) / done
        self.console.print(
            f"estimated time: {format_duration(per_step * remaining)} for {remaining:,} optimizer steps "
            f"({per_step:.2f} s/step over the first {done}; {self.samples_per_step / per_step:.1f} samples/s)",
            highlight=False, soft_wrap=True)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs or "loss" not in logs or self.quiet:
            return
        done = state.global_step - self.start_step
        elapsed = max(time.time() - self.start_time, 1e-9)
        rate = done * self.samples_per_step / elapsed
        eta = (state.max_steps - state.global_step) * elapsed / max(done, 1)
        info = f"loss {logs['loss']:.4f}  lr {logs.get('learning_rate', 0):.2e}  {rate:.1f} samples/s"
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step, info=info)
        else:
            self.console.print(f"step {state.global_step}/{state.max_steps}  {info}  ETA {eta:.0f}s",
                               highlight=False, soft_wrap=True)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
