"""AvaMERG -> turn-based ERG + MER samples, on a corpus with the real files' quirks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from emox_core.data.adapters import avamerg
from emox_core.data.labels import AVAMERG_ED_PROJECTION, AVAMERG_MEAD8_PROJECTION
from emox_core.data.manifest import read_manifest
from emox_core.errors import EmoxError
from emox_core.tasks import ERG_ANSWER, ERG_QUESTION

from .helpers import read_jsonl, write_json

SPK, LST = {"age": "young", "gender": "female", "timbre": "mid", "ID": 11}, {"age": "elderly", "gender": "male",
                                                                              "timbre": "high", "ID": 45}
COE = {"speaker_emotion": "worried", "event_scenario": "A storm hit the town.",
       "emotion_cause": "The roof might leak.", "goal_to_response": "Reassure the speaker."}


def _h(*utterances: str) -> list[dict]:
    return [{"index": i, "role": "speaker" if i % 2 == 0 else "listener", "utterance": u}
            for i, u in enumerate(utterances)]


def _turn(turn_id: str, history: list[dict], **extra: object) -> dict:
    return {"turn_id": turn_id, "context": "A storm is coming.", "dialogue_history": history, **extra}


TRAIN = [
    {   # turns out of order; original media names with profile IDs
        "conversation_id": "00042", "speaker_profile": SPK, "listener_profile": LST, "topic": "Life Events",
        "turns": [
            _turn("1", _h("The storm scares me.", "Are you safe?", "Yes, but the roof may leak."),
                  response="Let's check it together tomorrow.", chain_of_empathy=COE),
            _turn("0", _h("The storm scares me."), response="Are you safe?",
                  chain_of_empathy={**COE, "speaker_emotion": ["afraid"]}),
        ],
    },
    {"conversation_id": "17677", "turns": [], "speaker_profile": SPK, "listener_profile": LST},
    {   # partial turns, no CoE, media in the baseline's renamed scheme (dia{int(cid)}utt{index+1})
        "conversation_id": "00100", "speaker_profile": {**SPK, "ID": 3}, "listener_profile": LST,
        "turns": [_turn("2", _h("a", "b", "c", "d", "I lost my job."), response="I'm so sorry.")],
    },
    {   # the query's media is missing: skipped with a warning
        "conversation_id": "00200", "speaker_profile": SPK, "listener_profile": LST,
        "turns": [_turn("0", _h("Hello."), response="Hi!", chain_of_empathy=COE)],
    },
]
# The blind test: no profiles, responses or CoE; empty, partial and out-of-order turns.
TEST = [
    {"conversation_id": "00001", "turns": [_turn("0", _h("first")), _turn("1", _h("first", "reply", "second"))]},
    {"conversation_id": "03992", "turns": []},
    {"conversation_id": "03993", "turns": [_turn("0", _h("x")), _turn("2", _h("x", "y", "z", "w", "v")),
                                           _turn("1", _h("x", "y", "z"))]},
]
TRAIN_MEDIA = [
    "video_v5_0/dia00042utt0_11.mp4", "audio_v5_0/dia00042utt0_11.wav",
    "video_v5_0/dia00042utt1_45.mp4",
    "video_v5_0/dia00042utt2_11.mp4", "audio_v5_0/dia00042utt2_11.wav",
    "video_v5_0/dia00042utt3_45.mp4",
    "video_v5_0/dia100utt5.mp4", "audio_v5_0/dia100utt5.wav",
]
TEST_MEDIA = ["test_video/dia00001utt2_16.mp4", "test_audio/dia00001utt2_16.wav",
              "test_video/dia03993utt2_7.mp4", "test_audio/dia03993utt2_7.wav"]


@pytest.fixture
def corpus(tmp_path: Path, put_media) -> Path:
    root = tmp_path / "AvaMERG"
    write_json(root / "train.json", TRAIN)
    write_json(root / "test.json", TEST)
    put_media(root, *TRAIN_MEDIA, *TEST_MEDIA)
    return root


def test_train_turns_become_erg_and_mer_samples(corpus: Path, tmp_path: Path) -> None:
    report = avamerg.prepare(corpus, tmp_path / "out", split="train")
    samples = {s.id: s for s in read_manifest(tmp_path / "out" / "manifest-train.jsonl")}
    assert list(samples) == [  # turn order by turn_id; the CoE-less turn has no MER sample
        "avamerg:00042_0:ERG", "avamerg:00042_0:MER", "avamerg:00042_1:ERG", "avamerg:00042_1:MER",
        "avamerg:00100_2:ERG",
    ]
    erg = samples["avamerg:00042_1:ERG"]
    assert erg.history == [{"role": "speaker", "text": "The storm scares me."},
                           {"role": "listener", "text": "Are you safe?"}]
    assert erg.prompt_fields == {"context": "A storm is coming.", "current_user_input": "Yes, but the roof may leak."}
    assert erg.target == (
        "<think>Firstly, the event scenario of this conversation is: A storm hit the town.\n"
        "Secondly, the emotion of the speaker is worried\nThirdly, the emotion cause is The roof might leak.\n"
        "Fourthly, the goal to response is Reassure the speaker.</think>\n Let's check it together tomorrow."
    )
    assert erg.target.startswith(ERG_ANSWER.split("{")[0])
    assert erg.media == {"video": "video_v5_0/dia00042utt2_11.mp4", "audio": "audio_v5_0/dia00042utt2_11.wav"}
    assert erg.labels == ["worried", "anxious", "sad"]  # raw, ED projection, MEAD-8
    assert erg.meta["official_name"] == "dia00042utt2_11"
    assert erg.meta["response_video"] == "video_v5_0/dia00042utt3_45.mp4"
    mer = samples["avamerg:00042_1:MER"]
    assert mer.target == "The emotion of the speaker is worried."
    assert mer.prompt_fields["question"] == (
        "Context: A storm is coming.\ncurrent speaker input:Yes, but the roof may leak.\nBase on all input "
        "information,please analyze User\u2019s emotion mostly like emotions conveyed by the user(speaker)"
    )
    first = samples["avamerg:00042_0:MER"]
    assert first.history == [] and first.target == "The emotion of the speaker is afraid."  # list label -> [0]
    assert first.labels == ["afraid", "fear"]
    renamed = samples["avamerg:00100_2:ERG"]
    assert renamed.target == "I'm so sorry." and renamed.labels == []  # no CoE: the response alone
    assert renamed.media == {"video": "video_v5_0/dia100utt5.mp4", "audio": "audio_v5_0/dia100utt5.wav"}
    assert [h["role"] for h in renamed.history] == ["speaker", "listener", "speaker", "listener"]
    assert report.samples == {"train": {"ERG": 3, "MER": 2}}
    assert report.stats["dialogues"] == 4 and report.stats["empty_dialogues"] == 1
    assert report.stats["turns"] == 4 and report.stats["turns_used"] == 3
    assert report.labels["train"] == {"afraid": 1, "worried": 1}
    assert any("query video not found" in w and "00200" in w for w in report.warnings)
    # ERG questions are built by the task registry from these fields
    assert ERG_QUESTION.format(**erg.prompt_fields).startswith("Context: A storm is coming.\ncurrent user input:Yes")


def test_blind_test_keeps_the_last_listed_turn(corpus: Path, tmp_path: Path) -> None:
    report = avamerg.prepare(corpus, tmp_path / "out", split="test")
    rows = read_jsonl(tmp_path / "out" / "manifest-test.jsonl")
    assert [r["id"] for r in rows] == ["avamerg:00001_1:ERG", "avamerg:00001_1:MER",
                                       "avamerg:03993_1:ERG", "avamerg:03993_1:MER"]
    last = rows[2]  # 03993 lists turns 0, 2, 1: the official protocol answers the last listed one
    assert last["meta"]["turn_id"] == "1" and last["meta"]["query_index"] == 2
    assert last["media"] == {"video": "test_video/dia03993utt2_7.mp4", "audio": "test_audio/dia03993utt2_7.wav"}
    assert last["target"] == "" and last["labels"] == [] and "official_name" not in last["meta"]
    assert [h["text"] for h in last["history"]] == ["x", "y"]
    assert report.stats["empty_dialogues"] == 1 and report.samples == {"test": {"ERG": 2, "MER": 2}}


def test_all_splits_and_stats_file(corpus: Path, tmp_path: Path) -> None:
    report = avamerg.prepare(corpus, tmp_path / "out")
    assert set(report.manifests) == {"train", "test"}
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["data_root"] == str(corpus.resolve()) and stats["samples"]["test"] == {"ERG": 2, "MER": 2}


@pytest.mark.parametrize(("turns", "problem"), [
    ([_turn("0", [{"index": 0, "role": "listener", "utterance": "hi"}])], "last dialogue_history item"),
    ([_turn("x", _h("hi"))], "turn_id 'x'"),
    ([_turn("0", _h("hi")), _turn("0", _h("hi"))], "turn_id 0 appears twice"),
    ([{"turn_id": "0", "dialogue_history": _h("hi")}], "'context'"),
])
def test_schema_mismatch_names_the_first_offending_record(tmp_path: Path, turns: list, problem: str) -> None:
    write_json(tmp_path / "raw" / "train.json", [TRAIN[1], {"conversation_id": "00007", "turns": turns}])
    with pytest.raises(EmoxError, match=r"train\.json: conversation #1 \(id 00007\)") as err:
        avamerg.prepare(tmp_path / "raw", tmp_path / "out", split="train")
    assert problem in str(err.value)
    assert not (tmp_path / "out").exists()


def test_conversation_id_must_keep_zero_padding(tmp_path: Path) -> None:
    write_json(tmp_path / "raw" / "train.json", [{"conversation_id": 42, "turns": []}])
    with pytest.raises(EmoxError, match="conversation #0: conversation_id 42"):
        avamerg.prepare(tmp_path / "raw", tmp_path / "out")


def test_real_blind_test_excerpt(anchors_dir: Path, tmp_path: Path, put_media) -> None:
    root = tmp_path / "raw"
    root.mkdir()
    shutil.copyfile(anchors_dir / "empathetic-detection" / "test.json", root / "test.json")
    put_media(root, "test_video/dia00001utt2_16.mp4", "test_video/dia00005utt2_3.mp4",
              "test_video/dia03993utt2_8.mp4")
    report = avamerg.prepare(root, tmp_path / "out", split="test")
    samples = read_manifest(tmp_path / "out" / "manifest-test.jsonl")
    assert [s.meta["source_id"] for s in samples[::2]] == ["00001_1", "00005_1", "03993_1"]
    assert report.stats["dialogues"] == 4 and report.stats["empty_dialogues"] == 1
    assert samples[2].subtitle.startswith("she was born premature at home")


def test_projection_tables_match_the_official_ones(anchors_dir: Path) -> None:
    maps = json.loads((anchors_dir / "Nano-EmoX" / "derived" / "avamerg_eval_label_maps.json").read_text())
    official_ed = dict(maps["ed_emotion_projection"]["effective_dict_in_python_order"])
    official_mead = dict(maps["emotion_projection_map_empathe_mead"]["effective_dict_in_python_order"])
    assert official_ed == AVAMERG_ED_PROJECTION
    assert official_mead == AVAMERG_MEAD8_PROJECTION
