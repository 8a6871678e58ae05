"""``emox eval``: score predictions with the official metrics of a benchmark (parsing and printing only)."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def eval_command(
    benchmark: str = typer.Argument(..., help="mer-unibench | emer | mintrec | mintrec2 | avamerg"),
    predictions: Path | None = typer.Option(
        None,
        "--predictions",
        "-p",
        help="Our predictions JSONL, or an "
        "official output (.npz, -openset.npz, EMER .csv, MER-UniBench output/ folder).",
    ),
    ground_truth: Path | None = typer.Option(
        None,
        "--ground-truth",
        "-g",
        help="Label npz/csv or the folder of MER-UniBench packages; gt-eng.csv; test_*_ann.json; AvaMERG test json.",
    ),
    wheels: Path | None = typer.Option(None, "--wheels", help="Folder with wheel1..5.xlsx, synonym.xlsx, format.csv."),
    subset: str | None = typer.Option(
        None, "--subset", help="MER-UniBench set(s), comma-separated (default: all found)."
    ),
    judge: str | None = typer.Option(
        None,
        "--judge",
        help="OpenAI-compatible base URL (e.g. http://127.0.0.1:8000/v1) or hf:MODEL for a local transformers model.",
    ),
    judge_model: str | None = typer.Option(
        None,
        "--judge-model",
        help="Model name sent to the judge (default: Qwen2.5-7B-Instruct / gpt-3.5-turbo-0125).",
    ),
    judge_key_env: str = typer.Option("OPENAI_API_KEY", "--judge-key-env", help="Env variable holding the API key."),
    concurrency: int = typer.Option(8, "--concurrency", min=1, help="Judge requests in flight."),
    timeout: float = typer.Option(120.0, "--timeout", min=1.0, help="Seconds per judge request."),
    retries: int = typer.Option(4, "--retries", min=0, help="Retries on 429/5xx/timeouts, with backoff."),
    seed: int | None = typer.Option(None, "--seed", help="Sampling seed sent to the extractor/judge."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Judge cache (default ~/.cache/emox/judge)."),
    match: str = typer.Option("exact", "--match", help="MIntRec label matching: exact (official) | lenient (MMLA)."),
    dist: str = typer.Option("per-response", "--dist", help="AvaMERG Dist-n: per-response (official) | corpus."),
    strict_scores: bool = typer.Option(False, "--strict-scores", help="EMER: stricter judge-score parser."),
    label_maps: Path | None = typer.Option(
        None,
        "--label-maps",
        help="AvaMERG label tables as JSON, overriding the built-in official ones (default: built-in).",
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output folder (default eval-BENCHMARK)."),
    model: str | None = typer.Option(None, "--model", help="Checkpoint to run first (needs --data)."),
    data: Path | None = typer.Option(None, "--data", help="Manifest/folder for --model."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Generation batch size for --model."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as one JSON object on stdout."),
) -> None:
    """Score predictions with the official metrics of a benchmark; the paper's numbers are shown beside
    ours."""
    from emox_core.errors import EmoxError
    from emox_core.evaluation import report, run

    options = run.EvalOptions(
        predictions=predictions,
        ground_truth=ground_truth,
        wheels=wheels,
        subset=subset,
        judge=judge,
        judge_model=judge_model,
        judge_key_env=judge_key_env,
        concurrency=concurrency,
        timeout=timeout,
        retries=retries,
        seed=seed,
        cache_dir=cache_dir,
        match=match,
        dist=dist,
        strict_scores=strict_scores,
        label_maps=label_maps,
        out_dir=out or Path(f"eval-{benchmark.lower()}"),
    )
    if model is not None:
        if data is None:
            raise EmoxError("--model: needs --data DIR")
        result = run.predict_then_evaluate(benchmark, model, data, options, batch_size)
    else:
        result = run.evaluate_benchmark(benchmark, options)
    if as_json:
        typer.echo(json.dumps(run.headline(result)))
        return
    from rich.console import Console
    from rich.table import Table

    headers, rows = report.table(result)
    table = Table(title=f"emox eval {result['benchmark']} ({result.get('unit', '')})")
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    console = Console()
    console.print(table)
    for name, path in result.get("outputs", {}).items():
        console.print(f"{name}: {path}")
