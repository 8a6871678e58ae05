"""Emotion-wheel label mapping and the three EW metrics of MER-UniBench (hit rate, OV precision/recall/F).

Source: zeroQiaoba/AffectGPT @ fffca794 ``AffectGPT/my_affectgpt/evaluation/wheel.py`` and ``ew_metric.py``
(identical in waHAHJIAHAO/Nano-EmoX @ b08f985 ``evaluation/{wheel,ew_metric}.py``). Everything is table
driven: ``format.csv`` (word forms), ``synonym.xlsx`` (8 GPT synonym runs) and ``wheel1..5.xlsx`` (3-level
wheels). The data files are not shipped with emox; :meth:`EmotionWheels.load` reads them from the folder the
user gives.

Quirks kept on purpose (they change scores, see docs/evaluation.md):
* a label maps through the **alphabetically first** raw word that is in the wheel (``fear`` -> ``brave`` ->
  *happy* in wheel2);
* a word listed twice in one wheel takes the cluster of its **last** occurrence;
* a label that maps nowhere (``neutral``, ``surprise`` in wheel5, ...) is dropped; a sample whose ground truth
  is dropped is skipped, so each wheel has its own denominator.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emox_core.errors import EmoxError
from emox_core.fileio import require_dir, require_file

WHEELS = ("wheel1", "wheel2", "wheel3", "wheel4", "wheel5")
LEVELS = ("level1", "level2")
SYNONYM_RUNS = 8
_SPLIT = re.compile(r"['\",]")


def string_to_list(value: Any) -> list[Any]:
    """AffectGPT ``toolkit/utils/functions.py`` ``string_to_list``, exactly.

    A list (or numpy array) is returned as it is; ``''``, None and NaN give ``[]``. Otherwise a ``[`` is dropped
    only when it is the very first character and a ``]`` only when it is the very last, of the **unstripped**
    string (so ``" [happy]"`` keeps its ``[``), then the text is split on ``'``, ``"`` and ``,`` and each piece
    is stripped; empty pieces are dropped. Case is kept: the callers lower-case. Where the official function
    raises (a lone ``"["``, a number), this returns ``[]`` / the number's text.
    """
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return list(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    text = value if isinstance(value, str) else str(value)
    if text == "":
        return []
    if text[0] == "[":
        text = text[1:]
    if text[-1:] == "]":
        text = text[:-1]
    return [piece.strip() for piece in _SPLIT.split(text) if piece.strip() not in ("", ",")]


def normalised_labels(value: Any) -> list[str]:
    """``string_to_list`` then every item lower-cased and stripped, as each official metric does before mapping."""
    return [str(item).lower().strip() for item in string_to_list(value)]


def _read_wheel(path: Path) -> dict[str, dict[str, list[str]]]:
    """level1 -> level2 -> [level3]; a blank cell inherits the last value seen, even across a level change."""
    import pandas as pd

    frame = pd.read_excel(path)
    missing = {"level1", "level2", "level3"} - set(frame.columns)
    if missing:
        raise EmoxError(f"{path}: missing columns {sorted(missing)}")
    tree: dict[str, dict[str, list[str]]] = {}
    current = ["", "", ""]
    for row in frame.itertuples(index=False):
        for i, cell in enumerate((row.level1, row.level2, row.level3)):
            if not pd.isna(cell):
                current[i] = str(cell)
        l1, l2, l3 = (c.lower().strip() for c in current)
        tree.setdefault(l1, {}).setdefault(l2, []).append(l3)
    return tree


def _cluster_map(tree: dict[str, dict[str, list[str]]], level: str) -> dict[str, str]:
    """Every wheel word -> its cluster at ``level``; a later occurrence overwrites an earlier one."""
    out: dict[str, str] = {}
    for l1, children in tree.items():
        out[l1] = l1 if level == "level1" else sorted(children)[0]
        for l2, leaves in children.items():
            out[l2] = l1 if level == "level1" else l2
            for l3 in leaves:
                out[l3] = l1 if level == "level1" else l2
    return out


@dataclass(frozen=True)
class EmotionWheels:
    """The three lookup tables of the EW metrics, built once per wheel folder."""

    format_map: dict[str, list[str]]
    raw_map: dict[str, list[str]]
    clusters: dict[tuple[str, str], dict[str, str]]

    @staticmethod
    def load(directory: str | Path) -> EmotionWheels:
        """Read ``format.csv``, ``synonym.xlsx`` and ``wheel1..5.xlsx`` from ``directory`` (cached per
        path)."""
        root = require_dir(directory, "emotion-wheel folder (--wheels)")
        return _load_cached(root.resolve())

    def map_label(self, label: str, wheel: str, level: str = "level1") -> str:
        """Official "case3" mapping of one label onto a wheel cluster; "" when it maps nowhere."""
        if label not in self.format_map:
            return ""
        wheel_map = self.clusters[(wheel, level)]
        raws = sorted(raw for form in self.format_map[label] for raw in self.raw_map.get(form, ()))
        return next((wheel_map[raw] for raw in raws if raw in wheel_map), "")

    def map_labels(self, labels: Iterable[str], wheel: str, level: str = "level1") -> set[str]:
        """Map labels element-wise (as given: callers lower-case), dropping the ones that map nowhere."""
        return {c for c in (self.map_label(lab, wheel, level) for lab in labels) if c}


@functools.lru_cache(maxsize=4)
def _load_cached(root: Path) -> EmotionWheels:
    import pandas as pd

    format_path = require_file(root / "format.csv", "emotion-wheel format.csv")
    synonym_path = require_file(root / "synonym.xlsx", "emotion-wheel synonym.xlsx")
    trees = {w: _read_wheel(require_file(root / f"{w}.xlsx", f"emotion wheel {w}.xlsx")) for w in WHEELS}

    formats = pd.read_csv(format_path)
    if not {"name", "format"} <= set(formats.columns):
        raise EmoxError(f"{format_path}: expected columns name,format")
    format_map: dict[str, list[str]] = {}
    for name, forms in zip(formats["name"], formats["format"], strict=True):
        for form in string_to_list(forms):
            format_map.setdefault(form, []).append(name)
        format_map.setdefault(name, []).append(name)

    synonyms = pd.read_excel(synonym_path)
    raw_map: dict[str, list[str]] = {}
    for run in range(1, SYNONYM_RUNS + 1):
        word_col, syn_col = f"word_run{run}", f"synonym_run{run}"
        if word_col not in synonyms.columns or syn_col not in synonyms.columns:
            raise EmoxError(f"{synonym_path}: missing columns {word_col}/{syn_col}")
        run_map: dict[str, list[str]] = {}
        for word, syns in zip(synonyms[word_col], synonyms[syn_col], strict=True):
            raw = str(word).strip().lower()
            run_map.setdefault(raw, []).append(raw)
            for syn in string_to_list(syns):
                run_map.setdefault(syn.strip().lower(), []).append(raw)
        # official func_merge_map: a key in both maps gets the set union; otherwise its list is kept as is
        for key, values in run_map.items():
            raw_map[key] = sorted(set(raw_map[key]) | set(values)) if key in raw_map else values

    clusters = {(w, level): _cluster_map(trees[w], level) for w in WHEELS for level in LEVELS}
    return EmotionWheels(format_map=format_map, raw_map=raw_map, clusters=clusters)


def hit_rate(name2gt: Mapping[str, Any], name2pred: Mapping[str, Any], wheels: EmotionWheels) -> dict[str, Any]:
    """MER-UniBench hit rate (MER2023/MER2024/MELD/IEMOCAP): mean over 5 wheels of the per-wheel hit rate.

    Source: AffectGPT ``wheel.py`` ``calculate_openset_onehot_hitrate`` + ``ew_metric.py``
    ``hitrate_metric_calculation``. Per wheel, samples whose ground truth maps nowhere (e.g. neutral) are
    skipped; hit = |P ∩ G| (0 or 1). ``mscore`` (hits / predictions landing in a cluster of any ground-truth
    label, the candidates taken as the raw ground-truth strings) is computed as officially, never reported.
    Fractions in [0, 1], averaged with numpy as officially (so every digit matches).
    """
    candidates = list(dict.fromkeys(name2gt.values()))
    per_wheel: dict[str, dict[str, float]] = {}
    for wheel in WHEELS:
        cand = wheels.map_labels(candidates, wheel)
        hits, mscores = [], []
        for name, gt in name2gt.items():
            g = wheels.map_labels(normalised_labels(gt), wheel)
            if not g:
                continue
            p = wheels.map_labels(normalised_labels(name2pred[name]), wheel)
            hits.append(len(p & g))
            landed = len(p & cand)
            mscores.append(len(p & g) / landed if landed else 0)
        per_wheel[wheel] = {"hit_rate": _mean(hits), "mscore": _mean(mscores), "n": len(hits)}
    hit, mscore = _mean_rows([[s["hit_rate"], s["mscore"]] for s in per_wheel.values()])
    return {"hit_rate": hit, "mscore": mscore, "per_wheel": per_wheel}


def overlap_prf(
    name2gt: Mapping[str, Any], name2pred: Mapping[str, Any], wheels: EmotionWheels, level: str = "level1"
) -> dict[str, Any]:
    """OV-MERD+ EW F-score: per wheel, F from the sample-mean precision and recall; mean over 5 wheels.

    Source: AffectGPT ``wheel.py`` ``calculate_openset_overlap_rate`` + ``ew_metric.py``
    ``wheel_metric_calculation``. An empty mapped prediction scores P = R = 0; an empty mapped ground truth
    skips the sample. F is NaN when P + R = 0 (not guarded officially either). Fractions in [0, 1].
    """
    import numpy as np

    per_wheel: dict[str, dict[str, float]] = {}
    for wheel in WHEELS:
        precision, recall = [], []
        for name, gt in name2gt.items():
            g = wheels.map_labels(normalised_labels(gt), wheel, level)
            p = wheels.map_labels(normalised_labels(name2pred[name]), wheel, level)
            if not g:
                continue
            precision.append(len(g & p) / len(p) if p else 0)
            recall.append(len(g & p) / len(g) if p else 0)
        mp, mr = np.float64(_mean(precision)), np.float64(_mean(recall))
        with np.errstate(invalid="ignore", divide="ignore"):
            f = float(2 * (mp * mr) / (mp + mr))
        per_wheel[wheel] = {"f": f, "precision": float(mp), "recall": float(mr), "n": len(precision)}
    f, precision, recall = _mean_rows([[s["f"], s["precision"], s["recall"]] for s in per_wheel.values()])
    return {"f": f, "precision": precision, "recall": recall, "per_wheel": per_wheel}


def _mean(values: list[float]) -> float:
    """``np.mean`` (pairwise summation, as the official code): NaN for an empty list, without a warning."""
    import numpy as np

    return float(np.mean(values)) if values else float("nan")


def _mean_rows(rows: list[list[float]]) -> list[float]:
    """``np.mean(rows, axis=0)``: the official average over the five wheels, column by column."""
    import numpy as np

    return [float(x) for x in np.mean(np.array(rows, dtype=np.float64), axis=0)]
