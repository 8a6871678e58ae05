"""``emox eval BENCH --model DIR --data MANIFEST --ablate``: the benchmark scored with every input, then with
each input removed at test time (the paper's modality ablation, for any checkpoint, without retraining).

Each condition generates with :class:`~emox_core.inference.ablation.WithoutModality` into its own resumable
predictions file and is scored by the same benchmark code into ``OUT/ablation/without-X/`` (its own
``metrics.json`` with full provenance); the reference result in ``OUT/metrics.json`` gains an ``ablation``
block: per condition the inputs masked and the headline metrics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emox_core.errors import EmoxError


def predict_then_evaluate_ablated(benchmark: str, model: str | Path, data: str | Path, *,
                                  out_dir: str | Path | None = None, batch_size: int = 8,
                                  checkpoints: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """Like :func:`~emox_core.evaluation.run.predict_then_evaluate` for one checkpoint, plus one run per
    removable input; the model is loaded once."""
    from emox_core.evaluation import report
    from emox_core.evaluation.run import evaluate_benchmark, headline
    from emox_core.inference import load_for_inference, predict_manifest
    from emox_core.inference.ablation import ABLATIONS, WithoutModality, removed_inputs
    from emox_core.inference.explain import MODALITY_TOKENS

    if checkpoints is not None:
        raise EmoxError("--ablate: scores one checkpoint; drop --checkpoints (or pass --model checkpoint-N)")
    out = Path(out_dir or f"eval-{benchmark}")
    loaded, processor = load_for_inference(model)
    predict_manifest(loaded, data, out / "raw-predictions.jsonl", batch_size, processor=processor)
    result = evaluate_benchmark(benchmark, out / "raw-predictions.jsonl", out_dir=out, **kwargs)
    branches = loaded.config.token_counts
    conditions: dict[str, dict[str, Any]] = {}
    for modality in ABLATIONS:
        if MODALITY_TOKENS[modality] not in branches:
            continue  # the model has no such branch: nothing to remove
        folder = out / "ablation" / f"without-{modality}"
        predict_manifest(WithoutModality(loaded, modality), data, folder / "raw-predictions.jsonl", batch_size,
                         processor=processor)
        scored = evaluate_benchmark(benchmark, folder / "raw-predictions.jsonl", out_dir=folder, **kwargs)
        masked = [m for m in removed_inputs(modality) if MODALITY_TOKENS[m] in branches]
        conditions[f"without {modality}"] = {"masked": masked, "metrics": headline(scored),
                                             "metrics_file": str(folder / "metrics.json")}
    result["ablation"] = {"reference": headline(result), "conditions": conditions}
    result["outputs"] = report.write_outputs(result, out)  # metrics.json again, with the ablation block
    return result


def ablation_table(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows: one row per headline metric, its value with every input and without each."""
    ablation = result["ablation"]
    conditions = ablation["conditions"]
    headers = ["metric", "all inputs", *conditions]
    rows = []
    for key, value in ablation["reference"].items():
        rows.append([key, _fmt(value), *(_fmt(c["metrics"].get(key)) for c in conditions.values())])
    return headers, rows


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
