"""CREMA-D -> audio-only MER samples (phase 1.1), six classes with the official candidate string.

Raw layouts: the official Nano-EmoX ``crema_d_annotations.json`` (7,442 records; absolute author
paths reduced to basenames such as ``Anger_1001_DFA_ANG_XX``, audio in ``audio/``), or the canonical
release's ``AudioWAV/{Actor}_{Sentence}_{EMO}_{Level}.wav`` labelled by the EMO code.
"""

from __future__ import annotations

from pathlib import Path

from emox_core.data.common import LabelledDataset, RawItem, answer, check_label, read_messages, refuse
from emox_core.data.labels import CREMA_D_CODES
from emox_core.tasks import CREMA_D_LABELS


def _read(root: Path, file: Path, split: str) -> list[RawItem]:
    if file.is_dir():  # canonical AudioWAV/: the label is the third field of the file name
        items = []
        for wav in sorted(file.glob("*.wav")):
            parts = wav.stem.split("_")
            if len(parts) != 4 or parts[2] not in CREMA_D_CODES:
                raise refuse(
                    file,
                    wav.name,
                    "expected {Actor}_{Sentence}_{EMO}_{Level}.wav with EMO in " + ", ".join(CREMA_D_CODES),
                )
            items.append(RawItem(source_id=wav.stem, label=CREMA_D_CODES[parts[2]]))
        return items
    return [
        RawItem(source_id=stem, label=check_label(label, CREMA_D_LABELS, file, where), subtitle=text)
        for stem, text, label, where in read_messages(file, "audios")
    ]


CREMA_D = LabelledDataset(
    name="crema-d",
    task="MER",
    annotations={"train": ("crema_d_annotations.json", "AudioWAV")},
    read=_read,
    target=lambda item: answer("MER", label=item.label),
    audio=("audio", "AudioWAV"),
    required="audio",
    prompt_fields={"candidate_labels": ", ".join(CREMA_D_LABELS)},
    expected={("train", "crema_d_annotations.json"): 7442, ("train", "AudioWAV"): 7442},
)
