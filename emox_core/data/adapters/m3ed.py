"""M3ED -> audio-only MER samples (phase 1.1) with M3ED's own question and answer.

Raw layouts: the Nano-EmoX messages/audios json (``m3ed_annotaton.json``, the official spelling, or
``m3ed_annotation.json``), or the canonical ``annotation.json`` with
``splitInfo/movie_list_{train,val,test}.txt`` and audio named ``{Speaker}_{utterance id}.wav``
(the naming third-party loaders use; unverified).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emox_core.data.common import LabelledDataset, RawItem, check_label, load_json, read_messages, refuse
from emox_core.data.labels import M3ED_LABELS
from emox_core.errors import EmoxError

# Not in emox_core.tasks yet: the M3ED question has no candidates and its own answer
# (Nano-EmoX base_dataset.py, emotion_recognition branch for M3ED).
QUESTION = "[Recognition] Please recognize the character's most likely emotional state."
ANSWER = "The character's emotional state is {label}."
_SPLIT_FILES = {"train": "train", "valid": "val", "test": "test"}


def _canonical(root: Path, file: Path, split: str, data: Any) -> list[RawItem]:
    movie_list = root / "splitInfo" / f"movie_list_{_SPLIT_FILES[split]}.txt"
    if not movie_list.is_file():
        raise EmoxError(f"{movie_list}: M3ED split list not found (needed with annotation.json)")
    movies = [line.strip() for line in movie_list.read_text(encoding="utf-8").splitlines() if line.strip()]
    items = []
    for movie in movies:
        dialogs = data.get(movie)
        if not isinstance(dialogs, dict):
            raise refuse(file, f"movie {movie!r}", "listed in the split file but missing from the annotation")
        for dialog_id, dialog in dialogs.items():
            utterances = dialog.get("Dialog") if isinstance(dialog, dict) else None
            if not isinstance(utterances, dict):
                raise refuse(file, f"{movie}/{dialog_id}", "expected a 'Dialog' object of utterances")
            for utt_id, utt in utterances.items():
                where = f"{movie}/{dialog_id}/{utt_id}"
                emo = (utt.get("EmoAnnotation") or {}).get("final_main_emo") if isinstance(utt, dict) else None
                if not isinstance(emo, str) or not isinstance(utt.get("Speaker"), str):
                    raise refuse(file, where, "expected Speaker and EmoAnnotation.final_main_emo strings")
                items.append(
                    RawItem(
                        source_id=utt_id,
                        label=check_label(emo, M3ED_LABELS, file, where),
                        subtitle=str(utt.get("Text", "")),
                        media_stem=f"{utt['Speaker']}_{utt_id}",
                    )
                )
    return items


def _read(root: Path, file: Path, split: str) -> list[RawItem]:
    if file.name == "annotation.json":
        data = load_json(file)
        if not isinstance(data, dict):
            raise refuse(file, "top level", "expected an object keyed by movie")
        return _canonical(root, file, split, data)
    items = []
    for stem, text, label, where in read_messages(file, "audios"):
        check_label(label, M3ED_LABELS, file, where)
        items.append(RawItem(source_id=stem, label=label, subtitle=text))
    return items


M3ED = LabelledDataset(
    name="m3ed",
    task="MER",
    annotations={
        "train": ("m3ed_annotaton.json", "m3ed_annotation.json", "annotation.json"),
        "valid": ("annotation.json",),
        "test": ("annotation.json",),
    },
    read=_read,
    target=lambda item: ANSWER.format(label=item.label),
    audio=("audio", "wav", "audios"),
    required="audio",
    prompt_fields={"question": QUESTION},
)
