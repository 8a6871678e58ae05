"""MIntRec / MIntRec2.0 (exact vs MMLA matching) and AvaMERG (Acc, Hit Rate, Dist-n)."""

from __future__ import annotations

import json

import pytest
from sklearn.metrics import f1_score

from emox_core.evaluation import avamerg, mintrec
from emox_core.evaluation.readers import read_intent_annotations
from emox_core.evaluation.run import EvalOptions, evaluate_benchmark


def test_intent_exact_match_is_case_and_punctuation_sensitive():
    gt = {"a": "Inform", "b": "Ask for help", "c": "Praise", "d": "Inform"}
    pred = {"a": "Inform", "b": "ask for help", "c": "Praise.", "d": "Inform"}
    out = mintrec.intent_scores(gt, pred, mintrec.LABELS["mintrec"])
    assert out["accuracy"] == 50.0
    assert out["wf1"] == round(100 * f1_score(list(gt.values()), list(pred.values()), average="weighted"), 2)
    lenient = mintrec.intent_scores(gt, pred, mintrec.LABELS["mintrec"], mode="lenient")
    assert lenient["accuracy"] == 100.0


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("The intent is Complain.", "complain"),
        ("nothing", "unknown"),
        ("praise and thank", "multi"),
        ("asking for opinions", "asking for opinions"),
    ],
)
def test_mmla_match(text, label):
    assert mintrec.mmla_match(text, mintrec.LABELS["mintrec2"]) == label


def test_mintrec_annotation_json_end_to_end(anchors_dir, tmp_path):
    ann = anchors_dir / "Nano-EmoX" / "data" / "MIntRec" / "test_MIntRec_ann.json"
    gt = read_intent_annotations(ann)
    assert len(gt) == 445
    preds = tmp_path / "p.jsonl"
    names = list(gt)
    preds.write_text(
        "".join(
            json.dumps({"id": n, "task": "MIR", "prediction": gt[n] if i % 2 else "Greet"}) + "\n"
            for i, n in enumerate(names)
        )
    )
    result = evaluate_benchmark("mintrec", EvalOptions(predictions=preds, ground_truth=ann, out_dir=tmp_path / "o"))
    expected = sum(1 for i, n in enumerate(names) if i % 2 or gt[n] == "Greet") / len(names)
    assert result["metrics"]["accuracy"] == round(100 * expected, 2)
    assert [r["paper"] for r in result["rows"]] == [None, 58.17, None]


@pytest.fixture(scope="module")
def maps(label_maps_path):
    return avamerg.LabelMaps.load(label_maps_path)


@pytest.mark.parametrize(
    ("response", "emotion"),
    [
        ("<think>Secondly, the emotion of the speaker is Anxious\nThirdly</think>\n ok", "anxious"),
        ("<think>no pattern here</think> I'm so glad you are happy", "joyful"),
        ("I made it home", "angry"),  # substring quirk: "made" contains "mad"
        ("I am thankful, I hope so", "grateful"),  # table order: grateful before hopeful
        ("Sure.", "unknown"),
    ],
)
def test_extract_emotion(maps, response, emotion):
    assert avamerg.extract_emotion(response, maps) == emotion


def test_emotion_acc_and_hit_rate_quirks(maps):
    gt = {"a": "worried", "b": "anxious", "c": "weary", "d": "embarrassed"}
    think = "<think>the emotion of the speaker is {}</think> reply"
    pred = {
        "a": think.format("anxious"),
        "b": think.format("anxious"),
        "c": think.format("tired"),
        "d": think.format("disgusted"),
    }
    out = avamerg.emotion_scores(gt, pred, maps)
    # worried -> anxious (hit); anxious -> sad (projected once: a correct "anxious" is wrong, same coarse
    # class)
    assert [s["label"] for s in out["samples"]] == ["anxious", "sad", "tired", "sad"]
    assert [s["correct"] for s in out["samples"]] == [True, False, True, False]
    # "tired" is outside the coarse map: a miss, not a crash; "embarrassed" -> sad via ED projection
    assert [s["hit"] for s in out["samples"]] == [True, True, False, False]
    assert out["n_unmapped"] == 1
    assert out["accuracy"] == 50.0 and out["hit_rate"] == 50.0


def test_coarse_map_duplicate_key_last_wins(maps):
    assert maps.coarse["embarrassed"] == "disgusted"


def test_distinct_n():
    responses = ["<think>a a a</think> The cat the cat", "", "<think>x</think>", "Hi"]
    # per response: "the cat the cat" -> 2/4 unigrams, 2/3 bigrams; "hi" -> 1/1 unigram, no bigram (skipped)
    assert avamerg.distinct_n(responses, 1) == round(100 * (0.5 + 1) / 2, 2)
    assert avamerg.distinct_n(responses, 2) == round(100 * 2 / 3, 2)
    assert avamerg.distinct_n(responses, 1, "corpus") == round(100 * 3 / 5, 2)


def test_avamerg_test_json_last_turn(tmp_path, maps):
    conv = {
        "conversation_id": "00042",
        "speaker_profile": {"ID": 7},
        "turns": [
            {"turn_id": "0", "chain_of_empathy": {"speaker_emotion": "sad"}},
            {"turn_id": "2", "chain_of_empathy": {"speaker_emotion": "worried"}, "response": "gold"},
        ],
    }
    path = tmp_path / "v_test.json"
    path.write_text(json.dumps([conv, {"conversation_id": "00043", "turns": []}]))
    assert avamerg.load_test_json(path) == {"dia00042utt4_7": "worried"}


def test_model_then_score_calls_predict_manifest(anchors_dir, tmp_path, monkeypatch):
    """``emox eval --model CKPT --data DIR``: generation is delegated to emox infer's predict_manifest."""
    import sys
    import types

    from emox_core.evaluation.run import predict_then_evaluate

    ann = anchors_dir / "Nano-EmoX" / "data" / "MIntRec" / "test_MIntRec_ann.json"
    gt = read_intent_annotations(ann)
    calls = []

    def fake_predict_manifest(model, manifest, out_path, batch_size):
        calls.append((model, manifest, batch_size))
        with open(out_path, "w") as handle:
            handle.writelines(json.dumps({"id": n, "task": "MIR", "prediction": lab}) + "\n" for n, lab in gt.items())

    module = sys.modules.get("emox_core.inference") or types.ModuleType("emox_core.inference")
    monkeypatch.setitem(sys.modules, "emox_core.inference", module)
    monkeypatch.setattr(module, "predict_manifest", fake_predict_manifest, raising=False)
    options = EvalOptions(ground_truth=ann, out_dir=tmp_path / "o")
    result = predict_then_evaluate("mintrec", "ckpt-dir", tmp_path / "manifest.jsonl", options, batch_size=4)
    assert calls == [("ckpt-dir", tmp_path / "manifest.jsonl", 4)]
    assert result["metrics"]["accuracy"] == 100.0
