"""MIntRec / MIntRec2.0 (raw-string exact match, MMLA option) and AvaMERG (extraction, Acc, Hit Rate, Dist-n).

Expected values marked "official" were computed by running Nano-EmoX @ b08f985 ``evaluation/eval_merg_exp.py``
unchanged on the same inputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sklearn.metrics import f1_score

from emox_core.errors import EmoxError
from emox_core.evaluation.benchmarks import avamerg, mintrec
from emox_core.evaluation.run import evaluate_benchmark

INTENT_GT = {"a": "Complain", "b": "Inform", "c": "Praise", "d": "Inform", "e": "Ask for help"}
INTENT_PRED = {"a": "Complain\n", "b": " Inform", "c": "Praise", "d": "Inform", "e": "ask for help", "zz": "Greet"}


def test_intent_exact_match_compares_raw_strings():
    # official evaluate_mintrec_metrics: {'Intent_Accuracy': 40.0, 'Weighted_F1': 46.67, 'Weighted_Precision': 60.0}
    out = mintrec.intent_scores(INTENT_GT, INTENT_PRED, mintrec.LABELS["mintrec"])
    assert out["accuracy"] == 40.0 and out["n"] == 5
    assert round(out["wf1"], 2) == 46.67 and round(out["wp"], 2) == 60.0
    names = list(INTENT_GT)
    assert out["wf1"] == f1_score([INTENT_GT[n] for n in names], [INTENT_PRED[n] for n in names],
                                  average="weighted") * 100  # unrounded: the official formula
    lenient = mintrec.intent_scores(INTENT_GT, INTENT_PRED, mintrec.LABELS["mintrec"], mode="lenient")
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


def _intent_files(tmp_path: Path) -> tuple[Path, Path]:
    ann = tmp_path / "MIntRec" / "test_MIntRec_ann.json"
    ann.parent.mkdir()
    ann.write_text(json.dumps([
        {"messages": [{"content": "q"}, {"content": label}], "videos": [f"/home/lab/raw/{name}.mp4"]}
        for name, label in INTENT_GT.items()
    ]))
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(
        json.dumps({"id": f"mintrec:{name}:MIR", "dataset": "mintrec", "task": "MIR", "prediction": text}) + "\n"
        for name, text in INTENT_PRED.items()
    ))
    return ann, preds


def test_mintrec_reads_our_jsonl_ids_and_normalize_option(tmp_path):
    ann, preds = _intent_files(tmp_path)
    result = evaluate_benchmark("mintrec", preds, tmp_path, out_dir=tmp_path / "o")  # -g: the folder above
    assert result["metrics"]["accuracy"] == 40.0 and result["metrics"]["n"] == 5
    assert [r["paper"] for r in result["rows"]] == [None, 58.17, None]
    assert result["settings"]["deviations"] == {}
    lenient = evaluate_benchmark("mintrec", preds, ann, normalize="lenient")
    assert lenient["metrics"]["accuracy"] == 80.0  # "Complain\n" and " Inform" now right; "ask for help" not
    assert lenient["settings"]["deviations"] == {"--normalize": {"value": "lenient", "official": "official"}}
    with pytest.raises(EmoxError, match="--wheels: not an option of mintrec"):
        evaluate_benchmark("mintrec", preds, ann, wheels=tmp_path)


def test_mintrec_partial_coverage_is_a_warning(tmp_path):
    ann, preds = _intent_files(tmp_path)
    preds.write_text(json.dumps({"id": "a", "prediction": "Complain"}) + "\n")
    result = evaluate_benchmark("mintrec", preds, ann)
    assert result["metrics"]["n"] == 1 and result["metrics"]["n_expected"] == 5
    assert result["warnings"] == ["p.jsonl: scored 1 of 5 ground-truth samples (20.0% coverage)"]


def test_mintrec_canonical_tsv_ground_truth(tmp_path):
    (tmp_path / "test.tsv").write_text("season\tepisode\tclip\ttext\tlabel\nS01\tE02\t3\thi\tGreet\n")
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps({"id": "S01_E02_3", "prediction": "Greet"}) + "\n")
    assert evaluate_benchmark("mintrec", preds, tmp_path / "test.tsv")["metrics"]["accuracy"] == 100.0


@pytest.fixture(scope="module")
def maps(label_maps_path):
    return avamerg.LabelMaps.load(label_maps_path)


# official extract_emotion_from_response on each response
@pytest.mark.parametrize(
    ("response", "emotion"),
    [
        ("<think>Secondly, the emotion of the speaker is Anxious\nThirdly</think>\n ok", "anxious"),
        ("</think> x <think>the emotion of the speaker is proud</think> so glad", "unknown"),
        ("<think>no pattern here</think> I'm so glad you are happy", "joyful"),
        ("<think>the emotion of the speaker is   lonely.</think>", "lonely"),
        ("I made it home", "angry"),  # substring quirk: "made" contains "mad"
        ("I am thankful, I hope so", "grateful"),  # table order: grateful before hopeful
        ("Sure.", "unknown"),
        ("", "unknown"),
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
    # worried -> anxious (hit); anxious -> sad (projected once: a correct "anxious" is wrong, same coarse class)
    assert [s["label"] for s in out["samples"]] == ["anxious", "sad", "tired", "sad"]
    assert [s["correct"] for s in out["samples"]] == [True, False, True, False]
    # "tired" is outside the coarse map: a miss, not a crash; "embarrassed" -> sad via ED projection
    assert [s["hit"] for s in out["samples"]] == [True, True, False, False]
    assert out["n_unmapped"] == 1
    assert out["accuracy"] == 50.0 and out["hit_rate"] == 50.0
    with pytest.raises(EmoxError, match="'tired' is not in the coarse emotion map"):
        avamerg.emotion_scores(gt, pred, maps, unmapped="error")  # the official KeyError, as one line


def test_coarse_map_duplicate_key_last_wins(maps):
    assert maps.coarse["embarrassed"] == "disgusted"


def test_distinct_n():
    responses = ["<think>a a a</think> The cat the cat", "", "<think>x</think>", "Hi"]
    # official evaluate_dist_n on the cleaned ["the cat the cat", "hi"]: 0.75 and 0.6666666666666666
    assert avamerg.distinct_n(responses, 1) == 0.75 * 100
    assert avamerg.distinct_n(responses, 2) == 0.6666666666666666 * 100
    assert avamerg.distinct_n(responses, 1, "corpus") == 3 / 5 * 100
    assert avamerg.distinct_n(["", "<think>x</think>"], 1) == 0.0  # official: no response with an n-gram -> 0.0


def test_avamerg_test_json_last_turn_and_emox_names(tmp_path):
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
    assert avamerg.load_test_json(path) == ({"dia00042utt4_7": "worried"}, {"00042_2": "dia00042utt4_7"})


def test_model_then_score_calls_predict_manifest(tmp_path, monkeypatch):
    """``emox eval --model CKPT --data MANIFEST``: generation is delegated to emox infer's predict_manifest, and
    with --checkpoints every selected checkpoint-N of a training folder is run into its own file."""
    import emox_core.inference
    from emox_core.evaluation.run import predict_then_evaluate

    ann, _ = _intent_files(tmp_path)
    calls = []

    def fake_predict_manifest(model, manifest, out_path, batch_size):
        calls.append((Path(model).name, Path(out_path).name, batch_size))
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
        Path(out_path).write_text("".join(json.dumps({"id": n, "prediction": v}) + "\n" for n, v in INTENT_GT.items()))

    monkeypatch.setattr(emox_core.inference, "predict_manifest", fake_predict_manifest)
    result = predict_then_evaluate("mintrec", "ckpt-dir", tmp_path / "m.jsonl", ground_truth=ann,
                                   out_dir=tmp_path / "o", batch_size=4)
    assert calls == [("ckpt-dir", "raw-predictions.jsonl", 4)] and result["metrics"]["accuracy"] == 100.0
    run = tmp_path / "run"
    for step in (10, 20, 25, 30):
        (run / f"checkpoint-{step}").mkdir(parents=True)
    calls.clear()
    result = predict_then_evaluate("mintrec", run, tmp_path / "m.jsonl", ground_truth=ann, out_dir=tmp_path / "o2",
                                   checkpoints="10-30", skip=10)
    assert calls == [("checkpoint-10", "checkpoint-10.jsonl", 8), ("checkpoint-20", "checkpoint-20.jsonl", 8),
                     ("checkpoint-30", "checkpoint-30.jsonl", 8)]
    assert result["rows"][0]["best_of"] == 3
