"""AvaMERG empathetic response generation: emotion Acc, coarse Hit Rate (8 classes), Dist-1/Dist-2 (percent).

Source: waHAHJIAHAO/Nano-EmoX @ b08f985 ``evaluation/eval_merg_exp.py`` (``extract_emotion_from_response``,
``calculate_emotion_accuracy``, ``calculate_hitrate``, ``evaluate_dist_n``, ``evaluate_avamerg_metrics``) and
``datasets/datasets/avamerg_dataset.py`` (``get_test_name2gt``); Dist-n as in RH-Lin/E3RG @ 6aa4f4a
``response_predict_turn_ola.py``.

The three label tables (``ed_emotion_projection``, ``emotion_keywords``,
``emotion_projection_map_empathe_mead``) are built in (:meth:`LabelMaps.builtin`, from
:mod:`emox_core.data.labels`); a JSON file in the layout of ``avamerg_eval_label_maps.json``
(``--label-maps``) overrides them.

Quirks kept: the ground truth is projected **once** (worried -> anxious, but anxious -> sad); the prediction
is not projected; keyword matching is by plain substring in table order ("made" contains "mad" -> angry);
Dist-n averages over **every** response of the file, also those of samples outside the ground truth.
Deviation (documented, ``--unmapped error`` restores the official failure): a label outside the 36-key coarse
map counts as a miss instead of raising KeyError.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emox_core.errors import EmoxError
from emox_core.evaluation.base import Benchmark, Context, Group, Headline, Option, Scored
from emox_core.evaluation.checkpoints import Checkpoint
from emox_core.evaluation.sources import find_ground_truth, require_overlap, score_runs
from emox_core.fileio import require_file

PROTOCOL = "nano-emox-b08f985/2"
_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL)
_THINK_EMOTION = re.compile(r"the emotion of the speaker is\s+(\w+)")
DIST_MODES = ("per-response", "corpus")
UNMAPPED_MODES = ("miss", "error")
HEADLINE = (
    Headline("accuracy", "Acc", "accuracy"),
    Headline("hit_rate", "Hit Rate", "hit_rate"),
    Headline("dist1", "Dist-1", "dist1"),
    Headline("dist2", "Dist-2", "dist2"),
)
PAPER = {"accuracy": 54.82, "hit_rate": 91.13, "dist1": 95.47, "dist2": 99.83}  # Nano-EmoX Table 5


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
    """The predicted emotion: the word after "the emotion of the speaker is" between the first ``<think>`` and
    the first ``</think>``, else the first keyword-table emotion with a keyword as a substring of the
    lower-cased response, else "unknown"."""
    if not response:
        return "unknown"
    if "<think>" in response and "</think>" in response:
        inner = response[response.find("<think>") + len("<think>") : response.find("</think>")].lower()
        match = _THINK_EMOTION.search(inner)
        if match:
            return match.group(1).strip()
    low = response.lower()
    for emotion, words in maps.keywords:
        if any(word in low for word in words):
            return emotion
    return "unknown"


def emotion_scores(
    name2gt: Mapping[str, str], name2response: Mapping[str, str], maps: LabelMaps, unmapped: str = "miss"
) -> dict[str, Any]:
    """Emotion Acc (projected gt == extracted pred) and Hit Rate (same coarse class), in percent, unrounded.

    ``name2gt`` holds the raw ``speaker_emotion``; it is projected here, once. ``unmapped="error"`` stops on a
    label outside the coarse map, as the official code does (KeyError); ``"miss"`` counts it as a miss.
    """
    if unmapped not in UNMAPPED_MODES:
        raise EmoxError(f"--unmapped {unmapped!r}: choose miss or error")
    names = [n for n in name2gt if n in name2response]
    if not names:
        raise EmoxError("no prediction id matches a ground-truth id")
    samples = []
    for name in names:
        gt = maps.projection.get(name2gt[name], name2gt[name])
        pred = extract_emotion(name2response[name], maps)
        coarse_gt, coarse_pred = maps.coarse.get(gt), maps.coarse.get(pred)
        if unmapped == "error" and (coarse_gt is None or coarse_pred is None):
            label = gt if coarse_gt is None else pred
            raise EmoxError(
                f"sample {name!r}: {label!r} is not in the coarse emotion map (the official code raises KeyError "
                "here; --unmapped miss counts it as a miss)"
            )
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
        "accuracy": (sum(s["correct"] for s in samples) / n) * 100,
        "hit_rate": (sum(s["hit"] for s in samples) / n) * 100,
        "n": n,
        "n_missing": len(name2gt) - n,
        "n_unmapped": sum(s["unmapped"] for s in samples),
        "samples": samples,
    }


def _ngrams(tokens: list[str], n: int) -> list[str]:
    return [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(responses: Iterable[str], n: int, mode: str = "per-response") -> float:
    """Dist-n in percent (unrounded) after removing <think> blocks and empty responses.

    ``per-response`` (Nano-EmoX, E3RG): ``np.average`` over responses of distinct/total n-grams of that response,
    x 100; 0.0 when no response has an n-gram. ``corpus`` (Li et al., 2016): distinct n-grams of all responses /
    total n-grams of all responses. Tokens are the lower-cased whitespace-split words (punctuation attached).
    """
    import numpy as np

    if mode not in DIST_MODES:
        raise EmoxError(f"--dist {mode!r}: choose per-response or corpus")
    cleaned = [t for t in (_THINK_BLOCK.sub("", r).strip() for r in responses) if t]
    grams = [g for g in (_ngrams(r.strip().lower().split(), n) for r in cleaned) if g]
    if not grams:
        return 0.0
    if mode == "corpus":
        flat = [g for per in grams for g in per]
        return len(set(flat)) / len(flat) * 100
    return float(np.average([len(set(g)) / len(g) for g in grams]) * 100)


def load_test_json(path: str | Path) -> tuple[dict[str, str], dict[str, str]]:
    """(name -> raw speaker_emotion, emox sample name -> official name) from the AvaMERG test json: one sample per
    conversation, its **last** turn, named ``dia{cid}utt{2*turn_id}_{speaker_profile.ID}``; ``emox prepare``
    names the same sample ``{cid}_{turn_id}``."""
    path = require_file(path, "AvaMERG test json")
    try:
        conversations = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise EmoxError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(conversations, list):
        raise EmoxError(f"{path}: expected a JSON array of conversations")
    name2gt: dict[str, str] = {}
    aliases: dict[str, str] = {}
    for conv in conversations:
        turns = (conv.get("turns") or []) if isinstance(conv, dict) else []
        if not turns or not isinstance(turns[-1], dict):
            continue
        last = turns[-1]
        emotion = (last.get("chain_of_empathy") or {}).get("speaker_emotion")
        if emotion is None:
            continue
        if isinstance(emotion, list):
            emotion = emotion[0] if emotion else ""
        speaker = (conv.get("speaker_profile") or {}).get("ID", "")
        cid = conv.get("conversation_id")
        try:
            turn_id = int(last.get("turn_id", 0))
        except (TypeError, ValueError):
            raise EmoxError(f"{path}: conversation {cid!r}: turn_id is not an integer") from None
        name = f"dia{cid}utt{turn_id + turn_id}_{speaker}"
        name2gt[name] = str(emotion)
        aliases[f"{cid}_{turn_id}"] = name
    if not name2gt:
        raise EmoxError(f"{path}: no conversation has a chain_of_empathy.speaker_emotion (a blind test file?)")
    return name2gt, aliases


def _official_names(texts: dict[str, str], aliases: dict[str, str], source: Path) -> dict[str, str]:
    """Predictions keyed by the official sample names (emox's ``{cid}_{turn_id}`` renamed)."""
    out: dict[str, str] = {}
    for name, text in texts.items():
        official = aliases.get(name, name)
        if official in out:
            raise EmoxError(f"{source}: two predictions for sample {official!r}")
        out[official] = text
    return out


def run(ctx: Context) -> list[Group]:
    if ctx.option("label_maps") is None:
        maps = LabelMaps.builtin()
        ctx.notes["label_maps"] = "built-in (emox_core.data.labels, transcribed from Nano-EmoX b08f985)"
    else:
        maps = LabelMaps.load(ctx.used("ground_truth", Path(ctx.option("label_maps"))))
        ctx.notes["label_maps"] = str(ctx.option("label_maps"))
    candidates = ("v_test_v5_0.json", "AvaMERG/v_test_v5_0.json", "data/AvaMERG/v_test_v5_0.json")
    gt, aliases = load_test_json(find_ground_truth(ctx, candidates, "AvaMERG v_test_v5_0.json"))

    def score(ckpt: Checkpoint) -> Scored:
        responses = _official_names(ctx.read_predictions(ckpt.path).text, aliases, ckpt.path)
        require_overlap(ckpt.path, responses, gt)
        scores = emotion_scores(gt, responses, maps, ctx.option("unmapped"))
        for sample in scores["samples"]:
            sample.update(checkpoint=ckpt.name, response=responses[sample["id"]])
        metrics = {
            "accuracy": scores["accuracy"],
            "hit_rate": scores["hit_rate"],
            "dist1": distinct_n(responses.values(), 1, ctx.option("dist")),
            "dist2": distinct_n(responses.values(), 2, ctx.option("dist")),
        }
        details = {"n_unmapped": scores["n_unmapped"], "n_for_dist": len(responses)}
        return Scored(ckpt, metrics, scores["n"], len(gt), details=details, samples=scores["samples"])

    return score_runs(ctx, ("avamerg",), "accuracy", HEADLINE, score)


BENCHMARKS = (
    Benchmark(
        name="avamerg",
        title="AvaMERG: empathetic responses, emotion Acc / Hit Rate / Dist-1 / Dist-2 (Nano-EmoX protocol)",
        protocol=PROTOCOL,
        unit="percent",
        tasks=("ERG",),
        paper=PAPER,
        run=run,
        ground_truth_help="v_test_v5_0.json (the AvaMERG test json with chain_of_empathy)",
        options=(
            Option(
                "dist",
                "--dist",
                "Dist-n: per-response (official: Nano-EmoX, E3RG) or corpus (Li et al., Empatheia).",
                default="per-response",
                choices=DIST_MODES,
                official="per-response",
            ),
            Option(
                "unmapped",
                "--unmapped",
                "Hit Rate of a label outside the coarse map: miss (emox) or error (official: KeyError).",
                default="miss",
                choices=UNMAPPED_MODES,
                official="error",
            ),
            Option(
                "label_maps",
                "--label-maps",
                "AvaMERG label tables as JSON, replacing the built-in official ones.",
                type=Path,
            ),
        ),
    ),
)
