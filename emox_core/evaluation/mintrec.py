"""MIntRec / MIntRec2.0 intent recognition: Acc, weighted F1, weighted precision (x100, 2 decimals).

Source: waHAHJIAHAO/Nano-EmoX @ b08f985 ``evaluation/eval_merg_exp.py`` (MIntRec branch): the raw response is
compared with the ground-truth string (``Inform``, ``Ask for help``) by **exact equality**, on the names
present in both, then ``accuracy_score``, ``f1_score(average='weighted')`` and
``precision_score(average='weighted', zero_division=0)``. An invalid prediction becomes a class of its own
with zero support, which costs recall of the true class but adds nothing to the weights.

``mode="lenient"`` follows thuiar/MMLA @ 48efd63 ``src/Zero-shot_Inference/eval.py``: lower-case both, search
every label as a whole word; one match -> that label, none -> "unknown", several -> "multi".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from emox_core.errors import EmoxError
from emox_core.tasks import MINTREC2_LABELS, MINTREC_LABELS

LABELS = {"mintrec": MINTREC_LABELS, "mintrec2": MINTREC2_LABELS}
MODES = ("exact", "lenient")


def mmla_match(text: str, labels: Sequence[str]) -> str:
    """MMLA whole-word label matching on lower-cased text."""
    low = text.lower()
    found = [lab.lower() for lab in labels if re.search(rf"(?<!\w){re.escape(lab.lower())}(?!\w)", low)]
    if len(found) == 1:
        return found[0]
    return "unknown" if not found else "multi"


def intent_scores(
    name2gt: Mapping[str, str], name2pred: Mapping[str, str], labels: Sequence[str], mode: str = "exact"
) -> dict[str, Any]:
    """Acc / WF1 / WP in percent, rounded to 2 decimals, on the names in both mappings."""
    from sklearn.metrics import accuracy_score, f1_score, precision_score

    if mode not in MODES:
        raise EmoxError(f"--match {mode!r}: choose exact or lenient")
    names = [n for n in name2gt if n in name2pred]
    if not names:
        raise EmoxError("no prediction id matches a ground-truth id")
    if mode == "exact":
        y_true = [name2gt[n] for n in names]
        y_pred = [name2pred[n] for n in names]
    else:
        y_true = [name2gt[n].lower() for n in names]
        y_pred = [mmla_match(name2pred[n], labels) for n in names]
    return {
        "accuracy": round(100 * float(accuracy_score(y_true, y_pred)), 2),
        "wf1": round(100 * float(f1_score(y_true, y_pred, average="weighted")), 2),
        "wp": round(100 * float(precision_score(y_true, y_pred, average="weighted", zero_division=0)), 2),
        "n": len(names),
        "n_missing": len(name2gt) - len(names),
        "mode": mode,
        "samples": [
            {"id": n, "label": t, "pred": p, "correct": t == p} for n, t, p in zip(names, y_true, y_pred, strict=True)
        ],
    }
