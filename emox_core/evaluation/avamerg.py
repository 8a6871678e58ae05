"""AvaMERG empathetic response generation: emotion Acc, coarse Hit Rate (8 classes), Dist-1/Dist-2.

Source: waHAHJIAHAO/Nano-EmoX @ b08f985 ``evaluation/eval_merg_exp.py`` (``extract_emotion_from_response``,
``evaluate_avamerg_metrics``) and ``datasets/datasets/avamerg_dataset.py`` (``get_test_name2gt``); Dist-n as
in RH-Lin/E3RG @ 6aa4f4a ``response_predict_turn_ola.py``.

The three label tables (``ed_emotion_projection``, ``emotion_keywords``,
``emotion_projection_map_empathe_mead``) are built in (:meth:`LabelMaps.builtin`, from
:mod:`emox_core.data.labels`); a JSON file in the layout of ``avamerg_eval_label_maps.json``
(``--label-maps``) overrides them.

Quirks kept: the ground truth is projected **once** (worried -> anxious, but anxious -> sad); the prediction
is not projected; keyword matching is by plain substring in table order ("made" contains "mad" -> angry).
Deviation (documented): a label outside the 36-key coarse map counts as a miss instead of raising KeyError.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emox_core.errors import EmoxError
from emox_core.fileio import require_file

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL)
_THINK_EMOTION = re.compile(r"the emotion of the speaker is\s+(\w+)")
DIST_MODES = ("per-response", "corpus")


@dataclass(frozen=True)
class LabelMaps:
    """The official tables, in their source order."""

    projection: dict[str, str]
    keywords: tuple[tuple[str, tuple[str, ...]], ...]
    coarse: dict[str, str]

    @staticmethod
    def builtin() -> LabelMaps:
        """The official tables as transcribed in :mod:`emox_core.data.labels` (the default)."""
        from emox_core.data.labels import (
            AVAMERG_ED_PROJECTION,
            AVAMERG_EMOTION_KEYWORDS,
            AVAMERG_MEAD8_PROJECTION,
        )

        return LabelMaps(
            projection=dict(AVAMERG_ED_PROJECTION),
            keywords=AVAMERG_EMOTION_KEYWORDS,
            coarse=dict(AVAMERG_MEAD8_PROJECTION),
        )

    @staticmethod
    def load(path: str | Path) -> LabelMaps:
        """The tables from a JSON file in the layout of ``avamerg_eval_label_maps.json`` (each table as
        ``{"effective_dict_in_python_order": [[key, value], ...]}``)."""
        path = require_file(path, "AvaMERG label maps (--label-maps)")
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            table = {
                key: raw[key]["effective_dict_in_python_order"]
                for key in (
                    "ed_emotion_projection",
                    "emotion_keywords",
                    "emotion_projection_map_empathe_mead",
                )
            }
        except (ValueError, KeyError, TypeError) as exc:
            raise EmoxError(f"{path}: not an AvaMERG label-map JSON ({exc})") from None
        return LabelMaps(
            projection=dict(table["ed_emotion_projection"]),
            keywords=tuple((emo, tuple(words)) for emo, words in table["emotion_keywords"]),
            coarse=dict(table["emotion_projection_map_empathe_mead"]),
        )


def extract_emotion(response: str, maps: LabelMaps) -> str:
    """The predicted emotion: the word after "the emotion of the speaker is" inside <think>, else the first
    keyword-table emotion with a keyword as a substring of the lower-cased response, else "unknown"."""
    if "<think>" in response and "</think>" in response:
        inner = response.split("<think>", 1)[1].split("</think>", 1)[0].lower()
        match = _THINK_EMOTION.search(inner)
        if match:
            return match.group(1)
    low = response.lower()
    for emotion, words in maps.keywords:
        if any(word in low for word in words):
            return emotion
    return "unknown"


def emotion_scores(name2gt: Mapping[str, str], name2response: Mapping[str, str], maps: LabelMaps) -> dict[str, Any]:
    """Emotion Acc (projected gt == extracted pred) and Hit Rate (same coarse class), in percent, 2 decimals.

    ``name2gt`` holds the raw ``speaker_emotion``; it is projected here, once.
    """
    names = [n for n in name2gt if n in name2response]
    if not names:
        raise EmoxError("no prediction id matches a ground-truth id")
    samples = []
    for name in names:
        gt = maps.projection.get(name2gt[name], name2gt[name])
        pred = extract_emotion(name2response[name], maps)
        coarse_gt, coarse_pred = maps.coarse.get(gt), maps.coarse.get(pred)
        samples.append(
            {
                "id": name,
                "label": gt,
                "pred": pred,
                "correct": gt == pred,
                "hit": coarse_gt is not None and coarse_gt == coarse_pred,
                "unmapped": coarse_gt is None or coarse_pred is None,
            }
        )
    n = len(samples)
    return {
        "accuracy": round(100 * sum(s["correct"] for s in samples) / n, 2),
        "hit_rate": round(100 * sum(s["hit"] for s in samples) / n, 2),
        "n": n,
        "n_missing": len(name2gt) - n,
        "n_unmapped": sum(s["unmapped"] for s in samples),
        "samples": samples,
    }


def _ngrams(tokens: list[str], n: int) -> list[str]:
    return [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(responses: Iterable[str], n: int, mode: str = "per-response") -> float:
    """Dist-n in percent (2 decimals) after removing <think> blocks and empty responses.

    ``per-response`` (Nano-EmoX, E3RG): mean over responses of distinct/total n-grams of that response.
    ``corpus`` (Li et al., 2016): distinct n-grams of all responses / total n-grams of all responses.
    Tokens are the lower-cased whitespace-split words (punctuation stays attached).
    """
    if mode not in DIST_MODES:
        raise EmoxError(f"--dist {mode!r}: choose per-response or corpus")
    cleaned = [t for t in (_THINK_BLOCK.sub("", r).strip() for r in responses) if t]
    grams = [g for g in (_ngrams(r.lower().strip().split(), n) for r in cleaned) if g]
    if not grams:
        return float("nan")
    if mode == "corpus":
        flat = [g for per in grams for g in per]
        return round(100 * len(set(flat)) / len(flat), 2)
    return round(100 * sum(len(set(g)) / len(g) for g in grams) / len(grams), 2)


def load_test_json(path: str | Path) -> dict[str, str]:
    """name -> raw speaker_emotion, from the AvaMERG test json (one sample per
    conversation: its **last** turn, named ``dia{cid}utt{2*turn_id}_{speaker_profile.ID}``)."""
    path = require_file(path, "AvaMERG test json")
    try:
        conversations = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise EmoxError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(conversations, list):
        raise EmoxError(f"{path}: expected a JSON array of conversations")
    name2gt: dict[str, str] = {}
    for conv in conversations:
        turns = (conv.get("turns") or []) if isinstance(conv, dict) else []
        if not turns:
            continue
        last = turns[-1]
        emotion = (last.get("chain_of_empathy") or {}).get("speaker_emotion")
        if emotion is None:
            continue
        if isinstance(emotion, list):
            emotion = emotion[0] if emotion else ""
        speaker = (conv.get("speaker_profile") or {}).get("ID", "")
        name = f"dia{conv.get('conversation_id')}utt{2 * int(last.get('turn_id', 0))}_{speaker}"
        name2gt[name] = str(emotion)
    if not name2gt:
        raise EmoxError(f"{path}: no conversation has a chain_of_empathy.speaker_emotion (a blind test file?)")
    return name2gt
