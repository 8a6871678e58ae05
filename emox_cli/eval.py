"""``emox eval``: score predictions with the official metrics of a benchmark (parsing and printing only).

The command is built from the benchmark registry: the benchmark list, each benchmark's own options and their
help come from the benchmark modules (:mod:`emox_core.evaluation.benchmarks`), so a new benchmark needs no
change here.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import typer

_COMMON = "Predictions and ground truth"
_JUDGE = "LLM step / judge (mer-unibench, emer)"
_CHECKPOINTS = "Checkpoints (the official test_epochs / skip_epoch protocol)"
_GENERATE = "Generate first (emox infer's code)"


def _parameter(name: str, default: Any, annotation: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def _common_parameters() -> list[inspect.Parameter]:
    from emox_core.evaluation import registry

    names = ", ".join(f"{b.name} ({b.title})" for b in registry.benchmarks().values())
    ground_truths = "; ".join(f"{b.name}: {b.ground_truth_help}" for b in registry.benchmarks().values())
    return [
        inspect.Parameter(
            "benchmark", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=typer.Argument(..., metavar="BENCHMARK",
                help=names),
            annotation=str,
        ),
        _parameter("predictions", typer.Option(
            None, "--predictions", "-p", rich_help_panel=_COMMON,
            help="Our predictions JSONL (emox infer), an official output (.npz, -openset.npz, EMER .csv), a run "
                 "folder of checkpoint files, or the official output/ tree."), Path | None),
        _parameter("ground_truth", typer.Option(
            None, "--ground-truth", "-g", rich_help_panel=_COMMON,
            help="The ground-truth file, the official data folder holding it, the raw folder given to emox "
                 f"prepare, or the folder emox prepare wrote ({ground_truths})."), Path | None),
        _parameter("out", typer.Option(None, "--out", "-o", rich_help_panel=_COMMON,
                                       help="Output folder (default eval-BENCHMARK)."), Path | None),
        _parameter("as_json", typer.Option(False, "--json", rich_help_panel=_COMMON,
                                           help="Print the headline metrics as one JSON object on stdout."), bool),
        _parameter("checkpoints", typer.Option(
            None, "--checkpoints", rich_help_panel=_CHECKPOINTS,
            help="Which checkpoints of a run to score: a range (30-60, with --skip: the numbers divisible by it), "
                 "a list (40,45,50) or 'last' (default: every checkpoint found)."), str | None),
        _parameter("skip", typer.Option(1, "--skip", min=1, rich_help_panel=_CHECKPOINTS,
                                        help="With a --checkpoints range: keep the numbers divisible by this."), int),
        _parameter("judge", typer.Option(
            None, "--judge", rich_help_panel=_JUDGE,
            help="OpenAI-compatible base URL (e.g. http://127.0.0.1:8000/v1 of `vllm serve`) or hf:MODEL for a "
                 "local transformers model."), str | None),
        _parameter("judge_model", typer.Option(
            None, "--judge-model", rich_help_panel=_JUDGE,
            help="Model name sent to the judge (default: Qwen2.5-7B-Instruct / gpt-3.5-turbo-0125)."), str | None),
        _parameter("judge_key_env", typer.Option("OPENAI_API_KEY", "--judge-key-env", rich_help_panel=_JUDGE,
                                                 help="Env variable holding the API key."), str),
        _parameter("concurrency", typer.Option(8, "--concurrency", min=1, rich_help_panel=_JUDGE,
                                               help="Judge requests in flight."), int),
        _parameter("timeout", typer.Option(120.0, "--timeout", min=1.0, rich_help_panel=_JUDGE,
                                           help="Seconds per judge request."), float),
        _parameter("retries", typer.Option(4, "--retries", min=0, rich_help_panel=_JUDGE,
                                           help="Retries on 429/5xx/timeouts, with backoff."), int),
        _parameter("seed", typer.Option(None, "--seed", rich_help_panel=_JUDGE,
                                        help="Sampling seed sent to the extractor/judge."), int | None),
        _parameter("cache_dir", typer.Option(None, "--cache-dir", rich_help_panel=_JUDGE,
                                             help="Judge cache (default ~/.cache/emox/judge)."), Path | None),
        _parameter("judge_batch_size", typer.Option(8, "--judge-batch-size", min=1, rich_help_panel=_JUDGE,
                                                    help="Prompts per generate call of a local hf: judge."), int),
        _parameter("progress", typer.Option(True, "--progress/--no-progress", rich_help_panel=_JUDGE,
                                            help="Show a progress bar while the judge works."), bool),
        _parameter("model", typer.Option(None, "--model", rich_help_panel=_GENERATE,
                                         help="Checkpoint to run first (needs --data); with --checkpoints, a "
                                              "training output folder whose checkpoint-N are run."), str | None),
        _parameter("data", typer.Option(None, "--data", rich_help_panel=_GENERATE,
                                        help="Manifest (or prepared folder) for --model."), Path | None),
        _parameter("batch_size", typer.Option(8, "--batch-size", min=1, rich_help_panel=_GENERATE,
                                              help="Generation batch size for --model."), int),
        _parameter("ablate", typer.Option(False, "--ablate", rich_help_panel=_GENERATE,
                                          help="With --model: also score with each input removed at test time "
                                               "(audio, frames, face, fusion token; OUT/ablation/)."), bool),
    ]


def _benchmark_parameters() -> list[inspect.Parameter]:
    """One option per benchmark option of the registry, its help saying which benchmarks take it."""
    from emox_core.evaluation import registry

    params = []
    for name, (option, users) in registry.options().items():
        default = f" Default: {option.default}." if option.default not in (None, False) else ""
        differs = option.is_deviation_option and option.official != option.default
        official = f" The official code: {option.official}." if differs else ""
        extra: dict[str, Any] = {"metavar": "|".join(option.choices)} if option.choices else {}
        annotation: Any = option.type | None
        params.append(_parameter(name, typer.Option(
            None, option.flag, help=f"{', '.join(users)}: {option.help}{default}{official}",
            rich_help_panel="Benchmark options", **extra), annotation))
    return params


def _eval(**kwargs: Any) -> None:
    """Score predictions with the official metrics of a benchmark; the paper's numbers are shown beside ours,
    and the last checkpoint beside the best when a run has several."""
    from emox_core.errors import EmoxError
    from emox_core.evaluation import registry, run
    from emox_core.evaluation.base import JudgeOptions

    benchmark = registry.get(kwargs.pop("benchmark")).name
    judge = JudgeOptions(
        url=kwargs.pop("judge"), model=kwargs.pop("judge_model"), key_env=kwargs.pop("judge_key_env"),
        concurrency=kwargs.pop("concurrency"), timeout=kwargs.pop("timeout"), retries=kwargs.pop("retries"),
        seed=kwargs.pop("seed"), cache_dir=kwargs.pop("cache_dir"), batch_size=kwargs.pop("judge_batch_size"),
        progress=kwargs.pop("progress"),
    )
    as_json, model, data = kwargs.pop("as_json"), kwargs.pop("model"), kwargs.pop("data")
    batch_size, ablate = kwargs.pop("batch_size"), kwargs.pop("ablate")
    common = {
        "ground_truth": kwargs.pop("ground_truth"),
        "out_dir": kwargs.pop("out") or Path(f"eval-{benchmark}"),
        "checkpoints": kwargs.pop("checkpoints"),
        "skip": kwargs.pop("skip"),
        "judge": judge,
    }
    predictions = kwargs.pop("predictions")
    if ablate and model is None:
        raise EmoxError("--ablate: needs --model CKPT --data MANIFEST (the predictions are made with inputs removed)")
    if model is not None:
        if data is None:
            raise EmoxError("--model: needs --data MANIFEST")
        from emox_core.modeling.training_record import untrained_warning

        if Path(model).is_dir() and (warning := untrained_warning(model)) is not None:
            typer.echo(f"emox: warning: {warning}", err=True)
        predict = _ablated if ablate else run.predict_then_evaluate
        result = predict(benchmark, model, data, batch_size=batch_size, **common, **kwargs)
    else:
        result = run.evaluate_benchmark(benchmark, predictions, **common, **kwargs)
    for warning in result["warnings"]:
        typer.echo(f"emox: warning: {warning}", err=True)
    if as_json:
        values: dict[str, Any] = run.headline(result)
        if "ablation" in result:
            values["ablation"] = {name: c["metrics"] for name, c in result["ablation"]["conditions"].items()}
        typer.echo(json.dumps(values))
        return
    _print_table(result)
    if "ablation" in result:
        _print_ablation(result)


def _ablated(benchmark: str, model: str, data: Path, **kwargs: Any) -> dict[str, Any]:
    from emox_core.evaluation.ablation import predict_then_evaluate_ablated

    return predict_then_evaluate_ablated(benchmark, model, data, **kwargs)


def _print_ablation(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from emox_core.evaluation.ablation import ablation_table

    headers, rows = ablation_table(result)
    table = Table(title=f"modality ablation at test time ({result['unit']}): each input masked as a missing one")
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def _print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from emox_core.evaluation import report

    headers, rows = report.table(result)
    table = Table(title=f"emox eval {result['benchmark']} ({result['unit']}; protocol {result['protocol']})")
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    console = Console()
    console.print(table)
    deviations = result["settings"]["deviations"]
    if deviations:
        shown = ", ".join(f"{flag} {d['value']} (official value: {d['official']})" for flag, d in deviations.items())
        console.print(f"deviations from the official code: {shown}")
    for name, path in result.get("outputs", {}).items():
        console.print(f"{name}: {path}")


def build_command() -> Any:
    """The ``emox eval`` callable with its parameters from the registry (typer reads ``__signature__``)."""

    def eval_command(**kwargs: Any) -> None:
        _eval(**kwargs)

    eval_command.__doc__ = _eval.__doc__
    eval_command.__signature__ = inspect.Signature(_common_parameters() + _benchmark_parameters())  # type: ignore[attr-defined]
    return eval_command


eval_command = build_command()
