"""Emotion-wheel mapping and EW metrics: hand-checked cases for every quirk of the official code."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emox_core.evaluation.emotion_wheel import WHEELS, hit_rate, overlap_prf, string_to_list


# Expected lists: AffectGPT @ fffca794 toolkit/utils/functions.py string_to_list, run on each input. The bracket
# rule applies to the unstripped string, so LLM-style stray spaces keep a bracket on the label.
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (" [happy]", ["[happy"]),
        ("[happy] ", ["happy]"]),
        (" [ happy ] ", ["[ happy ]"]),
        ("[happy,sad]\n", ["happy", "sad]"]),
        ("[happy, sad]", ["happy", "sad"]),
        ("['Happy', \"Sad\"]", ["Happy", "Sad"]),
        ("['a'\", b]", ["a", "b"]),
        ("[[happy]]", ["[happy]"]),
        ("happy]", ["happy"]),
        ("]", []),
        ("[ ]", []),
        ("[]", []),
        ("", []),
        (float("nan"), []),
        (None, []),
        ("happy, , sad", ["happy", "sad"]),
        (["A ", "b"], ["A ", "b"]),
        (np.array(["x", "y"]), ["x", "y"]),
    ],
)
def test_string_to_list_is_the_official_function(value, expected):
    assert string_to_list(value) == expected


def test_string_to_list_where_the_official_function_raises():
    # official: IndexError on a lone "[" and TypeError on a number; emox reads them as [] / the number's text
    assert string_to_list("[") == []
    assert string_to_list(5) == ["5"]


# AffectGPT ew_metric.hitrate_metric_calculation on these dicts: [0.48, 0.39333333333333337]; per wheel
# (calculate_openset_onehot_hitrate): wheels 1-4 (0.5, 0.4166666666666667), wheel 5 (0.4, 0.3). The
# ground-truth candidates of mscore are the raw strings ("Happy" maps nowhere there).
STRAY = (
    {"a": "happy", "b": "sad", "c": "angry", "d": "worried", "e": "neutral", "f": "Happy", "g": "surprise"},
    {"a": " [happy]", "b": "[sad] ", "c": "[angry]", "d": "[Worried, sad]", "e": "[happy]", "f": "[joyful]\n",
     "g": "[surprised]"},
)


def test_hit_rate_with_stray_spaces_matches_official(wheels):
    out = hit_rate(*STRAY, wheels)
    assert (out["hit_rate"], out["mscore"]) == (0.48, 0.39333333333333337)
    assert [(out["per_wheel"][w]["hit_rate"], out["per_wheel"][w]["mscore"]) for w in WHEELS] == [
        (0.5, 0.4166666666666667)
    ] * 4 + [(0.4, 0.3)]


def test_overlap_with_stray_spaces_matches_official(wheels):
    # AffectGPT ew_metric.wheel_metric_calculation (level1 and level2): [0.3333333333333333, 0.5, 0.25]
    gt = {"a": "happy, sad", "b": " [angry]", "c": "neutral", "d": "sad", "e": "[worried] "}
    pred = {"a": "[happy]", "b": "[angry, sad]", "c": "[happy]", "d": " [sad]", "e": "[nervous, Anxious]"}
    for level in ("level1", "level2"):
        out = overlap_prf(gt, pred, wheels, level)
        assert (out["f"], out["precision"], out["recall"]) == (0.3333333333333333, 0.5, 0.25)


# metric-protocols.md §1.4: level-1 cluster per wheel ("" = dropped)
@pytest.mark.parametrize(
    ("label", "clusters"),
    [
        ("happy", ["happy", "happy", "joyful", "joy", "powerful"]),
        ("joy", ["happy", "happy", "joyful", "joy", "powerful"]),
        ("angry", ["mad", "angry", "mad", "anger", "mad"]),
        ("worried", ["scared", "fearful", "scared", "fear", "scared"]),
        ("sadness", ["sad"] * 5),
        ("surprise", ["surprised", "surprised", "powerful", "fear", ""]),
        ("disgust", ["disgusted", "disgusted", "", "disgust", ""]),
        ("fear", ["scared", "happy", "joyful", "genius", "joyful"]),  # alphabetical tie-break: fear -> brave
        ("neutral", [""] * 5),
        ("not-an-emotion", [""] * 5),
    ],
)
def test_wheel_mapping_order(wheels, label, clusters):
    assert [wheels.map_label(label, w) for w in WHEELS] == clusters


def test_table_sizes(wheels):
    assert len(wheels.format_map) == 7386
    assert len(wheels.raw_map) == 1255


def test_duplicated_wheel_words_take_last_occurrence(wheels):
    # wheel2 lists these under two level-1 clusters; the later row wins
    cluster = wheels.clusters[("wheel2", "level1")]
    assert cluster["overwhelmed"] == "bad"  # fearful/anxious first, bad/stressed last
    assert cluster["inferior"] == "sad"
    assert cluster["embarrassed"] == "sad"
    assert cluster["disappointed"] == "sad"


def test_level2_maps_level1_to_first_sorted_child(wheels):
    level2 = wheels.clusters[("wheel1", "level2")]
    assert all(level2[child] == child for child in ("hurt", "lonely") if child in level2)
    assert (
        level2["sad"]
        == sorted(
            k
            for k, v in level2.items()
            if v == k and k != "sad" and wheels.clusters[("wheel1", "level1")].get(k) == "sad"
        )[0]
    )


def test_hit_rate_skips_neutral_and_per_wheel_denominators(wheels):
    gt = {"a": "happy", "b": "neutral", "c": "surprise", "d": "angry"}
    pred = {"a": "[joyful, sad]", "b": "[happy]", "c": "[surprised]", "d": "[]"}
    out = hit_rate(gt, pred, wheels)
    # neutral never counts; surprise is dropped in wheel5 only
    assert [out["per_wheel"][w]["n"] for w in WHEELS] == [3, 3, 3, 3, 2]
    # over-prediction is not penalised: [joyful, sad] hits happy; an empty prediction is a miss
    assert out["per_wheel"]["wheel1"]["hit_rate"] == pytest.approx(2 / 3)
    assert out["per_wheel"]["wheel5"]["hit_rate"] == pytest.approx(1 / 2)
    assert out["hit_rate"] == pytest.approx((4 * 2 / 3 + 1 / 2) / 5)


def test_hit_rate_missing_prediction_raises_like_official(wheels):
    with pytest.raises(KeyError):
        hit_rate({"a": "happy"}, {}, wheels)


def test_overlap_prf_f_from_mean_precision_recall(wheels):
    gt = {"a": "happy, sad", "b": "angry", "c": "neutral", "d": "sad"}
    pred = {"a": "[happy]", "b": "[angry, sad]", "c": "[happy]", "d": "[]"}
    out = overlap_prf(gt, pred, wheels)
    w1 = out["per_wheel"]["wheel1"]
    assert w1["n"] == 3  # neutral-only ground truth skipped
    assert w1["precision"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert w1["recall"] == pytest.approx((0.5 + 1 + 0) / 3)
    p, r = w1["precision"], w1["recall"]
    assert w1["f"] == pytest.approx(2 * p * r / (p + r))


def test_overlap_prf_nan_when_nothing_overlaps(wheels):
    out = overlap_prf({"a": "happy"}, {"a": "[]"}, wheels)
    assert math.isnan(out["f"])


def test_real_openset_outputs_score_perfectly_against_themselves(wheels, affectgpt_output):
    """All 532 official OV-MERD+ outputs through the full mapping: identical sets give P = R = F = 1."""
    from emox_core.evaluation.readers import read_npz

    path = next(affectgpt_output.glob("results-ovmerdplus/*/*-openset.npz"))
    preds = read_npz(path).text
    assert len(preds) == 532
    out = overlap_prf(preds, preds, wheels)
    assert out["f"] == pytest.approx(1.0)
    assert 400 < out["per_wheel"]["wheel1"]["n"] <= 532


# Oracle values: the official AffectGPT wheel.py / ew_metric.py logic (fffca794) run on the same official
# intermediate outputs with the same deterministic ground truth (label i = labels[i % len(labels)]).
_SIX = ("neutral", "angry", "happy", "sad", "worried", "surprise")
_ORACLE_HIT_RATE = {
    "mer2023": (_SIX, 0.3259444231015495),
    "mer2024": (_SIX, 0.3335049755172958),
    "meld": (("anger", "joy", "sadness", "neutral", "disgust", "fear", "surprise"), 0.2864205273765484),
    "iemocapfour": (("happy", "sad", "neutral", "anger"), 0.2730397422126745),
}


@pytest.mark.parametrize("subset", sorted(_ORACLE_HIT_RATE))
def test_hit_rate_matches_official_code_on_official_outputs(wheels, affectgpt_output, subset):
    from emox_core.evaluation.readers import read_npz

    labels, expected = _ORACLE_HIT_RATE[subset]
    preds = read_npz(next(affectgpt_output.glob(f"results-{subset}/*/*-openset.npz"))).text
    gt = {n: labels[i % len(labels)] for i, n in enumerate(preds)}
    assert hit_rate(gt, preds, wheels)["hit_rate"] == expected


def test_ov_f_matches_official_code_on_official_outputs(wheels, affectgpt_output):
    from emox_core.evaluation.readers import read_npz

    preds = read_npz(next(affectgpt_output.glob("results-ovmerdplus/*/*-openset.npz"))).text
    names, items = list(preds), list(preds.values())
    gt = {n: items[(i + 1) % len(items)] for i, n in enumerate(names)}
    out = overlap_prf(gt, preds, wheels)
    expected = (0.33705909837576153, 0.33397417254874034, 0.34023197703691543)
    assert (out["f"], out["precision"], out["recall"]) == expected
