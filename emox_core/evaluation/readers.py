"""Readers for every predictions / ground-truth format ``emox eval`` accepts.

Ours: the predictions JSONL written by ``emox infer`` (one object a line: id, task, prediction, label, labels,
thinking, reply, dataset). Official: AffectGPT / Nano-EmoX ``*.npz`` with ``name2reason``, ``*-openset.npz``
and ``*-openset-sentiment.npz`` (``filenames`` / ``fileitems``), the EMER csv files (``names`` + ``reasons``
or ``chi_reasons``) and the MIntRec annotation json (``messages`` / ``videos``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emox_core.errors import EmoxError
from emox_core.fileio import require_file

OPENSET_SUFFIX = "-openset.npz"
SENTIMENT_SUFFIX = "-openset-sentiment.npz"


@dataclass
class Predictions:
    """name -> raw text, plus the parsed label(s) where the file already has them."""

    source: Path
    kind: str  # "jsonl" | "reason" | "openset" | "sentiment" | "csv"
    text: dict[str, str] = field(default_factory=dict)
    label: dict[str, str] = field(default_factory=dict)
    labels: dict[str, list[str]] = field(default_factory=dict)
    dataset: dict[str, str] = field(default_factory=dict)

    def subset(self, names: set[str]) -> Predictions:
        keep = {n for n in self.text if n in names}
        return Predictions(
            self.source,
            self.kind,
            *({k: v for k, v in d.items() if k in keep} for d in (self.text, self.label, self.labels, self.dataset)),
        )


def read_predictions(path: str | Path) -> Predictions:
    """Dispatch on the file name: ``.jsonl``, ``.npz`` (three official kinds) or ``.csv``."""
    path = require_file(path, "predictions file")
    name = path.name
    if name.endswith(".jsonl"):
        return read_jsonl(path)
    if name.endswith(".npz"):
        return read_npz(path)
    if name.endswith(".csv"):
        return Predictions(path, "csv", text=read_csv_column(path, ("chi_reasons", "reasons", "prediction")))
    raise EmoxError(f"{path}: unknown predictions format (expected .jsonl, .npz or .csv)")


def read_jsonl(path: Path) -> Predictions:
    """Our predictions JSONL; ids must be unique and every line needs ``id`` and ``prediction``."""
    out = Predictions(path, "jsonl")
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise EmoxError(f"{path}:{lineno}: not a JSON object") from None
            if not isinstance(record, dict) or "id" not in record or not isinstance(record.get("prediction"), str):
                raise EmoxError(f"{path}:{lineno}: a prediction line needs 'id' and a string 'prediction'")
            name = str(record["id"])
            if name in out.text:
                raise EmoxError(f"{path}:{lineno}: duplicated id {name!r}")
            out.text[name] = record["prediction"]
            if record.get("label"):
                out.label[name] = str(record["label"])
            if isinstance(record.get("labels"), list) and record["labels"]:
                out.labels[name] = [str(x) for x in record["labels"]]
            if record.get("dataset"):
                out.dataset[name] = str(record["dataset"])
    if not out.text:
        raise EmoxError(f"{path}: no predictions")
    return out


def read_npz(path: Path) -> Predictions:
    """An official intermediate output; a duplicated name keeps its last item, as officially."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=True) as archive:
            files = set(archive.files)
            if "name2reason" in files:
                mapping = archive["name2reason"].tolist()
                if not isinstance(mapping, dict):
                    raise EmoxError(f"{path}: name2reason is not a dict")
                return Predictions(path, "reason", text={str(k): str(v) for k, v in mapping.items()})
            if {"filenames", "fileitems"} <= files:
                names, items = archive["filenames"].tolist(), archive["fileitems"].tolist()
            else:
                raise EmoxError(f"{path}: expected key name2reason or filenames/fileitems (has {sorted(files)})")
    except (OSError, ValueError) as exc:
        raise EmoxError(f"{path}: not a readable npz ({exc})") from None
    if len(names) != len(items):
        raise EmoxError(f"{path}: {len(names)} filenames but {len(items)} fileitems")
    kind = "sentiment" if path.name.endswith(SENTIMENT_SUFFIX) else "openset"
    return Predictions(path, kind, text={str(n): str(i) for n, i in zip(names, items, strict=True)})


def read_csv_column(
    path: Path,
    columns: tuple[str, ...],
    name_columns: tuple[str, ...] = ("names", "name", "id"),
) -> dict[str, str]:
    """name -> the first of ``columns`` present (NaN -> ""), as ``func_gain_name2value`` reads EMER csvs."""
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise EmoxError(f"{path}: not a readable CSV ({exc})") from None
    key = next((c for c in name_columns if c in frame.columns), None)
    value = next((c for c in columns if c in frame.columns), None)
    if key is None or value is None:
        raise EmoxError(
            f"{path}: expected columns {'/'.join(name_columns)} and {'/'.join(columns)}, "
            f"found {', '.join(map(str, frame.columns))}"
        )
    return {str(n): ("" if pd.isna(v) else str(v)) for n, v in zip(frame[key], frame[value], strict=True)}


def read_intent_annotations(path: str | Path) -> dict[str, str]:
    """MIntRec/MIntRec2 test json (Nano-EmoX ``data/MIntRec*/test_*_ann.json``): video stem -> intent."""
    path = require_file(path, "MIntRec annotation json")
    try:
        records: Any = json.loads(path.read_text(encoding="utf-8"))
        out = {Path(r["videos"][0]).stem: r["messages"][1]["content"] for r in records}
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise EmoxError(f"{path}: not a MIntRec annotation json (records with messages/videos): {exc}") from None
    if not out:
        raise EmoxError(f"{path}: no samples")
    return out


def sibling(path: Path, suffix: str) -> Path | None:
    """The official cache next to a checkpoint output: ``ckpt.npz`` -> ``ckpt-openset.npz`` etc."""
    stem = path.name
    for known in (SENTIMENT_SUFFIX, OPENSET_SUFFIX, ".npz"):
        if stem.endswith(known):
            stem = stem[: -len(known)]
            break
    candidate = path.with_name(stem + suffix)
    return candidate if candidate.is_file() else None


def checkpoint_outputs(run_dir: Path) -> list[Path]:
    """The per-checkpoint outputs of a run folder, in name (= official checkpoint) order."""
    raw = sorted(p for p in run_dir.glob("*.npz") if not p.name.endswith((OPENSET_SUFFIX, SENTIMENT_SUFFIX)))
    if raw:
        return raw
    return sorted(p for p in run_dir.glob("*" + OPENSET_SUFFIX))
