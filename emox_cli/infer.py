"""``emox infer``: run the model on one raw clip (streamed answer), or on a manifest / folder of clips
into a resumable predictions JSONL. Parsing and printing only; the work is in :mod:`emox_core.inference`."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from emox_core.tasks import TASKS, task_list

if TYPE_CHECKING:
    from rich.console import Console

    from emox_core.inference import BatchReport, GenerationSettings, Prediction


def infer(
    clip: Path | None = typer.Argument(None, metavar="CLIP",
        help="A video (or audio) clip, or a folder of clips (needs --out)."),
    task: str | None = typer.Option(None, "--task", "-t", help=f"{task_list()}."),
    model: str | None = typer.Option(None, "--model", "-m", envvar="EMOX_MODEL",
                                     help="Model directory (full or adapters) or hub id."),
    subtitle: str = typer.Option("", "--subtitle", "-s", help="What is said in the clip (ERG: the user's input)."),
    subtitle_file: Path | None = typer.Option(None, "--subtitle-file", help="Read the subtitle from a file."),
    history: Path | None = typer.Option(None, "--history", help="ERG dialogue history: JSON [{role, text}] or "
                                        "'speaker: ...' / 'listener: ...' lines."),
    context: str = typer.Option("", "--context", help="ERG: the situation of the conversation."),
    labels: str | None = typer.Option(None, "--labels", help="Candidate labels a,b,c (" + task_list(
        lambda t: t.uses_candidates) + "; default: the task's)."),
    show_thinking: bool = typer.Option(False, "--show-thinking", help="ERG: also print the <think> chain of "
                                       "empathy."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (docs/inference.md) instead."),
    ablate: bool = typer.Option(False, "--ablate", help="One clip: answer with every input, then without each "
                                "(audio, frames, face, fusion token), and print a table of the answers."),
    stream: bool = typer.Option(True, "--stream/--no-stream", help="Print tokens as they are generated."),
    manifest: Path | None = typer.Option(None, "--manifest", help="Batch: a manifest .jsonl (or a prepared "
                                         "dataset folder)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Batch: predictions JSONL (appended; ids already "
                                    "there are skipped)."),
    batch_size: int = typer.Option(8, "--batch-size", "-b", min=1, help="Batch: clips per generate call."),
    data_root: Path | None = typer.Option(None, "--data-root", help="Batch: root of the manifest's media "
                                          "paths (default: data_root in stats.json beside it)."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Batch: reuse/fill this media cache "
                                          "(emox prepare media)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Batch: show the progress bar."),
    max_new_tokens: int | None = typer.Option(None, "--max-new-tokens", help="Default: the task's (" + ", ".join(
        f"{t.name} {t.max_new_tokens}" for t in TASKS.values()) + ")."),
    sample: bool = typer.Option(False, "--sample/--greedy", help="Sample instead of greedy decoding."),
    temperature: float = typer.Option(1.0, "--temperature", help="Sampling temperature."),
    top_p: float = typer.Option(1.0, "--top-p", help="Sampling nucleus (the official runs used 0.9)."),
    top_k: int = typer.Option(0, "--top-k", help="Sampling top-k (0 = off)."),
    repetition_penalty: float = typer.Option(1.0, "--repetition-penalty", help="1.0 = off."),
    num_beams: int = typer.Option(1, "--num-beams", help="Beam search width (1 = off)."),
    seed: int = typer.Option(0, "--seed", help="Random seed for --sample."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N | mps."),
    dtype: str = typer.Option("auto", "--dtype", help="auto (bf16/fp16 on GPU, float32 on CPU) | float32 | "
                              "bfloat16 | float16."),
) -> None:
    """Answer a task about a clip: frames, audio and face input are extracted as 'emox prepare media' does.

    One clip streams the answer (ERG: the reply; --show-thinking adds the chain of empathy) and prints the
    parsed label. A manifest or a folder writes one JSON line per clip to --out; rerunning resumes.
    """
    from rich.console import Console

    from emox_core.errors import EmoxError
    from emox_core.inference import GenerationSettings, read_history

    settings = GenerationSettings(max_new_tokens=max_new_tokens, do_sample=sample, temperature=temperature,
                                  top_p=top_p, top_k=top_k, repetition_penalty=repetition_penalty,
                                  num_beams=num_beams, seed=seed)
    if model is None:
        raise EmoxError("--model: required (a model directory or hub id; or set EMOX_MODEL)")
    if subtitle_file is not None:
        if subtitle:
            raise EmoxError("--subtitle-file: give either --subtitle or --subtitle-file, not both")
        subtitle = _read_text(subtitle_file)
    turns = read_history(history) if history is not None else []
    if manifest is not None and (clip is not None or task is not None):
        raise EmoxError("--manifest: a manifest carries its clips and tasks; drop CLIP and --task")
    if manifest is None and clip is None:
        raise EmoxError("CLIP: give a clip, a folder of clips (with --out), or --manifest FILE")
    if manifest is None and task is None:
        raise EmoxError(f"--task: required ({task_list()})")
    batch = manifest is not None or (clip is not None and clip.is_dir())
    if batch and out is None:
        raise EmoxError("--out: required for a folder of clips or --manifest (the predictions JSONL)")
    if not batch and out is not None:
        raise EmoxError("--out: only for a folder of clips or --manifest (use --json for one clip)")
    if batch and ablate:
        raise EmoxError("--ablate: one clip only (for a benchmark: emox eval BENCH --model DIR --data M --ablate)")
    options = {"subtitle": subtitle, "history": turns, "labels": labels, "context": context}
    # The console writes to a copy of stderr, so silencing the native libraries' stderr keeps it visible.
    with open(os.dup(2), "w", encoding="utf-8", buffering=1) as err_file:
        console = Console(file=err_file)
        if batch and Path(model).expanduser().is_dir():
            _warn_if_untrained(console, Path(model).expanduser(), model)
        if manifest is not None:
            _batch(console, progress, lambda on_batch: _predict_manifest(
                model, manifest, out, batch_size, data_root, settings, device, dtype, cache_dir, on_batch))
        elif batch:
            _batch(console, progress, lambda on_batch: _predict_folder(
                model, clip, task, out, batch_size, options, settings, device, dtype, cache_dir, on_batch))
        else:
            _single(console, model, clip, task, options, settings, device, dtype, show_thinking, as_json, stream,
                    ablate)


def _single(console: Console, model: str, clip: Path, task: str, options: dict[str, Any],
            settings: GenerationSettings, device: str, dtype: str, show_thinking: bool, as_json: bool,
            stream: bool, ablate: bool = False) -> None:
    """Extract the media first (a bad file fails before the model loads), then generate and print."""
    from emox_core.fileio import require_file
    from emox_core.inference import answer_streamer, extract_media, load_for_inference, predict_clip
    from emox_core.inference.runtime import model_directory
    from emox_core.processing import NanoEmoXProcessor
    from emox_core.tasks import get_task

    spec = get_task(task)
    task = spec.name
    require_file(clip, "clip")
    directory = model_directory(model)
    quiet = as_json
    with _spinner(console, f"extracting frames, audio and faces from {clip.name} ...", quiet):
        media = extract_media(clip, NanoEmoXProcessor.from_pretrained(directory))
    with _spinner(console, f"loading {model} ...", quiet):
        loaded, processor = load_for_inference(directory, device, dtype)
    _warn_if_untrained(console, directory, model)
    for name in media.missing:
        if not quiet:
            console.print(f"[yellow]note:[/] no {name} in {clip.name}: that input is masked")
    for warning in media.warnings:
        if not quiet:
            console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if ablate:
        _ablation(console, loaded, processor, clip, task, media, settings, model, options, as_json)
        return
    hide_thinking = spec.kind.has_thinking and not show_thinking
    streamer = None
    if stream and not as_json:
        streamer = answer_streamer(processor, _write, hide_thinking=hide_thinking)
    prediction = predict_clip(loaded, processor, clip, task, settings=settings, streamer=streamer, media=media,
                              model_name=model, **options)
    record = _explained_record(loaded, processor, media, prediction)
    if as_json:
        typer.echo(json.dumps(record, ensure_ascii=False))
        return
    if streamer is None:
        _write(spec.shown_answer(prediction.parsed, show_thinking))
    _write("\n")
    if (summary := spec.summary(prediction.parsed)) is not None:
        typer.echo(summary)
    _print_explanation(console, record)


def _explained_record(model: Any, processor: Any, media: Any, prediction: Prediction) -> dict[str, Any]:
    """The prediction record with what it was based on: inputs seen, fusion gate weights (docs/inference.md)."""
    from emox_core.inference import validate_prediction
    from emox_core.inference.explain import explanation

    record = {**prediction.to_record(), **explanation(model, processor, media)}
    validate_prediction(record)
    return record


def _print_explanation(console: Console, record: dict[str, Any]) -> None:
    """One line on the console (stderr), so stdout stays the answer and its label for scripts."""
    from emox_core.inference.explain import explanation_line

    sys.stdout.flush()  # after the answer and its label, also when both streams go to one terminal
    console.print(explanation_line(record), style="dim", highlight=False, soft_wrap=True)


def _ablation(console: Console, model: Any, processor: Any, clip: Path, task: str, media: Any,
              settings: GenerationSettings, model_name: str, options: dict[str, Any], as_json: bool) -> None:
    """``--ablate``: the answer with every input and without each, as a table (or one JSON object)."""
    from rich.console import Console
    from rich.table import Table

    from emox_core.inference.ablation import ablate_clip, table_rows

    with _spinner(console, "answering with every input, then without each ...", as_json):
        rows = ablate_clip(model, processor, clip, task, media=media, settings=settings, model_name=model_name,
                           **options)
    if as_json:
        typer.echo(json.dumps({"id": clip.name, "task": task, "model": model_name,
                               "conditions": [row.to_record() for row in rows]}, ensure_ascii=False))
        return
    headers, cells = table_rows(rows, task)
    table = Table(title=f"{task} on {clip.name}: the answer without each input", title_justify="left")
    for header in headers:
        table.add_column(header, overflow="fold")
    for line in cells:
        table.add_row(*line)
    Console().print(table)


def _warn_if_untrained(console: Console, directory: Path, name: str) -> None:
    """One line when the model's adapters were never trained (a fresh build answers with noise)."""
    from emox_core.modeling.training_record import untrained_warning

    if (warning := untrained_warning(directory, name)) is not None:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)


@contextlib.contextmanager
def _spinner(console: Console, message: str, quiet: bool) -> Iterator[None]:
    """A spinner on ``console`` while the C-level stderr is silenced: decord and ffmpeg print their own
    error lines for a bad file, which would break the one-line error (their cause is in the EmoxError)."""
    with _native_stderr_silenced(), console.status(message) if not quiet else contextlib.nullcontext():
        yield


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for the block (the CLI's console writes to a copy of it)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _read_text(path: Path) -> str:
    from emox_core.fileio import require_file

    try:
        return require_file(path, "subtitle file").read_text(encoding="utf-8").strip()
    except UnicodeDecodeError:
        from emox_core.errors import EmoxError

        raise EmoxError(f"{path}: subtitle file is not UTF-8 text") from None


def _predict_manifest(model: str, manifest: Path, out: Path, batch_size: int, data_root: Path | None,
                      settings: GenerationSettings, device: str, dtype: str, cache_dir: Path | None,
                      on_batch: Any) -> BatchReport:
    from emox_core.inference import predict_manifest

    return predict_manifest(model, manifest, out, batch_size, data_root, settings=settings, device=device,
                            dtype=dtype, cache_dir=cache_dir, on_batch=on_batch)


def _predict_folder(model: str, folder: Path, task: str, out: Path, batch_size: int, options: dict[str, Any],
                    settings: GenerationSettings, device: str, dtype: str, cache_dir: Path | None,
                    on_batch: Any) -> BatchReport:
    from emox_core.inference import predict_folder

    return predict_folder(model, folder, task, out, batch_size, settings=settings, device=device, dtype=dtype,
                          cache_dir=cache_dir, on_batch=on_batch, **options)


def _batch(console: Console, progress: bool, run: Any) -> None:
    """Run a batch job under a progress bar, then print the summary and the clips that failed."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    columns = (TextColumn("predicting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with _native_stderr_silenced(), Progress(*columns, console=console, disable=not progress) as bar:
        bar_task = bar.add_task("predicting", total=None)

        def on_batch(report: BatchReport) -> None:
            bar.update(bar_task, total=report.total,
                       completed=report.skipped + report.written + len(report.failed))

        report = run(on_batch)
    if report.failed:
        failed = Table(title=f"skipped clips ({len(report.failed)})", title_justify="left")
        failed.add_column("id")
        failed.add_column("problem", overflow="fold")
        for sample_id, error in report.failed:
            failed.add_row(sample_id, error)
        console.print(failed)
    summary = Table(title="emox infer", title_justify="left", show_header=False)
    summary.add_column("", style="bold")
    summary.add_column("", justify="right")
    for name, value in (("samples", report.total), ("predicted now", report.written),
                        ("already in the file", report.skipped), ("failed", len(report.failed))):
        summary.add_row(name, str(value))
    console.print(summary)
    typer.echo(f"predictions: {report.out_path}")
    if report.failures_path is not None:
        typer.echo(f"failures: {report.failures_path}")
