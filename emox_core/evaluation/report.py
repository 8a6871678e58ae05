"""What ``emox eval`` leaves behind: table rows (ours beside the paper's), ``metrics.json``, per-sample
JSONL and a PNG bar chart. The CLI only renders the rows."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from emox_core.fileio import atomic_open, atomic_write_json


def table(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows: metric, ours, the paper's Nano-EmoX number (and AffectGPT's where there is one)."""
    with_affectgpt = any(row.get("affectgpt_paper") is not None for row in result["rows"])
    headers = ["metric", "emox", "paper: Nano-EmoX"] + (["paper: AffectGPT"] if with_affectgpt else [])
    rows = []
    for row in result["rows"]:
        cells = [row["metric"], _fmt(row["ours"]), _fmt(row.get("paper"))]
        if with_affectgpt:
            cells.append(_fmt(row.get("affectgpt_paper")))
        rows.append(cells)
    return headers, rows


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    return f"{value:.2f}"


def write_outputs(result: dict[str, Any], out_dir: str | Path) -> dict[str, str]:
    """Write metrics.json, predictions.jsonl (per-sample predictions and judgements) and chart.png."""
    out = Path(out_dir)
    metrics_path = out / "metrics.json"
    samples_path = out / "predictions.jsonl"
    chart_path = out / "chart.png"
    atomic_write_json(metrics_path, {k: v for k, v in result.items() if k != "samples"})
    with atomic_open(samples_path) as handle:
        for sample in result.get("samples", []):
            handle.write(json.dumps(sample, ensure_ascii=False, default=str) + "\n")
    write_chart(result, chart_path)
    return {"metrics": str(metrics_path), "samples": str(samples_path), "chart": str(chart_path)}


def write_chart(result: dict[str, Any], path: Path) -> None:
    """Grouped bars, ours vs the paper's, one group per headline metric (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    labels = [r["metric"] for r in rows]
    ours = [_num(r["ours"]) for r in rows]
    paper = [_num(r.get("paper")) for r in rows]
    x = range(len(rows))
    width = 0.4
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(rows) + 2), 4))
    ax.bar([i - width / 2 for i in x], ours, width, label="emox (ours)")
    ax.bar([i + width / 2 for i in x], paper, width, label="paper")
    ax.set_xticks(list(x))
    ax.set_xticklabels(labels, rotation=30, ha="right")
    ax.set_xlabel("metric")
    ax.set_ylabel(result.get("unit", "score"))
    ax.set_title(f"emox eval {result['benchmark']}: ours vs paper")
    ax.legend()
    fig.tight_layout()
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=100)
    plt.close(fig)


def _num(value: float | None) -> float:
    return 0.0 if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
