"""MER-UniBench (AffectGPT, ICML 2025): the 9 test sets, their ground truth, the LLM step and the scores.

Sources: zeroQiaoba/AffectGPT @ fffca794 ``AffectGPT/evaluation.py`` (``main_zeroshot_scores``,
``calculate_discrete_zeroshot``, ``calculate_dimension_zeroshot``), ``AffectGPT/toolkit/utils/qwen.py``
(prompts, ``func_postprocess_qwen``), ``AffectGPT/my_affectgpt/datasets/datasets/*.py`` (label files,
idx2emo); Nano-EmoX @ b08f985 ``evaluation-scoreonly.py`` / ``evaluation/ew_metric.py`` (same protocol).

Pipeline: free text --(prompt A)--> open-vocabulary list ("-openset") --(prompt B, sentiment sets only)-->
positive/negative/neutral ("-openset-sentiment") --> hit rate / WAF / EW-F. The LLM step is skipped when a
prediction already is a label list.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emox_core.errors import EmoxError
from emox_core.evaluation.emotion_wheel import EmotionWheels, hit_rate, overlap_prf, string_to_list
from emox_core.evaluation.judge import ChatBackend, Settings


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
    """Look a subset up by name or alias ("MER2023", "CMU-MOSI", "OV-MERD+", ...)."""
    key = re.sub(r"[^a-z0-9+]", "", name.lower())
    for subset in SUBSETS.values():
        if key == subset.name or key in subset.aliases:
            return subset
    raise EmoxError(f"--subset {name!r}: unknown MER-UniBench set; choose from {', '.join(SUBSETS)}")


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
    replies = backend.complete([OPENSET_PROMPT.format(reason=name2reason[n]) for n in names])
    return {n: postprocess_qwen(r) for n, r in zip(names, replies, strict=True)}


def openset_to_sentiment(name2openset: Mapping[str, str], backend: ChatBackend) -> dict[str, str]:
    """ "[a, b]" -> positive/negative/neutral with prompt B."""
    names = list(name2openset)
    replies = backend.complete([SENTIMENT_PROMPT.format(reason=name2openset[n]) for n in names])
    return {n: postprocess_qwen(r) for n, r in zip(names, replies, strict=True)}


def sentiment_scores(name2val: Mapping[str, float], name2sentiment: Mapping[str, str]) -> dict[str, Any]:
    """WAF and accuracy on the binarised sentiment (``calculate_dimension_zeroshot``); fractions in [0, 1].

    Ground truth exactly 0 is dropped; the prediction string "positive" -> +1, "negative" -> -1, anything else
    (neutral, "mixed", "positive.") -> 0, which counts as negative after binarising with ``> 0``.
    """
    from sklearn.metrics import accuracy_score, f1_score

    y_true, y_pred = [], []
    for name, val in name2val.items():
        if float(val) == 0:
            continue
        y_true.append(float(val) > 0)
        y_pred.append(SENTIMENT_VALUE.get(name2sentiment[name], 0.0) > 0)
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
    """The official metrics of one subset (fractions); ``main`` holds the number the tables report."""
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


def best_checkpoint(scores: Mapping[str, Mapping[str, Any]]) -> str:
    """``np.argmax`` over checkpoints of the main metric: the first maximum in the given order wins."""
    if not scores:
        raise EmoxError("no checkpoint outputs to choose from")
    names = list(scores)
    best = names[0]
    for name in names[1:]:
        if scores[name]["main"] > scores[best]["main"]:
            best = name
    return best


def load_ground_truth(subset: Subset, path: str | Path) -> dict[str, Any]:
    """name -> label string (discrete), valence (dimension) or open-vocabulary string (OV-MERD+).

    ``path`` is the label file as distributed (``label-6way.npz``, ``label.npz``, ``label_4way.npz``,
    ``ovlabel.csv``) or a CSV with ``name`` and one of ``emo``/``label``/``val``/``openset``.
    """
    import numpy as np

    path = Path(path)
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=True) as archive:
                if subset.corpus_key not in archive.files:
                    raise EmoxError(f"{path}: no key {subset.corpus_key!r} (has {', '.join(archive.files)})")
                corpus = archive[subset.corpus_key].tolist()
        except (OSError, ValueError) as exc:
            raise EmoxError(f"{path}: not a readable npz ({exc})") from None
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
                value = subset.idx2emo[int(value)]
            out[str(name)] = float(value) if subset.group == "dimension" else value
        return out
    return _ground_truth_csv(subset, path)


def _ground_truth_csv(subset: Subset, path: Path) -> dict[str, Any]:
    import pandas as pd

    try:
        frame = pd.read_csv(path, keep_default_na=False)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise EmoxError(f"{path}: not a readable CSV ({exc})") from None
    wanted = {"dimension": ("val",), "discrete": ("emo", "label"), "ovlabel": ("openset",)}[subset.group]
    column = next((c for c in wanted if c in frame.columns), None)
    if "name" not in frame.columns or column is None:
        raise EmoxError(f"{path}: expected columns name and {'/'.join(wanted)}, found {', '.join(frame.columns)}")
    if subset.group == "dimension":
        return {str(n): float(v) for n, v in zip(frame["name"], frame[column], strict=True)}
    if subset.group == "ovlabel":  # mer2025-ov / ovlabel.csv: an empty list means neutral
        return {
            str(n): ", ".join(string_to_list(v) or ["neutral"])
            for n, v in zip(frame["name"], frame[column], strict=True)
        }
    return {str(n): str(v) for n, v in zip(frame["name"], frame[column], strict=True)}
