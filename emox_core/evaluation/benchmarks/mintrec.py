"""MIntRec / MIntRec2.0 intent recognition: Acc, weighted F1, weighted precision (percent).

Source: waHAHJIAHAO/Nano-EmoX @ b08f985 ``evaluation/eval_merg_exp.py`` (``evaluate_mintrec_metrics``): the
response is compared with the ground-truth string (``Inform``, ``Ask for help``) by **exact equality of the raw
strings** (no strip, no case folding), on the names present in both, then ``accuracy_score``,
``f1_score(average='weighted')`` and ``precision_score(average='weighted', zero_division=0)``, each x 100. An
invalid prediction becomes a class of its own with zero support: it costs recall of the true class but adds
nothing to the weights. Ground truth: ``datasets/datasets/mintrec{,2}_dataset.py`` ``get_test_name2gt`` (the
assistant message of ``test_MIntRec{,2}_ann.json``, keyed by the video file name without ``.mp4``).

Deviation options: ``--match lenient`` follows thuiar/MMLA @ 48efd63 ``src/Zero-shot_Inference/eval.py``
(lower-case both, search every label as a whole word; one match -> that label, none -> "unknown", several ->
"multi"); ``--normalize lenient`` strips the whitespace around a response before the exact match.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from emox_core.errors import EmoxError
from emox_core.evaluation.base import NORMALIZE, Benchmark, Context, Group, Headline, Option, Scored
from emox_core.evaluation.checkpoints import Checkpoint
from emox_core.evaluation.sources import find_ground_truth, require_overlap, score_runs
from emox_core.fileio import require_file
from emox_core.tasks import MINTREC2_LABELS, MINTREC_LABELS

PROTOCOL = "nano-emox-b08f985/2"
LABELS = {"mintrec": MINTREC_LABELS, "mintrec2": MINTREC2_LABELS}
MODES = ("exact", "lenient")
ANNOTATION = {"mintrec": "test_MIntRec_ann.json", "mintrec2": "test_MIntRec2_ann.json"}
# The canonical thuiar TSVs, which `emox prepare` also reads: (file, id columns, id format, label column).
TSV = {
    "mintrec": ("test.tsv", ("season", "episode", "clip"), "{}_{}_{}", "label"),
    "mintrec2": ("in-scope/test.tsv", ("Dialogue_id", "Utterance_id"), "dia{}_utt{}", "Label"),
}
HEADLINE = (Headline("accuracy", "Acc", "accuracy"), Headline("wf1", "WF1", "wf1"), Headline("wp", "WP", "wp"))
# Nano-EmoX supplementary Table 5, the P2E row (18:28:5:31:18); Acc and WP are not reported.
PAPER = {"mintrec": {"wf1": 58.17}, "mintrec2": {"wf1": 47.27}}


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
    """Acc / WF1 / WP in percent (unrounded; the official code rounds to 2 decimals only when printing), on the
    names in both mappings."""
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
        "accuracy": float(accuracy_score(y_true, y_pred) * 100),
        "wf1": float(f1_score(y_true, y_pred, average="weighted") * 100),
        "wp": float(precision_score(y_true, y_pred, average="weighted", zero_division=0) * 100),
        "n": len(names),
        "n_missing": len(name2gt) - len(names),
        "mode": mode,
        "samples": [
            {"id": n, "label": t, "pred": p, "correct": t == p} for n, t, p in zip(names, y_true, y_pred, strict=True)
        ],
    }


def read_ground_truth(path: str | Path, benchmark: str = "mintrec") -> dict[str, str]:
    """name -> intent from the Nano-EmoX annotation json (records without messages/videos are skipped, as
    officially) or from the canonical thuiar TSV (out-of-scope rows skipped)."""
    path = require_file(path, "MIntRec ground truth")
    if path.suffix == ".tsv":
        return _read_tsv(path, benchmark)
    try:
        records: Any = json.loads(path.read_text(encoding="utf-8"))
        out = {
            posixpath.basename(r["videos"][0]).replace(".mp4", ""): r["messages"][1]["content"]
            for r in records
            if "messages" in r and "videos" in r
        }
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise EmoxError(f"{path}: not a MIntRec annotation json (records with messages/videos): {exc}") from None
    if not out:
        raise EmoxError(f"{path}: no samples")
    return out


def _read_tsv(path: Path, benchmark: str) -> dict[str, str]:
    from emox_core.data.common import read_csv

    _, id_columns, id_format, label = TSV[benchmark]
    rows = read_csv(path, (*id_columns, label))
    return {
        id_format.format(*(row[c] for c in id_columns)): row[label]
        for row in rows
        if row[label].strip().upper() not in ("UNK", "OOS")
    }


def _runner(key: str) -> Callable[[Context], list[Group]]:
    """The driver of one MIntRec version."""

    def run(ctx: Context) -> list[Group]:
        annotation = ANNOTATION[key]
        folder = "MIntRec2" if key == "mintrec2" else "MIntRec"
        candidates = (annotation, f"{folder}/{annotation}", f"data/{folder}/{annotation}", TSV[key][0])
        gt = read_ground_truth(find_ground_truth(ctx, candidates, annotation), key)

        def score(ckpt: Checkpoint) -> Scored:
            preds = ctx.read_predictions(ckpt.path).text
            if ctx.option("normalize") == "lenient":
                preds = {n: t.strip() for n, t in preds.items()}
            require_overlap(ckpt.path, preds, gt)
            scores = intent_scores(gt, preds, LABELS[key], ctx.option("match"))
            for sample in scores["samples"]:
                sample["checkpoint"] = ckpt.name
            metrics = {k: scores[k] for k in ("accuracy", "wf1", "wp")}
            return Scored(ckpt, metrics, scores["n"], len(gt), samples=scores["samples"])

        return score_runs(ctx, (key,), "accuracy", HEADLINE, score)

    return run


_MATCH = Option(
    "match",
    "--match",
    "Label matching: exact (official: the raw answer equals the label) or lenient (MMLA whole-word search).",
    default="exact",
    choices=MODES,
    official="exact",
)

BENCHMARKS = tuple(
    Benchmark(
        name=key,
        title=title,
        protocol=PROTOCOL,
        unit="percent",
        tasks=("MIR",),
        paper=PAPER[key],
        run=_runner(key),
        options=(_MATCH, NORMALIZE),
        ground_truth_help=f"{ANNOTATION[key]} (Nano-EmoX data/{'MIntRec2' if key == 'mintrec2' else 'MIntRec'}/)",
    )
    for key, title in (
        ("mintrec", "MIntRec: intent Acc / WF1 / WP (Nano-EmoX protocol)"),
        ("mintrec2", "MIntRec2.0: intent Acc / WF1 / WP (Nano-EmoX protocol, in-scope)"),
    )
)
