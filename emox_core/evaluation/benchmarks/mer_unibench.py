"""MER-UniBench (AffectGPT, ICML 2025): the 9 test sets, their ground truth, the LLM step, the scores, the
paper's numbers and the driver of ``emox eval mer-unibench``.

Sources: zeroQiaoba/AffectGPT @ fffca794 ``AffectGPT/evaluation-scoreonly.py`` (``main_zeroshot_scores``,
``calculate_discrete_zeroshot``, ``calculate_dimension_zeroshot``, ``calculate_ov_zeroshot``),
``AffectGPT/toolkit/utils/qwen.py`` (prompts, ``func_postprocess_qwen``),
``AffectGPT/my_affectgpt/datasets/datasets/*.py`` (label files, idx2emo); Nano-EmoX @ b08f985
``evaluation-scoreonly.py`` / ``evaluation/ew_metric.py`` (same protocol).

Pipeline: free text --(prompt A)--> open-vocabulary list ("-openset") --(prompt B, sentiment sets only)-->
positive/negative/neutral ("-openset-sentiment") --> hit rate / WAF / EW-F. Official outputs whose
``-openset(-sentiment).npz`` caches sit beside them are scored without any LLM call. Values are percent
(the official fractions x 100), per-wheel values included.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emox_core.errors import EmoxError
from emox_core.evaluation import checkpoints as ckpts
from emox_core.evaluation import readers
from emox_core.evaluation.base import NORMALIZE, Benchmark, Context, Group, Headline, Option, Scored, need_option
from emox_core.evaluation.emotion_wheel import WHEELS, EmotionWheels, hit_rate, overlap_prf, string_to_list
from emox_core.evaluation.judge import ChatBackend, Settings
from emox_core.evaluation.sources import GT_SEARCH_DEPTH, ground_truth_roots
from emox_core.fileio import atomic_open, require_dir

PROTOCOL = "affectgpt-fffca794/2"


@dataclass(frozen=True)
class Subset:
    """One MER-UniBench test set: how its ground truth is stored and which metric is reported."""

    name: str
    group: str  # "discrete" (hit rate) | "dimension" (sentiment WAF) | "ovlabel" (EW F-score)
    label_file: str
    corpus_key: str
    size: int
    idx2emo: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    @property
    def main_metric(self) -> str:
        return {"discrete": "hit_rate", "dimension": "waf", "ovlabel": "f"}[self.group]


SUBSETS: dict[str, Subset] = {
    s.name: s
    for s in (
        Subset("mer2023", "discrete", "label-6way.npz", "test1_corpus", 411),
        Subset("mer2024", "discrete", "label-6way.npz", "test1_corpus", 1169),
        Subset(
            "meld",
            "discrete",
            "label.npz",
            "test_corpus",
            2610,
            ("anger", "joy", "sadness", "neutral", "disgust", "fear", "surprise"),
        ),
        Subset(
            "iemocapfour",
            "discrete",
            "label_4way.npz",
            "whole_corpus",
            1241,
            ("happy", "sad", "neutral", "anger"),
            ("iemocap",),
        ),
        Subset("cmumosi", "dimension", "label.npz", "test_corpus", 686, aliases=("mosi",)),
        Subset("cmumosei", "dimension", "label.npz", "test_corpus", 4659, aliases=("mosei",)),
        Subset("sims", "dimension", "label.npz", "test_corpus", 457, aliases=("chsims",)),
        Subset("simsv2", "dimension", "label.npz", "test_corpus", 1034, aliases=("chsimsv2",)),
        Subset("ovmerdplus", "ovlabel", "ovlabel.csv", "openset", 532, aliases=("ovmerd", "ovmerd+")),
    )
}
OV_LABEL_FILES = ("ovlabel.csv", "mer2025-ov.csv")  # AffectGPT's package; the MER2025 folder emox prepare reads

# Nano-EmoX paper, Table 2: hit rate (MER), WAF (MSA), EW F-score labelled "WAF (OV-MER)".
PAPER = {
    "mer2023": 79.09,
    "mer2024": 77.94,
    "meld": 56.55,
    "iemocapfour": 60.12,
    "cmumosi": 76.82,
    "cmumosei": 79.81,
    "sims": 86.25,
    "simsv2": 84.76,
    "ovmerdplus": 64.75,
    "mean": 74.01,
}
# AffectGPT's own row of the same table: the reference for rescoring the official intermediate outputs.
AFFECTGPT = {
    "mer2023": 78.54,
    "mer2024": 78.80,
    "meld": 55.65,
    "iemocapfour": 60.54,
    "cmumosi": 81.30,
    "cmumosei": 80.90,
    "sims": 88.49,
    "simsv2": 86.18,
    "ovmerdplus": 62.52,
    "mean": 74.77,
}

# Prompt A (qwen.py ``reason_to_openset_qwen``): backslash continuations, no indentation -> single spaces.
OPENSET_PROMPT = (
    "Please assume the role of an expert in the field of emotions. "
    "We provide clues that may be related to the emotions of the characters. "
    "Based on the provided clues, please identify the emotional states of the main character. "
    "The main character is the one with the most detailed clues. "
    "Please separate different emotional categories with commas and output only the clearly identifiable "
    "emotional categories in a list format. "
    "If none are identified, please output an empty list. "
    "Input: We cannot recognize his emotional state; Output: [] "
    "Input: His emotional state is happy, sad, and angry; Output: [happy, sad, angry] "
    "Input: {reason}; Output: "
)
# Prompt B (qwen.py ``openset_to_sentiment_qwen``): continuation lines are indented by 12 spaces and
# those spaces are part of the string, so every break reads " " + 12 spaces.
_GAP = " " * 13
SENTIMENT_PROMPT = _GAP.join(
    (
        "Please act as an expert in the field of emotions.",
        "We provide a few words to describe the emotions of a character.",
        "Please choose the most likely sentiment from the given candidates: [positive, negative, neutral]",
        "Please direct output answer without analyzing process.",
        "Input: [joyful]; Output: positive",
        "Input: []; Output: neutral",
        "Input: {reason}; Output: ",
    )
)
# ew_metric.py ``func_read_batch_calling_model``: vLLM SamplingParams (stochastic sampling, not greedy).
EXTRACTOR_MODEL = "Qwen2.5-7B-Instruct"
EXTRACTOR_SETTINGS = Settings(temperature=0.7, top_p=0.8, max_tokens=512, repetition_penalty=1.05)
_QWEN_PREFIXES = ("输入", "输出", "翻译", "让我们来翻译一下：", "output", "Output", "input", "Input")
SENTIMENT_VALUE = {"positive": 1.0, "negative": -1.0, "neutral": 0.0}


def get_subset(name: str) -> Subset:
    """Look a subset up by name or alias ("MER2023", "CMU-MOSI", "OV-MERD+", "mer2023-dataset-process")."""
    key = _folder_key(name)
    for subset in SUBSETS.values():
        if key == subset.name or key in subset.aliases:
            return subset
    raise EmoxError(f"--subset {name!r}: unknown MER-UniBench set; choose from {', '.join(SUBSETS)}")


def _folder_key(name: str) -> str:
    """``mer2023-dataset-process`` / ``MER2023-process`` / ``CMU-MOSI`` -> ``mer2023`` / ``cmumosi``."""
    key = re.sub(r"[^a-z0-9+]", "", name.lower())
    return key.removesuffix("process").removesuffix("dataset") or key


def postprocess_qwen(text: str) -> str:
    """qwen.py ``func_postprocess_qwen``: leading Input/Output/翻译 prefixes and colons, each checked once in
    order, then every newline."""
    text = text.strip()
    for prefix in _QWEN_PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix) :]
    text = text.strip()
    for colon in (":", "："):
        if text.startswith(colon):
            text = text[1:]
    return text.strip().replace("\n", "").strip()


def extract_openset(name2reason: Mapping[str, str], backend: ChatBackend) -> dict[str, str]:
    """Free text -> "[a, b]" with prompt A (the official order of names; batching only affects speed)."""
    names = list(name2reason)
    prompts = [OPENSET_PROMPT.format(reason=name2reason[n]) for n in names]
    replies = backend.complete(prompts, "MER-UniBench: text -> label list")
    return {n: postprocess_qwen(r) for n, r in zip(names, replies, strict=True)}


def openset_to_sentiment(name2openset: Mapping[str, str], backend: ChatBackend) -> dict[str, str]:
    """ "[a, b]" -> positive/negative/neutral with prompt B."""
    names = list(name2openset)
    prompts = [SENTIMENT_PROMPT.format(reason=name2openset[n]) for n in names]
    replies = backend.complete(prompts, "MER-UniBench: label list -> sentiment")
    return {n: postprocess_qwen(r) for n, r in zip(names, replies, strict=True)}


def sentiment_scores(name2val: Mapping[str, float], name2sentiment: Mapping[str, str]) -> dict[str, Any]:
    """WAF and accuracy on the binarised sentiment (``calculate_dimension_zeroshot``); fractions in [0, 1].

    Ground truth exactly 0 is dropped; the prediction string "positive" -> +1, "negative" -> -1, anything else
    (neutral, "mixed", "positive.") -> 0, which counts as negative after binarising with ``> 0``.
    """
    from sklearn.metrics import accuracy_score, f1_score

    y_true, y_pred = [], []
    for name, val in name2val.items():
        pred = SENTIMENT_VALUE.get(name2sentiment[name], 0.0)
        if float(val) == 0:
            continue
        y_true.append(float(val) > 0)
        y_pred.append(pred > 0)
    if not y_true:
        raise EmoxError("sentiment ground truth: every value is 0, nothing to score")
    return {
        "waf": float(f1_score(y_true, y_pred, average="weighted")),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "n": len(y_true),
    }


def score_subset(
    subset: Subset,
    name2gt: Mapping[str, Any],
    name2openset: Mapping[str, str],
    wheels: EmotionWheels | None,
    name2sentiment: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The official metrics of one subset as the official code returns them (fractions); ``main`` holds the
    number the tables report (x 100)."""
    if subset.group == "dimension":
        if name2sentiment is None:
            raise EmoxError(f"{subset.name}: sentiment predictions are needed (LLM step or -openset-sentiment.npz)")
        out = sentiment_scores(name2gt, name2sentiment)
    else:
        if wheels is None:
            raise EmoxError(f"{subset.name}: the emotion-wheel files are needed (--wheels DIR)")
        out = (
            hit_rate(name2gt, name2openset, wheels)
            if subset.group == "discrete"
            else overlap_prf(name2gt, name2openset, wheels)
        )
    out["main"] = out[subset.main_metric]
    return out


def load_ground_truth(subset: Subset, path: str | Path) -> dict[str, Any]:
    """name -> label string (discrete), valence (dimension) or open-vocabulary string (OV-MERD+).

    ``path`` is the label file as distributed (``label-6way.npz``, ``label.npz``, ``label_4way.npz``,
    ``ovlabel.csv``) or a CSV with ``name`` and one of ``emo``/``label``/``val``/``openset``. The npz is read
    without running its pickle (:mod:`emox_core.safe_npz`).
    """
    from emox_core.safe_npz import load_npz

    path = Path(path)
    if path.suffix != ".npz":
        return _ground_truth_csv(subset, path)
    arrays = load_npz(path, "MER-UniBench label file")
    if subset.corpus_key not in arrays:
        raise EmoxError(f"{path}: no key {subset.corpus_key!r} (has {', '.join(arrays)})")
    corpus = arrays[subset.corpus_key].tolist()
    if not isinstance(corpus, dict):
        raise EmoxError(f"{path}: {subset.corpus_key} is not a name -> label dict")
    if subset.name == "iemocapfour":  # Session 5 is the test set: int(name[4]) == 5
        corpus = {n: v for n, v in corpus.items() if len(str(n)) > 4 and str(n)[4] == "5"}
    field_name = "val" if subset.group == "dimension" else "emo"
    out: dict[str, Any] = {}
    for name, record in corpus.items():
        if not isinstance(record, dict) or field_name not in record:
            raise EmoxError(f"{path}: sample {name!r} has no {field_name!r} field")
        value = record[field_name]
        if subset.idx2emo and not isinstance(value, str):
            try:
                value = subset.idx2emo[int(value)]
            except (TypeError, ValueError, IndexError):
                problem = f"label {value!r} is not an index of {subset.idx2emo}"
                raise EmoxError(f"{path}: sample {name!r}: {problem}") from None
        out[str(name)] = float(value) if subset.group == "dimension" else value
    return out


def _ground_truth_csv(subset: Subset, path: Path) -> dict[str, Any]:
    """A csv ground truth, read like ``ovmerdplus_dataset.py`` (pandas defaults: an empty cell is NaN; an empty
    open-vocabulary list becomes ``neutral``)."""
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise EmoxError(f"{path}: not a readable CSV ({' '.join(str(exc).split())})") from None
    wanted = {"dimension": ("val",), "discrete": ("emo", "label"), "ovlabel": ("openset",)}[subset.group]
    column = next((c for c in wanted if c in frame.columns), None)
    if "name" not in frame.columns or column is None:
        raise EmoxError(f"{path}: expected columns name and {'/'.join(wanted)}, found {', '.join(frame.columns)}")
    pairs = zip(frame["name"], frame[column], strict=True)
    if subset.group == "dimension":
        return {str(n): float(v) for n, v in pairs}
    if subset.group == "ovlabel":
        return {str(n): ", ".join(str(x) for x in string_to_list(v)) or "neutral" for n, v in pairs}
    return {str(n): str(v) for n, v in pairs}


# --------------------------------------------------------------------------------------------- the driver
def run(ctx: Context) -> list[Group]:
    jobs = _jobs(ctx)
    files = _ground_truth_files(ctx, list(jobs))
    jobs = {name: found for name, found in jobs.items() if name in files}
    wheels = None
    if any(SUBSETS[s].group != "dimension" for s in jobs):
        folder = need_option(ctx.option("wheels"), "--wheels", "folder with wheel1..5.xlsx, synonym.xlsx, format.csv")
        wheels = EmotionWheels.load(folder)
        for name in ("format.csv", "synonym.xlsx", *(f"{w}.xlsx" for w in WHEELS)):
            ctx.used("ground_truth", Path(folder) / name)
    groups = []
    for name, checkpoints in jobs.items():
        subset = SUBSETS[name]
        gt = load_ground_truth(subset, ctx.used("ground_truth", files[name]))
        if len(gt) != subset.size:
            ctx.warn(f"{name}: the ground truth has {len(gt)} samples; the official test set has {subset.size}")
        scored = [_score_checkpoint(ctx, subset, gt, ckpt, wheels) for ckpt in checkpoints]
        groups.append(Group(name, name, subset.main_metric, (Headline(subset.main_metric, name, name, name),), scored))
    return groups


def summary(groups: list[Group]) -> list[dict[str, Any]]:
    """The table's mean over the 9 sets (``np.mean`` of the best fractions x 100, as the official script)."""
    import numpy as np

    if len(groups) != len(SUBSETS):
        return []
    best = float(np.mean([g.best.raw["main"] for g in groups])) * 100
    last = float(np.mean([g.last.raw["main"] for g in groups])) * 100
    return [{"metric": "mean", "key": "mean", "ours": best, "ours_rounded": round(best, 2), "last": last,
             "paper": PAPER["mean"], "references": {"AffectGPT": AFFECTGPT["mean"]}}]


def _score_checkpoint(
    ctx: Context, subset: Subset, gt: dict[str, Any], ckpt: ckpts.Checkpoint, wheels: EmotionWheels | None
) -> Scored:
    preds = ctx.read_predictions(ckpt.path)
    if preds.kind == "jsonl" and preds.dataset:
        preds = preds.subset({n for n, d in preds.dataset.items() if _subset_name(d) == subset.name})
    missing = [n for n in gt if n not in preds.text]
    if missing:  # the official code raises KeyError here
        raise EmoxError(
            f"{preds.source}: {len(missing)} of {len(gt)} {subset.name} ground-truth samples have no prediction "
            f"(first: {missing[0]!r})"
        )
    opensets, sentiments = _label_lists(ctx, subset, preds, gt, ckpt)
    if ctx.option("normalize") == "lenient":
        opensets = {n: v.strip() for n, v in opensets.items()}
        sentiments = {n: v.strip() for n, v in sentiments.items()} if sentiments is not None else None
    raw = score_subset(subset, gt, opensets, wheels, sentiments)
    metrics = {k: 100 * v for k, v in raw.items() if isinstance(v, float) and k != "main"}
    details: dict[str, Any] = {}
    if "per_wheel" in raw:
        details["per_wheel"] = {
            wheel: {k: (v if k == "n" else 100 * v) for k, v in values.items()}
            for wheel, values in raw["per_wheel"].items()
        }
    if "n" in raw:
        details["n_nonzero_ground_truth"] = raw["n"]
    samples = [
        {"subset": subset.name, "checkpoint": ckpt.name, "id": n, "ground_truth": gt[n],
         "openset": opensets.get(n), "sentiment": (sentiments or {}).get(n)}
        for n in gt
    ]
    floats = {k: v for k, v in raw.items() if isinstance(v, float)}
    return Scored(ckpt, metrics, n_scored=len(gt), n_expected=len(gt), raw=floats, details=details, samples=samples)


def _label_lists(
    ctx: Context, subset: Subset, preds: readers.Predictions, gt: dict[str, Any], ckpt: ckpts.Checkpoint
) -> tuple[dict[str, str], dict[str, str] | None]:
    """The ``-openset`` strings (and sentiments for MSA sets): given, cached beside an official output, parsed
    by emox (``--label-source parsed``), or made by the LLM step on the free text (the official protocol)."""
    names = list(gt)
    if preds.kind == "sentiment":
        return {}, {n: preds.text[n] for n in names}
    sentiments: dict[str, str] | None = None
    llm_used = False
    if preds.kind == "openset":
        opensets = {n: preds.text[n] for n in names}
    elif preds.kind == "jsonl" and ctx.option("label_source") == "parsed":
        unlabeled = [n for n in names if n not in preds.labels and n not in preds.label]
        if unlabeled:
            raise EmoxError(f"{preds.source}: --label-source parsed: sample {unlabeled[0]!r} has no parsed label")
        opensets = {n: "[" + ", ".join(preds.labels.get(n) or [preds.label[n]]) + "]" for n in names}
        if subset.group == "dimension":
            sentiments = {n: preds.label.get(n, "").lower() for n in names}
    else:
        cached = readers.sibling(preds.source, readers.OPENSET_SUFFIX) if preds.kind == "reason" else None
        if cached is not None:
            opensets = ctx.read_predictions(cached).text
        else:
            llm_used = True
            opensets = extract_openset({n: preds.text[n] for n in names}, _extractor(ctx))
    if subset.group == "dimension" and sentiments is None:
        cached = readers.sibling(preds.source, readers.SENTIMENT_SUFFIX) if preds.kind != "jsonl" else None
        if cached is not None:
            sentiments = ctx.read_predictions(cached).text
        else:
            llm_used = True
            sentiments = openset_to_sentiment({n: opensets[n] for n in names}, _extractor(ctx))
    if llm_used and ctx.out_dir is not None:
        _write_intermediate(ctx.out_dir, subset, ckpt, opensets, sentiments)
    return opensets, sentiments


def _extractor(ctx: Context) -> ChatBackend:
    prompts = {"openset": OPENSET_PROMPT, "sentiment": SENTIMENT_PROMPT}
    return ctx.backend(EXTRACTOR_MODEL, EXTRACTOR_SETTINGS, prompts)


def _write_intermediate(
    out_dir: Path, subset: Subset, ckpt: ckpts.Checkpoint, opensets: dict[str, str], sentiments: dict[str, str] | None
) -> None:
    """The LLM step's outputs in the official ``filenames`` / ``fileitems`` layout (``-openset.npz``,
    ``-openset-sentiment.npz``), so the official scripts (or a later ``emox eval``) score the same lists."""
    import numpy as np

    stem = ckpt.name.removesuffix(".npz").removesuffix(".jsonl")
    folder = out_dir / "intermediate" / f"results-{subset.name}"
    for suffix, items in ((readers.OPENSET_SUFFIX, opensets), (readers.SENTIMENT_SUFFIX, sentiments)):
        if items:
            with atomic_open(folder / f"{stem}{suffix}", "wb") as handle:
                np.savez_compressed(handle, filenames=list(items), fileitems=list(items.values()))


def _subset_name(text: str) -> str | None:
    try:
        return get_subset(text).name
    except EmoxError:
        return None


def _jobs(ctx: Context) -> dict[str, list[ckpts.Checkpoint]]:
    """subset -> the checkpoint outputs to score, in the paper's column order."""
    path = ctx.predictions
    wanted = [get_subset(s).name for s in ctx.option("subset").split(",")] if ctx.option("subset") else None
    found: dict[str, list[Path]] = {}
    if path.is_dir():
        for results in sorted(path.glob("results-*")):
            name = _subset_name(results.name[len("results-") :])
            if name is not None and results.is_dir():
                found[name] = _checkpoint_files(_latest_run(results))
        if not found:  # one run folder (of one set, or of our JSONL files holding several sets)
            files = _checkpoint_files(path)
            for name in _sets_of(ctx, files, path, wanted):
                found[name] = files
    elif path.is_file():
        for name in _sets_of(ctx, [path], path, wanted):
            found[name] = [path]
    else:
        raise EmoxError(f"{path}: predictions file or folder not found")
    found = {s: f for s, f in found.items() if f and (wanted is None or s in wanted)}
    if not found:
        raise EmoxError(f"{path}: no checkpoint outputs for the requested MER-UniBench sets")
    return {
        name: ckpts.select([ckpts.Checkpoint(p, ckpts.checkpoint_number(p.name)) for p in found[name]],
                           ctx.checkpoints, ctx.skip, name)
        for name in SUBSETS
        if name in found
    }


def _latest_run(results: Path) -> Path:
    runs = sorted(d for d in results.iterdir() if d.is_dir() and _checkpoint_files(d))
    return ckpts.latest_run(runs, results) if runs else results


def _checkpoint_files(folder: Path) -> list[Path]:
    """A run folder's per-checkpoint outputs: the raw ``checkpoint_*.npz`` (or our JSONL), else the
    ``-openset.npz`` caches alone."""
    outputs = sorted(
        p for p in folder.glob("*") if p.suffix in (".npz", ".jsonl")
        and not p.name.endswith((readers.OPENSET_SUFFIX, readers.SENTIMENT_SUFFIX))
    )
    return outputs or sorted(folder.glob("*" + readers.OPENSET_SUFFIX))


def _sets_of(ctx: Context, files: list[Path], path: Path, wanted: list[str] | None) -> list[str]:
    """The sets a run holds: --subset, the ``dataset`` of our JSONL lines, a ``results-<set>`` folder name, or the
    name of the ground-truth package (``mer2023-dataset-process``)."""
    if wanted:
        return wanted
    names = {
        name
        for file in files
        if file.suffix == ".jsonl"
        for name in map(_subset_name, set(ctx.read_predictions(file).dataset.values()))
        if name is not None
    }
    if names:
        return sorted(names)
    for part in reversed(path.resolve().parts):
        if part.startswith("results-") and _subset_name(part[len("results-") :]):
            return [str(_subset_name(part[len("results-") :]))]
    if ctx.ground_truth is not None:  # a label package named like its set: mer2023-dataset-process/label-6way.npz
        for part in reversed(ctx.ground_truth.resolve().parts):
            name = _subset_name(part)
            if name is not None:
                return [name]
    raise EmoxError(f"{path}: cannot tell which MER-UniBench set this is; pass --subset")


def _ground_truth_files(ctx: Context, names: list[str]) -> dict[str, Path]:
    """Each set's label file under ``-g``. A whole-tree run scores the sets whose labels are found and says
    which were not; sets named by --subset must all be found."""
    root = ctx.need_ground_truth("a label file, or the folder holding the MER-UniBench packages")
    if root.is_file():
        if len(names) > 1:
            raise EmoxError(f"{root}: one label file for {len(names)} sets ({', '.join(names)}); pass --subset")
        return {names[0]: root}
    require_dir(root, "ground-truth folder")
    files = {name: path for name in names if (path := _find_label_file(SUBSETS[name], root, len(names) == 1))}
    missing = [n for n in names if n not in files]
    if missing and (ctx.option("subset") or not files):
        have = ", ".join(files) or "none"
        raise EmoxError(
            f"{root}: no label file for {', '.join(missing)} (label files found for: {have}); "
            "point -g at the folder holding the *-process packages, or pass --subset with the sets you have"
        )
    if missing:
        ctx.warn(
            f"{root}: no label file for {', '.join(missing)}: skipped (found: {', '.join(files)}); "
            f"pass --subset {','.join(files)} to score only these"
        )
    return files


def _find_label_file(subset: Subset, root: Path, only_set: bool) -> Path | None:
    """``root/<package named like the set>/<label file>`` up to three folders down; ``root/<label file>`` when
    ``root`` itself is named like the set or is the only set asked for. OV-MERD+'s files (``ovlabel.csv``,
    ``mer2025-ov.csv``) are found under any folder name."""
    names = {subset.name, *subset.aliases}
    unique_name = subset.group == "ovlabel"  # ovlabel.csv / mer2025-ov.csv name their set; label.npz does not
    label_files = OV_LABEL_FILES if unique_name else (subset.label_file,)
    for base in ground_truth_roots(root):
        for label_file in label_files:
            direct = base / label_file
            if direct.is_file() and (only_set or unique_name or _folder_key(base.name) in names):
                return direct
            for depth in range(1, GT_SEARCH_DEPTH + 1):
                for candidate in sorted(base.glob("*/" * depth + label_file)):
                    if unique_name or _folder_key(candidate.parent.name) in names:
                        return candidate
    return None


BENCHMARKS = (
    Benchmark(
        name="mer-unibench",
        title="MER-UniBench: 9 sets, hit rate / WAF / EW F-score (AffectGPT protocol)",
        protocol=PROTOCOL,
        unit="percent",
        tasks=("MER", "MSA", "OV-MER"),
        paper=PAPER,
        references={"AffectGPT": AFFECTGPT},
        run=run,
        summary=summary,
        ground_truth_help="a label file, or the folder holding the *-process packages",
        options=(
            Option("wheels", "--wheels", "Folder with wheel1..5.xlsx, synonym.xlsx, format.csv.", type=Path),
            Option("subset", "--subset", "Set(s), comma-separated (default: every set found)."),
            Option(
                "label_source",
                "--label-source",
                "Where a JSONL prediction's label list comes from: the LLM step on its text (official) or "
                "emox's own parse of it (label/labels fields; no LLM).",
                default="llm",
                choices=("llm", "parsed"),
                official="llm",
            ),
            NORMALIZE,
        ),
    ),
)
