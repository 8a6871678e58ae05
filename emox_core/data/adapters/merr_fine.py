"""MERR-Fine (Emotion-LLaMA) -> ERI samples whose target is ``smp_reason_caption`` (phase 3 "description").

Raw layout: ``MERR_fine_grained.json`` (a dict keyed by MER2023 sample name, 4,487 entries) beside
the MER2023 clips (``test3/`` or ``video/``, ``.mp4`` or ``.avi``) and ``audio/<name>.wav``.
"""

from __future__ import annotations

from pathlib import Path

from emox_core.data.common import LabelledDataset, RawItem, check_label, load_json, refuse
from emox_core.data.labels import MERR_FINE_LABELS


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


MERR_FINE = LabelledDataset(
    name="merr-fine",
    task="ERI",
    annotations={"train": ("MERR_fine_grained.json",)},
    read=_read,
    target=lambda item: item.text,
    video=("test3", "video", "videos"),
    audio=("audio",),
    expected={("train", "MERR_fine_grained.json"): 4487},
)
