"""What ``emox eval`` leaves behind: table rows (ours, the last checkpoint, coverage, the paper's), ``metrics.json``
(unrounded values and how they were made), per-sample JSONL, a bar chart and, with several checkpoints, a
chart of score vs checkpoint. The CLI only renders the rows."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from emox_core.fileio import atomic_open, atomic_write_json


def table(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows, values with the official 2-decimal rounding: metric, ours (the best checkpoint), the
    last checkpoint (when several were scored), samples scored / expected, the paper's numbers."""
    rows = result["rows"]
    with_last = any(row.get("best_of", 1) > 1 for row in rows)
    references = sorted({ref for row in rows for ref, value in row.get("references", {}).items() if value is not None})
    headers = ["metric", "emox", *(["last checkpoint"] if with_last else []), "n", "paper: Nano-EmoX"]
    headers += [f"paper: {ref}" for ref in references]
    out = []
    for row in rows:
        cells = [row["metric"], _fmt(row["ours"])]
        if with_last:
            cells.append(_fmt(row.get("last")))
        cells.append(f"{row['n']}/{row['n_expected']}" if "n" in row else "")
        cells.append(_fmt(row.get("paper")))
        cells += [_fmt(row.get("references", {}).get(ref)) for ref in references]
        out.append(cells)
    return headers, out


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    return f"{value:.2f}"


def write_outputs(result: dict[str, Any], out_dir: str | Path) -> dict[str, str]:
    """Write metrics.json, predictions.jsonl (per-sample predictions and judgements of the best checkpoints),
    chart.png and, with several checkpoints in a run, checkpoints.png."""
    out = Path(out_dir)
    paths = {"metrics": out / "metrics.json", "samples": out / "predictions.jsonl", "chart": out / "chart.png"}
    atomic_write_json(paths["metrics"], _strict_json({k: v for k, v in result.items() if k != "samples"}))
    with atomic_open(paths["samples"]) as handle:
        for sample in result.get("samples", []):
            handle.write(json.dumps(_strict_json(sample), ensure_ascii=False, default=str) + "\n")
    write_chart(result, paths["chart"])
    if any(len(g["checkpoints"]) > 1 for g in result.get("groups", [])):
        paths["checkpoints_chart"] = out / "checkpoints.png"
        write_checkpoint_chart(result, paths["checkpoints_chart"])
    return {name: str(path) for name, path in paths.items()}


def _strict_json(value: Any) -> Any:
    """NaN -> null and paths -> text, so metrics.json is strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {k: _strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict_json(v) for v in value]
    return value


def _figure(width: float) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(max(4.0, width), 4))


def _save(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=100)
    plt.close(fig)


def write_chart(result: dict[str, Any], path: Path) -> None:
    """Grouped bars, ours vs the paper's, one group per headline metric (matplotlib, Agg backend)."""
    rows = result["rows"]
    fig, ax = _figure(1.1 * len(rows) + 2)
    x = range(len(rows))
    width = 0.4
    ax.bar([i - width / 2 for i in x], [_num(r["ours"]) for r in rows], width, label="emox (ours)")
    ax.bar([i + width / 2 for i in x], [_num(r.get("paper")) for r in rows], width, label="paper")
    ax.set_xticks(list(x))
    ax.set_xticklabels([r["metric"] for r in rows], rotation=30, ha="right")
    ax.set_xlabel("metric")
    ax.set_ylabel(result.get("unit", "score"))
    ax.set_title(f"emox eval {result['benchmark']}: ours vs paper")
    ax.legend()
    _save(fig, path)


def write_checkpoint_chart(result: dict[str, Any], path: Path) -> None:
    """The main metric of every scored checkpoint, one line per run; the best one circled."""
    fig, ax = _figure(7.0)
    for group in result["groups"]:
        points = group["checkpoints"]
        xs = [p["number"] if p["number"] is not None else i for i, p in enumerate(points)]
        ys = [_num(p["metrics"][group["main_metric"]]) for p in points]
        (line,) = ax.plot(xs, ys, marker="o", label=f"{group['key']} ({group['main_metric']})")
        best = next(i for i, p in enumerate(points) if p["name"] == group["best"])
        ax.plot([xs[best]], [ys[best]], marker="o", markersize=12, fillstyle="none", color=line.get_color())
    ax.set_xlabel("checkpoint")
    ax.set_ylabel(result.get("unit", "score"))
    ax.set_title(f"emox eval {result['benchmark']}: score vs checkpoint (circle = reported best)")
    ax.legend(fontsize="small")
    _save(fig, path)


def _num(value: float | None) -> float:
    return 0.0 if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
