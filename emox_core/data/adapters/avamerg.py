"""AvaMERG -> turn-based ERG + MER samples (paper §3.2; official Nano-EmoX ``avamerg_dataset.py``).

Every user turn becomes an ERG sample: history = the previous speaker queries and listener
responses, query = the current speaker utterance with that utterance's video/audio, target = the
chain of empathy in ``<think>`` followed by the listener response. Each turn also yields the
derived MER sample ("The emotion of the speaker is X.") with the raw label and its projections.

Quirks of the real files (docs/data.md): empty ``turns``; out-of-order and partial ``turn_id``s
(media indices come from the history length, not from turn_id); two media naming schemes
(``dia{cid}utt{i}_{profileID}`` and the baseline's renamed ``dia{int(cid)}utt{i+1}``); blind test
files without profiles, responses or CoE. Test splits keep only the last element of ``turns`` of
each conversation, as the official evaluation does (list order, not the largest turn_id).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from emox_core.data.common import (
    AUDIO_FALLBACK,
    PrepareReport,
    Tally,
    answer,
    choose_splits,
    find_path,
    finish,
    load_json,
    make_sample,
    raw_root,
    refuse,
)
from emox_core.data.labels import avamerg_emotion_labels
from emox_core.data.manifest import ROLES, Sample

DATASET = "avamerg"
# Questions/answers of the derived MER sample that emox_core.tasks does not hold yet (the AvaMERG
# MER training question has no [Recognition] identifier and no candidates; Nano-EmoX
# base_dataset.py, emotion_recognition branch for AvaMERG; U+2019 kept).
MER_QUESTION = (
    "Context: {context}\ncurrent speaker input:{current_user_input}\n"
    "Base on all input information,please analyze User\u2019s emotion mostly like emotions conveyed by the "
    "user(speaker)"
)
MER_ANSWER = "The emotion of the speaker is {speaker_emotion}."
COE_FIELDS = ("event_scenario", "speaker_emotion", "emotion_cause", "goal_to_response")

# Layouts of the HF release as unpacked by its users: video_v5_0/audio_v5_0 (RH-Lin/E3RG,
# AbdulaAlShyed-2212592042/empathetic-detection, which found train.json inside audio_v5_0/), the renamed
# video/audio + test_video/test_audio of Nano-EmoX, and E3RG's test/ folder.
ANNOTATIONS = {
    "train": ("train.json", "audio_v5_0/train.json", "train_audio/audio_v5_0/train.json"),
    "test": ("v_test_v5_0.json", "test.json", "test/test.json"),
}
MEDIA_FOLDERS = {
    ("train", "video"): ("video_v5_0", "video", "train_video/video_v5_0", "train_video"),
    ("train", "audio"): ("audio_v5_0", "audio", "train_audio/audio_v5_0", "train_audio"),
    ("test", "video"): ("test_video", "test/test_video", "video_v5_0"),
    ("test", "audio"): ("test_audio", "test/test_audio", "audio_v5_0"),
}
_ORIGINAL = re.compile(r"^dia(\d+)utt(\d+)_(\d+)\.(?:mp4|wav)$")
_RENAMED = re.compile(r"^dia(\d+)utt(\d+)\.(?:mp4|wav)$")


class MediaIndex:
    """Every AvaMERG clip of one folder, indexed under both naming schemes (one directory scan)."""

    def __init__(self, root: Path, candidates: tuple[str, ...], ext: str) -> None:
        self.by_profile: dict[tuple[str, int, int], str] = {}
        self.by_utt: dict[tuple[str, int], list[str]] = {}
        self.renamed: dict[tuple[int, int], str] = {}
        folder = next((rel for rel in candidates if (root / rel).is_dir()), None)
        if folder is None:
            return
        with os.scandir(root / folder) as entries:
            for entry in entries:
                if not entry.name.endswith(ext):
                    continue
                rel = f"{folder}/{entry.name}"
                if match := _ORIGINAL.match(entry.name):
                    cid, utt, pid = match.group(1), int(match.group(2)), int(match.group(3))
                    self.by_profile[(cid, utt, pid)] = rel
                    self.by_utt.setdefault((cid, utt), []).append(rel)
                elif match := _RENAMED.match(entry.name):
                    self.renamed[(int(match.group(1)), int(match.group(2)))] = rel

    def find(self, cid: str, index: int, profile_id: int | None) -> str | None:
        """Utterance ``index`` of conversation ``cid``: exact original name, the only original name for
        that utterance (profile unknown, e.g. blind test), or the renamed ``utt{index+1}`` file."""
        if profile_id is not None and (cid, index, profile_id) in self.by_profile:
            return self.by_profile[(cid, index, profile_id)]
        candidates = self.by_utt.get((cid, index), [])
        if len(candidates) == 1:
            return candidates[0]
        return self.renamed.get((int(cid), index + 1))


def _profile_id(conv: dict[str, Any], key: str, file: Path, where: str) -> int | None:
    profile = conv.get(key)
    if profile is None:
        return None
    if not isinstance(profile, dict) or not str(profile.get("ID", "")).isdigit():
        raise refuse(file, where, f"{key} must be an object with an integer 'ID'")
    return int(profile["ID"])


def _check_turn(turn: Any, file: Path, where: str) -> tuple[str, str, list[dict[str, Any]], Any]:
    """Validate one turn; returns (turn_id, context, dialogue_history, chain_of_empathy)."""
    if not isinstance(turn, dict):
        raise refuse(file, where, "a turn must be an object")
    turn_id = turn.get("turn_id")
    if not str(turn_id).isdigit() or isinstance(turn_id, bool):
        raise refuse(file, where, f"turn_id {turn_id!r} is not an integer string")
    if not isinstance(turn.get("context"), str):
        raise refuse(file, where, "field 'context' (the situation text) must be a string")
    history = turn.get("dialogue_history")
    if not isinstance(history, list) or not history:
        raise refuse(file, where, "field 'dialogue_history' must be a non-empty list")
    for item in history:
        if not isinstance(item, dict) or item.get("role") not in ROLES or not isinstance(item.get("utterance"), str):
            raise refuse(file, where, "dialogue_history items must be {index, role: speaker|listener, utterance}")
    if history[-1]["role"] != "speaker":
        raise refuse(file, where, "the last dialogue_history item must be the speaker's query")
    if "response" in turn and not isinstance(turn["response"], str):
        raise refuse(file, where, "field 'response' must be a string")
    coe = turn.get("chain_of_empathy")
    if coe is not None:
        if not isinstance(coe, dict):
            raise refuse(file, where, "field 'chain_of_empathy' must be an object")
        emotion = coe.get("speaker_emotion")
        if isinstance(emotion, list):  # one release stores a one-element list
            emotion = emotion[0] if emotion else None
        coe = {**coe, "speaker_emotion": emotion}
        for name in COE_FIELDS:
            if coe.get(name) is not None and not isinstance(coe[name], str):
                raise refuse(file, where, f"chain_of_empathy.{name} must be a string")
    return str(int(turn_id)), turn["context"], history, coe


def _conversations(data: Any, file: Path) -> list[dict[str, Any]]:
    if not isinstance(data, list):
        raise refuse(file, "top level", "expected a JSON array of conversations")
    for number, conv in enumerate(data):
        where = f"conversation #{number}"
        if not isinstance(conv, dict):
            raise refuse(file, where, "a conversation must be an object")
        cid = conv.get("conversation_id")
        if not isinstance(cid, str) or not cid.isdigit():
            raise refuse(file, where, f"conversation_id {cid!r} must be a digit string (zero padding is kept)")
        if not isinstance(conv.get("turns"), list):
            raise refuse(file, f"{where} (id {cid})", "field 'turns' must be a list")
    return data


def _turns_to_use(split: str, turns: list[Any], file: Path, where: str) -> list[tuple[int, Any]]:
    """Test: the last element of ``turns`` (the official protocol, list order). Train: every turn, in
    turn_id order; a repeated turn_id is refused."""
    if split == "test":
        return [(len(turns) - 1, turns[-1])]
    ids = [int(_check_turn(turn, file, f"{where} turn #{i}")[0]) for i, turn in enumerate(turns)]
    repeated = next((turn_id for turn_id in ids if ids.count(turn_id) > 1), None)
    if repeated is not None:
        raise refuse(file, where, f"turn_id {repeated} appears twice")
    return sorted(enumerate(turns), key=lambda item: ids[item[0]])


def _turn_samples(
    split: str,
    conv: dict[str, Any],
    turn: dict[str, Any],
    file: Path,
    where: str,
    video: MediaIndex,
    audio: MediaIndex,
    tally: Tally,
) -> list[Sample]:
    cid = conv["conversation_id"]
    turn_id, context, history, coe = _check_turn(turn, file, where)
    speaker_id = _profile_id(conv, "speaker_profile", file, where)
    listener_id = _profile_id(conv, "listener_profile", file, where)
    query_index = len(history) - 1  # robust to partial/out-of-order turn_ids (the blind test has both)
    video_rel = video.find(cid, query_index, speaker_id)
    if video_rel is None:
        tally.add("skipped, query video not found", f"{cid} turn {turn_id}: dia{cid}utt{query_index}_*.mp4")
        return []
    audio_rel = audio.find(cid, query_index, speaker_id)
    if audio_rel is None:
        tally.add(AUDIO_FALLBACK, f"dia{cid}utt{query_index}_*.wav")
    query = history[-1]["utterance"]
    coe = coe or {}
    emotion = coe.get("speaker_emotion")
    response = turn.get("response")
    projections = avamerg_emotion_labels(emotion) if emotion else {}
    labels = [v for v in projections.values() if v]
    source_id = f"{cid}_{turn_id}"  # the official sample name
    meta: dict[str, Any] = {
        "conversation_id": cid,
        "turn_id": turn_id,
        "query_index": query_index,
        "topic": conv.get("topic"),
        "response_video": video.find(cid, query_index + 1, listener_id) if response else None,
        **projections,
    }
    if speaker_id is not None:
        meta["official_name"] = f"dia{cid}utt{2 * int(turn_id)}_{speaker_id}"  # official test name
    common = dict(
        video=video_rel,
        audio=audio_rel,
        subtitle=query,
        labels=labels,
        meta=meta,
        history=[{"role": h["role"], "text": h["utterance"]} for h in history[:-1]],
    )
    fields = {"context": context, "current_user_input": query}
    samples = []
    if response is not None or split == "test":
        if response is not None and all(coe.get(name) for name in COE_FIELDS):
            target = answer("ERG", response=response, **{name: coe[name] for name in COE_FIELDS})
        else:  # no CoE annotation: the response alone (no <think>); blind test: no target
            target = response or ""
        samples.append(make_sample(DATASET, split, "ERG", source_id, target=target, prompt_fields=fields, **common))
    else:
        tally.add("no ERG sample, turn without response", source_id)
    if emotion or split == "test":
        samples.append(
            make_sample(
                DATASET,
                split,
                "MER",
                source_id,
                target=MER_ANSWER.format(speaker_emotion=emotion) if emotion else "",
                prompt_fields={**fields, "question": MER_QUESTION.format(**fields)},
                **common,
            )
        )
    else:
        tally.add("no MER sample, turn without speaker_emotion", source_id)
    return samples


def prepare(
    raw_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    split: str = "all",
    verify_sha256: str | os.PathLike[str] | None = None,
) -> PrepareReport:
    """Rebuild AvaMERG (``train.json``; ``v_test_v5_0.json`` or the blind ``test.json``) as manifests."""
    root = raw_root(raw_dir)
    files = choose_splits(DATASET, split, {name: find_path(root, cands) for name, cands in ANNOTATIONS.items()})
    samples: list[Sample] = []
    tally = Tally()
    stats = {"dialogues": 0, "empty_dialogues": 0, "turns": 0, "turns_used": 0}
    for name, file in files.items():
        video = MediaIndex(root, MEDIA_FOLDERS[(name, "video")], ".mp4")
        audio = MediaIndex(root, MEDIA_FOLDERS[(name, "audio")], ".wav")
        for number, conv in enumerate(_conversations(load_json(file), file)):
            turns = conv["turns"]
            stats["dialogues"] += 1
            stats["turns"] += len(turns)
            if not turns:
                stats["empty_dialogues"] += 1
                continue
            where = f"conversation #{number} (id {conv['conversation_id']})"
            for position, turn in _turns_to_use(name, turns, file, where):
                turn_samples = _turn_samples(name, conv, turn, file, f"{where} turn #{position}", video, audio, tally)
                stats["turns_used"] += bool(turn_samples)
                samples.extend(turn_samples)
    return finish(DATASET, root, out_dir, samples, stats=stats, tally=tally, verify_sha256=verify_sha256)
