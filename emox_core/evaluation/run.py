"""``emox eval``: dispatch to the benchmark's module, then pick, report and record.

A benchmark's module scores every checkpoint it is given (:mod:`emox_core.evaluation.base`); here the best
(``np.argmax`` of its main metric, as the official scripts) and the last checkpoint of each run become the
table rows, beside the paper's numbers, and everything that says how the numbers were made (options and
deviations from the official code, checkpoint selection, coverage, file hashes, judges) goes into the result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from emox_core.errors import EmoxError
from emox_core.evaluation import checkpoints as ckpts
from emox_core.evaluation import registry
from emox_core.evaluation.base import Benchmark, Context, Group, JudgeOptions, coverage_note

SELECTION = "per run, the checkpoint with the highest main metric (np.argmax: first maximum; NaN counts as maximum)"


def evaluate_benchmark(
    benchmark: str,
    predictions: str | Path | None,
    ground_truth: str | Path | None = None,
    *,
    out_dir: str | Path | None = None,
    checkpoints: str | None = None,
    skip: int = 1,
    judge: JudgeOptions | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Score ``predictions`` on ``benchmark``; with ``out_dir``, write metrics.json, predictions.jsonl and charts.

    ``options`` are the benchmark's own (``match="lenient"``, ``wheels=...``); ``checkpoints``/``skip`` select
    checkpoints as the official ``test_epochs``/``skip_epoch`` (see :mod:`emox_core.evaluation.checkpoints`).
    """
    bench = registry.get(benchmark)
    if predictions is None:
        raise EmoxError("--predictions: required (or --model CKPT --data MANIFEST)")
    if checkpoints is not None:
        ckpts.parse_range(checkpoints, skip)
    ctx = Context(
        benchmark=bench,
        predictions=Path(predictions),
        ground_truth=Path(ground_truth) if ground_truth is not None else None,
        values=resolve_options(bench, options),
        checkpoints=checkpoints,
        skip=skip,
        judge=judge or JudgeOptions(),
        out_dir=Path(out_dir) if out_dir is not None else None,
    )
    groups = bench.run(ctx)
    if not groups:
        raise EmoxError(f"{ctx.predictions}: nothing to score")
    result = _result(ctx, groups)
    if ctx.out_dir is not None:
        from emox_core.evaluation import report

        result["outputs"] = report.write_outputs(result, ctx.out_dir)
    return result


def resolve_options(bench: Benchmark, given: Mapping[str, Any]) -> dict[str, Any]:
    """The benchmark's option values (defaults filled in); a value given for another benchmark's option, or
    outside an option's choices, is a one-line error."""
    known = {o.name: o for o in bench.options}
    shared = registry.options()
    for name, value in given.items():
        if value is None or name in known:
            continue
        if name in shared:
            option, users = shared[name]
            raise EmoxError(f"{option.flag}: not an option of {bench.name} (only {', '.join(users)})")
        raise EmoxError(f"unknown option {name!r} for {bench.name}")
    values = {}
    for name, option in known.items():
        value = given.get(name)
        value = option.default if value is None else value
        if option.choices and value not in option.choices:
            raise EmoxError(f"{option.flag} {value!r}: choose one of {', '.join(option.choices)}")
        values[name] = value
    return values


def _deviations(bench: Benchmark, values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        o.flag: {"value": values[o.name], "official": o.official}
        for o in bench.options
        if o.is_deviation_option and values[o.name] != o.official
    }


def _rows(bench: Benchmark, groups: list[Group]) -> list[dict[str, Any]]:
    rows = []
    for group in groups:
        best, last = group.best, group.last
        for head in group.headline:
            if head.row_key or len(groups) == 1:
                key, label = head.row_key or head.metric, head.label
            else:
                key, label = f"{group.key}/{head.metric}", f"{head.label} [{group.label}]"
            if len(group.scored) > 1:
                label += f" (best of {len(group.scored)})"
            rows.append(
                {
                    "metric": label,
                    "key": key,
                    "ours": best.metrics[head.metric],
                    "ours_rounded": _official_rounding(best.metrics[head.metric]),
                    "last": last.metrics[head.metric],
                    "checkpoint": best.checkpoint.name,
                    "last_checkpoint": last.checkpoint.name,
                    "best_of": len(group.scored),
                    "n": best.n_scored,
                    "n_expected": best.n_expected,
                    "paper": bench.paper.get(head.paper_key),
                    "references": {ref: table.get(head.paper_key) for ref, table in bench.references.items()},
                }
            )
    return rows


def _official_rounding(value: float) -> float:
    """The value as the official scripts print it (``round(x, 2)`` / ``%.2f``), for comparing with papers."""
    return value if math.isnan(value) else round(value, 2)


def _group_record(group: Group) -> dict[str, Any]:
    return {
        "key": group.key,
        "main_metric": group.main,
        "best": group.best.checkpoint.name,
        "last": group.last.checkpoint.name,
        "checkpoints": [
            {
                "name": s.checkpoint.name,
                "number": s.checkpoint.number,
                "metrics": s.metrics,
                "n": s.n_scored,
                "n_expected": s.n_expected,
                **s.details,
            }
            for s in group.scored
        ],
    }


def _metrics(groups: list[Group], extra_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The best checkpoint's values: flat for one run, by run for several; by set for MER-UniBench."""
    per_group = {
        g.key: {
            **g.best.metrics,
            **g.best.details,
            "n": g.best.n_scored,
            "n_expected": g.best.n_expected,
            "checkpoint": g.best.checkpoint.name,
            "best_of": len(g.scored),
        }
        for g in groups
    }
    flat = len(groups) == 1 and not extra_rows and not any(h.row_key for h in groups[0].headline)
    out: dict[str, Any] = per_group[groups[0].key] if flat else per_group
    for row in extra_rows:
        out[row["key"]] = row["ours"]
    return out


def _result(ctx: Context, groups: list[Group]) -> dict[str, Any]:
    from emox_core.evaluation import provenance

    bench = ctx.benchmark
    extra = bench.summary(groups) if bench.summary else []
    for group in groups:
        for note in coverage_note(group.label if len(groups) > 1 else "", group.scored):
            ctx.warn(note)
    settings: dict[str, Any] = {
        "options": {o.flag: ctx.values[o.name] for o in bench.options},
        **ctx.notes,
        "deviations": _deviations(bench, ctx.values),
        "checkpoints": {
            "requested": ctx.checkpoints or "all found",
            "skip": ctx.skip,
            "selection": SELECTION,
            "scored": {g.key: [s.checkpoint.name for s in g.scored] for g in groups},
        },
    }
    if ctx.checkpoints is not None:
        settings["checkpoints"]["rule"] = ckpts.parse_range(ctx.checkpoints, ctx.skip)[1]
    samples = [{"run": g.key, **sample} for g in groups for sample in g.best.samples]
    return {
        "benchmark": bench.name,
        "title": bench.title,
        "protocol": bench.protocol,
        "unit": bench.unit,
        "rows": _rows(bench, groups) + extra,
        "metrics": _metrics(groups, extra),
        "groups": [_group_record(g) for g in groups],
        "settings": settings,
        "provenance": provenance.record(ctx),
        "warnings": list(ctx.warnings),
        "samples": samples,
    }


def predict_then_evaluate(
    benchmark: str,
    model: str | Path,
    data: str | Path,
    *,
    out_dir: str | Path | None = None,
    batch_size: int = 8,
    checkpoints: str | None = None,
    skip: int = 1,
    **kwargs: Any,
) -> dict[str, Any]:
    """``emox eval --model CKPT --data MANIFEST``: batched generation with ``emox infer``'s code, then scoring.

    With ``checkpoints`` (``30-60`` and ``skip``, as the official ``test_epochs``/``skip_epoch``), ``model`` is a
    training output folder and every selected ``checkpoint-N`` in it is run, each into its own resumable
    predictions file, then all are scored (best and last reported).
    """
    from emox_core.inference import predict_manifest

    out = Path(out_dir or f"eval-{benchmark}")
    if checkpoints is None:
        target = out / "raw-predictions.jsonl"
        predict_manifest(model=model, manifest=data, out_path=target, batch_size=batch_size)
        return evaluate_benchmark(benchmark, target, out_dir=out, **kwargs)
    folder = Path(model)
    found = [
        ckpts.Checkpoint(d, ckpts.checkpoint_number(d.name))
        for d in sorted(folder.glob("checkpoint-*"))
        if d.is_dir() and d.name.removeprefix("checkpoint-").isdigit()
    ] if folder.is_dir() else []
    if not found:
        raise EmoxError(f"--model {model}: --checkpoints needs a training output folder with checkpoint-N folders")
    target = out / "raw-predictions"
    for ckpt in ckpts.select(found, checkpoints, skip, str(folder)):
        predict_manifest(model=ckpt.path, manifest=data, out_path=target / f"{ckpt.name}.jsonl", batch_size=batch_size)
    return evaluate_benchmark(benchmark, target, out_dir=out, **kwargs)


def headline(result: dict[str, Any]) -> dict[str, float | None]:
    """row key -> our value, for ``--json`` (NaN becomes None so the output is strict JSON)."""
    return {
        r["key"]: (None if isinstance(r["ours"], float) and math.isnan(r["ours"]) else r["ours"])
        for r in result["rows"]
    }
