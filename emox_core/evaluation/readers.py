"""Readers for every predictions format ``emox eval`` accepts, with the sample names the official code uses.

Ours: the predictions JSONL written by ``emox infer`` (one object a line: id, task, prediction, label, labels,
dataset, ...). An id made from a manifest (``{dataset}:{sample}:{task}``, see
:func:`emox_core.data.common.make_sample`) is read as its sample name, so ``mintrec:S06_E04_70:MIR`` scores
against ``S06_E04_70``; lines of tasks the benchmark does not score are left out. Official: AffectGPT /
Nano-EmoX ``*.npz`` with ``name2reason``, ``*-openset.npz`` and ``*-openset-sentiment.npz`` (``filenames`` /
``fileitems``), read without running any pickle (:mod:`emox_core.safe_npz`), and the EMER csv files
(``names`` + ``chi_reasons``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emox_core.errors import EmoxError
from emox_core.fileio import require_file

OPENSET_SUFFIX = "-openset.npz"
SENTIMENT_SUFFIX = "-openset-sentiment.npz"
PREDICTION_COLUMNS = ("chi_reasons", "reasons", "prediction")


@dataclass
class Predictions:
    """sample name -> raw text, plus the parsed label(s), dataset and task where the file has them."""

    source: Path
    kind: str  # "jsonl" | "reason" | "openset" | "sentiment" | "csv"
    text: dict[str, str] = field(default_factory=dict)
    label: dict[str, str] = field(default_factory=dict)
    labels: dict[str, list[str]] = field(default_factory=dict)
    dataset: dict[str, str] = field(default_factory=dict)
    other_tasks: int = 0  # JSONL lines of tasks the benchmark does not score

    def subset(self, names: set[str]) -> Predictions:
        keep = {n for n in self.text if n in names}
        pick = [{k: v for k, v in d.items() if k in keep} for d in (self.text, self.label, self.labels, self.dataset)]
        return Predictions(self.source, self.kind, *pick)


def read_predictions(path: str | Path, tasks: Sequence[str] = ()) -> Predictions:
    """Dispatch on the file name: ``.jsonl`` (lines of ``tasks`` only, when given), ``.npz`` or ``.csv``."""
    path = require_file(path, "predictions file")
    name = path.name
    if name.endswith(".jsonl"):
        return read_jsonl(path, tasks)
    if name.endswith(".npz"):
        return read_npz(path)
    if name.endswith(".csv"):
        return Predictions(path, "csv", text=read_csv_column(path, PREDICTION_COLUMNS))
    raise EmoxError(f"{path}: unknown predictions format (expected .jsonl, .npz or .csv)")


def sample_name(record: dict[str, Any]) -> str:
    """The official sample name of a JSONL record: the middle of a manifest id ``{dataset}:{name}:{task}``,
    else the id itself."""
    sample_id = str(record["id"])
    dataset, task = record.get("dataset"), record.get("task")
    if isinstance(dataset, str) and isinstance(task, str) and dataset and task:
        head, tail = f"{dataset}:", f":{task}"
        if sample_id.startswith(head) and sample_id.endswith(tail) and len(sample_id) > len(head) + len(tail):
            return sample_id[len(head) : -len(tail)]
    return sample_id


def read_jsonl(path: Path, tasks: Sequence[str] = ()) -> Predictions:
    """Our predictions JSONL; every line needs ``id`` and a string ``prediction``; names must be unique."""
    out = Predictions(path, "jsonl")
    wanted = {t.upper() for t in tasks}
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
            if wanted and isinstance(record.get("task"), str) and record["task"].upper() not in wanted:
                out.other_tasks += 1
                continue
            name = sample_name(record)
            if name in out.text:
                raise EmoxError(f"{path}:{lineno}: duplicated sample {name!r}")
            out.text[name] = record["prediction"]
            if record.get("label"):
                out.label[name] = str(record["label"])
            if isinstance(record.get("labels"), list) and record["labels"]:
                out.labels[name] = [str(x) for x in record["labels"]]
            if record.get("dataset"):
                out.dataset[name] = str(record["dataset"])
    if not out.text:
        only = f" of task {'/'.join(tasks)}" if wanted else ""
        raise EmoxError(f"{path}: no predictions{only}")
    return out


def read_npz(path: Path) -> Predictions:
    """An official output; a duplicated name keeps its last item, as the official dict building does."""
    from emox_core.safe_npz import load_npz

    arrays = load_npz(path, "predictions npz")
    if "name2reason" in arrays:
        mapping = arrays["name2reason"].tolist()
        if not isinstance(mapping, dict):
            raise EmoxError(f"{path}: name2reason is not a dict")
        return Predictions(path, "reason", text={str(k): str(v) for k, v in mapping.items()})
    if not {"filenames", "fileitems"} <= set(arrays):
        raise EmoxError(f"{path}: expected key name2reason or filenames/fileitems (has {sorted(arrays)})")
    names, items = arrays["filenames"].tolist(), arrays["fileitems"].tolist()
    if not isinstance(names, list) or not isinstance(items, list) or len(names) != len(items):
        raise EmoxError(f"{path}: filenames and fileitems must be two lists of the same length")
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
        raise EmoxError(f"{path}: not a readable CSV ({' '.join(str(exc).split())})") from None
    key = next((c for c in name_columns if c in frame.columns), None)
    value = next((c for c in columns if c in frame.columns), None)
    if key is None or value is None:
        raise EmoxError(
            f"{path}: expected columns {'/'.join(name_columns)} and {'/'.join(columns)}, "
            f"found {', '.join(map(str, frame.columns))}"
        )
    return {str(n): ("" if pd.isna(v) else str(v)) for n, v in zip(frame[key], frame[value], strict=True)}


def sibling(path: Path, suffix: str) -> Path | None:
    """The official cache next to a checkpoint output: ``ckpt.npz`` -> ``ckpt-openset.npz`` etc."""
    stem = path.name
    for known in (SENTIMENT_SUFFIX, OPENSET_SUFFIX, ".npz"):
        if stem.endswith(known):
            stem = stem[: -len(known)]
            break
    candidate = path.with_name(stem + suffix)
    return candidate if candidate.is_file() else None
