"""``emox prepare X`` -> ``emox infer --manifest`` -> ``emox eval X``, exactly as docs/evaluation.md writes it, for
every benchmark, on the tiny preset (a saved random model of the real architecture) and real clips; no file is
edited between the steps. The judged benchmarks use the loopback OpenAI-compatible server. ``model_dir`` (the
tiny preset saved as a checkpoint) comes from the inference tests' fixtures (see conftest.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from .fake_openai import FakeOpenAI
from .test_cli import _run


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from emox_core.media.synthesize import synthetic_clip

    return synthetic_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", duration=1.0, size=(32, 32))


def _clips(clip: Path, folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(clip, folder / f"{name}.mp4")


def _prepare_and_infer(capsys, dataset: str, raw: Path, work: Path, model: Path) -> tuple[Path, Path]:
    """``emox prepare DATASET RAW OUT`` then ``emox infer --manifest OUT/manifest-test.jsonl`` (appending to one
    predictions file); returns (prepared folder, predictions file)."""
    prepared, preds = work / "prepared" / dataset, work / "preds.jsonl"
    code, _, err = _run(["prepare", dataset, str(raw), str(prepared)], capsys)
    assert code == 0, err
    code, _, err = _run(["infer", "--manifest", str(prepared / "manifest-test.jsonl"), "--model", str(model),
                         "--out", str(preds), "--max-new-tokens", "3", "--no-progress"], capsys)
    assert code == 0, err
    return prepared, preds


def _eval(capsys, *argv: str) -> dict:
    code, _, err = _run(["eval", *argv], capsys)
    assert code == 0, err
    out = Path(argv[argv.index("-o") + 1])
    return json.loads((out / "metrics.json").read_text())


def _fully_covered(saved: dict) -> None:
    assert saved["warnings"] == [] or all("coverage" not in w for w in saved["warnings"])
    assert all(row["n"] == row["n_expected"] for row in saved["rows"] if "n" in row)


@pytest.mark.parametrize(("dataset", "annotation"), [("mintrec", "test_MIntRec_ann.json"),
                                                     ("mintrec2", "test_MIntRec2_ann.json")])
def test_mintrec(dataset, annotation, clip, model_dir, tmp_path, capsys):
    raw = tmp_path / "raw"
    gold = {"S01_E01_1": "Complain", "S01_E01_2": "Thank", "S02_E03_4": "Inform"}
    raw.mkdir()
    (raw / annotation).write_text(json.dumps([
        {"messages": [{"content": "What a day."}, {"content": label}], "videos": [f"/home/lab/MIntRec/{n}.mp4"]}
        for n, label in gold.items()
    ]))
    _clips(clip, raw / "video", list(gold))
    prepared, preds = _prepare_and_infer(capsys, dataset, raw, tmp_path, model_dir)
    assert json.loads(preds.read_text().splitlines()[0])["id"].startswith(f"{dataset}:")
    saved = _eval(capsys, dataset, "-p", str(preds), "-g", str(prepared), "-o", str(tmp_path / "o"), "--json")
    assert saved["metrics"]["n"] == 3 and saved["metrics"]["n_expected"] == 3
    _fully_covered(saved)


def test_avamerg(clip, model_dir, tmp_path, capsys):
    raw = tmp_path / "raw"
    conversations = []
    for cid, (speaker, emotion) in {"00007": (11, "worried"), "00008": (12, "joyful")}.items():
        history = [{"index": 0, "role": "speaker", "utterance": "I moved to a new city."},
                   {"index": 1, "role": "listener", "utterance": "How is it going?"},
                   {"index": 2, "role": "speaker", "utterance": "I do not know anyone yet."}]
        turns = [{"turn_id": "1", "context": "moving", "dialogue_history": history, "response": "That is hard.",
                  "chain_of_empathy": {"event_scenario": "a move", "speaker_emotion": emotion,
                                       "emotion_cause": "loneliness", "goal_to_response": "comfort"}}]
        conversations.append({"conversation_id": cid, "speaker_profile": {"ID": speaker},
                              "listener_profile": {"ID": 99}, "turns": turns})
        _clips(clip, raw / "test_video", [f"dia{cid}utt2_{speaker}"])
    (raw / "v_test_v5_0.json").write_text(json.dumps(conversations))
    prepared, preds = _prepare_and_infer(capsys, "avamerg", raw, tmp_path, model_dir)
    tasks = {json.loads(line)["task"] for line in preds.read_text().splitlines()}
    assert tasks == {"ERG", "MER"}  # the MER lines are left out: the official metric reads the ERG response
    saved = _eval(capsys, "avamerg", "-p", str(preds), "-g", str(raw), "-o", str(tmp_path / "o"), "--json")
    assert saved["metrics"]["n"] == 2
    assert {s["id"] for s in map(json.loads, (tmp_path / "o" / "predictions.jsonl").read_text().splitlines())} == {
        "dia00007utt2_11", "dia00008utt2_12"}
    _fully_covered(saved)


def test_emer(clip, model_dir, tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    rows = [("sample_00000001", "angry", "Leave me alone.", "He shouts; he is angry."),
            ("sample_00000002", "happy", "Thank you!", "She smiles; she is happy.")]
    (raw / "gt-eng.csv").write_text("names,emotions,subtitles,reasons\n" + "".join(
        f'{n},{e},"{s}","{r}"\n' for n, e, s, r in rows))
    _clips(clip, raw / "video", [r[0] for r in rows])
    _, preds = _prepare_and_infer(capsys, "emer", raw, tmp_path, model_dir)
    with FakeOpenAI(lambda p: "高兴" if "视频描述" in p else "'预测分数'：6") as server:
        saved = _eval(capsys, "emer", "-p", str(preds), "-g", str(raw), "--judge", server.url, "--cache-dir",
                      str(tmp_path / "cache"), "-o", str(tmp_path / "o"), "--json")
    assert saved["metrics"]["clue_overlap"] == 6.0 and saved["metrics"]["n"] == 2
    _fully_covered(saved)


def test_mer_unibench(clip, model_dir, wheel_dir, tmp_path, capsys):
    """Two sets under one folder with the official package names, inferred into one predictions file, scored
    through the official LLM step (the loopback server stands in for Qwen2.5-7B-Instruct)."""
    raw = tmp_path / "MER-UniBench"
    names = {"mer2023": ["sample_00000010", "sample_00000011"], "mosi": ["video_a_1", "video_b_2"]}
    mer = raw / "mer2023-dataset-process"
    mer.mkdir(parents=True)
    corpus = {n: {"emo": emo, "val": 0} for n, emo in zip(names["mer2023"], ("happy", "sad"), strict=True)}
    np.savez(mer / "label-6way.npz", test1_corpus=np.array(corpus, dtype=object))
    (mer / "transcription-engchi-polish.csv").write_text("name,chinese,english\n" + "".join(
        f"{n},你好,Hello there.\n" for n in names["mer2023"]))
    _clips(clip, mer / "video", names["mer2023"])
    mosi = raw / "cmumosi-process"
    mosi.mkdir()
    valences = {n: {"val": v} for n, v in zip(names["mosi"], (1.4, -0.6), strict=True)}
    np.savez(mosi / "label.npz", test_corpus=np.array(valences, dtype=object))
    _clips(clip, mosi / "video", names["mosi"])
    _prepare_and_infer(capsys, "mer2023", mer, tmp_path, model_dir)
    _, preds = _prepare_and_infer(capsys, "mosi", mosi, tmp_path, model_dir)

    def qwen(prompt: str) -> str:
        return "[happy]" if prompt.startswith("Please assume") else "positive"

    with FakeOpenAI(qwen) as server:
        saved = _eval(capsys, "mer-unibench", "-p", str(preds), "-g", str(raw), "--wheels", str(wheel_dir),
                      "--judge", server.url, "--cache-dir", str(tmp_path / "cache"), "-o", str(tmp_path / "o"),
                      "--json")
    assert saved["metrics"]["mer2023"]["hit_rate"] == 50.0  # [happy] hits the happy sample only
    assert saved["metrics"]["cmumosi"]["accuracy"] == 50.0  # "positive" for both: right for val 1.4 only
    _fully_covered(saved)
