"""AvaMERG built-in label tables: identical to the anchor JSON, and the default of ``emox eval avamerg``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emox_core.evaluation.benchmarks import avamerg

from .test_cli import _run


def test_builtin_equals_anchor_json_in_order(anchors_dir: Path):
    path = anchors_dir / "Nano-EmoX" / "derived" / "avamerg_eval_label_maps.json"
    if not path.is_file():
        pytest.skip(f"anchor file not present: {path}")
    official = avamerg.LabelMaps.load(path)
    builtin = avamerg.LabelMaps.builtin()
    assert builtin == official
    # dict equality ignores order; the keyword table is first-match-wins, so order matters everywhere
    assert list(builtin.projection.items()) == list(official.projection.items())
    assert list(builtin.coarse.items()) == list(official.coarse.items())
    assert builtin.keywords == official.keywords
    assert len(builtin.coarse) == 36


def test_builtin_is_fresh_copy_of_the_dicts():
    first = avamerg.LabelMaps.builtin()
    first.projection["worried"] = "changed"
    assert avamerg.LabelMaps.builtin().projection["worried"] == "anxious"


@pytest.fixture()
def avamerg_files(tmp_path) -> tuple[Path, Path]:
    conversations = [
        {
            "conversation_id": "00042",
            "speaker_profile": {"ID": 7},
            "turns": [
                {"turn_id": "0", "chain_of_empathy": {"speaker_emotion": "sad"}},
                {"turn_id": "2", "chain_of_empathy": {"speaker_emotion": "worried"}},
            ],
        },
        {
            "conversation_id": "00043",
            "speaker_profile": {"ID": 3},
            "turns": [{"turn_id": "1", "chain_of_empathy": {"speaker_emotion": "joyful"}}],
        },
    ]
    gt = tmp_path / "v_test.json"
    gt.write_text(json.dumps(conversations))
    preds = tmp_path / "p.jsonl"
    rows = [
        # worried -> anxious (projected once); the <think> pattern gives "anxious": correct and a hit
        {
            "id": "dia00042utt4_7",
            "task": "ERG",
            "prediction": "<think>the emotion of the speaker is anxious</think> ok",
        },
        # gt joyful -> happy (ED projection); keyword table, first match in official order: "thankful" ->
        # grateful (before joyful's "happy"): wrong, same coarse class
        {"id": "dia00043utt2_3", "task": "ERG", "prediction": "I am thankful and happy for you"},
    ]
    preds.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return gt, preds


def _preds_by_id(out: Path) -> dict[str, str]:
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines() if line.strip()]
    return {r["id"]: r["pred"] for r in rows}


def _eval(gt: Path, preds: Path, out: Path, capsys, *extra: str) -> tuple[int, dict, str]:
    code, stdout, stderr = _run(
        [
            "eval",
            "avamerg",
            "--predictions",
            str(preds),
            "--ground-truth",
            str(gt),
            "--out",
            str(out),
            "--json",
            *extra,
        ],
        capsys,
    )
    return code, (json.loads(stdout) if code == 0 else {}), stderr


def test_cli_avamerg_without_label_maps(avamerg_files, tmp_path, capsys):
    gt, preds = avamerg_files
    code, metrics, err = _eval(gt, preds, tmp_path / "o", capsys)
    assert code == 0, err
    assert metrics["accuracy"] == 50.0
    assert metrics["hit_rate"] == 100.0
    assert _preds_by_id(tmp_path / "o") == {"dia00042utt4_7": "anxious", "dia00043utt2_3": "grateful"}
    saved = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert "built-in" in json.dumps(saved)


def test_cli_label_maps_overrides_builtin(avamerg_files, tmp_path, capsys):
    gt, preds = avamerg_files
    builtin = avamerg.LabelMaps.builtin()
    # a custom table where "thankful" reads as joyful: the option must replace the built-in tables
    keywords = [["joyful", ["thankful"]], *[[e, list(w)] for e, w in builtin.keywords]]
    custom = {
        "ed_emotion_projection": {"effective_dict_in_python_order": [list(kv) for kv in builtin.projection.items()]},
        "emotion_keywords": {"effective_dict_in_python_order": keywords},
        "emotion_projection_map_empathe_mead": {
            "effective_dict_in_python_order": [list(kv) for kv in builtin.coarse.items()]
        },
    }
    path = tmp_path / "maps.json"
    path.write_text(json.dumps(custom))
    code, metrics, err = _eval(gt, preds, tmp_path / "o", capsys, "--label-maps", str(path))
    assert code == 0, err
    assert _preds_by_id(tmp_path / "o")["dia00043utt2_3"] == "joyful"
    assert str(path) in (tmp_path / "o" / "metrics.json").read_text()
