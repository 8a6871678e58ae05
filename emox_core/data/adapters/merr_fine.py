"""ERI on MER2023 clips: MERR-Fine (Emotion-LLaMA; phase 3 "description") for training, EMER for testing.

Raw layout: ``MERR_fine_grained.json`` (a dict keyed by MER2023 sample name, 4,487 entries; target =
``smp_reason_caption``) and/or EMER's ``gt-eng.csv`` (names, emotions, subtitles, reasons; 100 rows;
target = the reason), beside the MER2023 clips (``test3/`` or ``video/``, ``.mp4`` or ``.avi``) and
``audio/<name>.wav``.
"""

from __future__ import annotations

from pathlib import Path

from emox_core.data.common import LabelledDataset, RawItem, check_label, load_json, read_csv, refuse
from emox_core.data.labels import MER_6WAY_LABELS, MERR_FINE_LABELS


def _read(root: Path, file: Path, split: str) -> list[RawItem]:
    data = load_json(file)
    if not isinstance(data, dict):
        raise refuse(file, "top level", "expected an object keyed by sample name")
    items = []
    for name, entry in data.items():
        where = f"entry {name!r}"
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(k), str) for k in ("pseu_emotion", "text", "smp_reason_caption")
        ):
            raise refuse(file, where, "expected string fields pseu_emotion, text and smp_reason_caption")
        items.append(
            RawItem(
                source_id=name,
                label=check_label(entry["pseu_emotion"], MERR_FINE_LABELS, file, where),
                subtitle=entry["text"],
                text=entry["smp_reason_caption"],
            )
        )
    return items


def _read_emer(root: Path, file: Path, split: str) -> list[RawItem]:
    return [
        RawItem(
            source_id=row["names"],
            label=check_label(row["emotions"], MER_6WAY_LABELS, file, f"row {n + 2}"),
            subtitle=row["subtitles"],
            text=row["reasons"],
        )
        for n, row in enumerate(read_csv(file, ("names", "emotions", "subtitles", "reasons")))
    ]


def _reason(item: RawItem) -> str:
    return item.text


VIDEO = ("test3", "video", "videos")

MERR_FINE = LabelledDataset(
    name="merr-fine",
    task="ERI",
    annotations={"train": ("MERR_fine_grained.json",)},
    read=_read,
    target=_reason,
    video=VIDEO,
    audio=("audio",),
    expected={("train", "MERR_fine_grained.json"): 4487},
)

EMER = LabelledDataset(
    name="emer",
    task="ERI",
    annotations={"test": ("gt-eng.csv", "EMER/gt-eng.csv")},
    read=_read_emer,
    target=_reason,
    video=VIDEO,
    audio=("audio",),
    expected={("test", "gt-eng.csv"): 100},
)
