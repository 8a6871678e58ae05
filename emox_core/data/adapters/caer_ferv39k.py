"""CAER and FERV39K -> visual MER samples (phase 1.2) with the seven-class candidate string.

CAER: ``{train,validation,test}/{Anger,...,Surprise}/NNNN.avi``, labelled by folder; the Nano-EmoX
merged ``caer_ferv39k_ann.json`` (messages/videos, clips in ``video/``) is read as CAER's train split.
FERV39K: ``4_setups/All_scenes/{train_All,test_All}.csv`` (space-separated "Scene/Emotion/clip Label",
no header) with clips under ``2_ClipsforFaceCrop/`` as frame folders (or ``.mp4``/``.avi`` files).
"""

from __future__ import annotations

from pathlib import Path

from emox_core.data.common import LabelledDataset, RawItem, answer, check_label, read_messages, refuse
from emox_core.data.labels import CAER_FERV39K_NAMES
from emox_core.fileio import resolve_under
from emox_core.tasks import CAER_FERV39K_LABELS


def _label(name: str, file: Path, where: str) -> str:
    return CAER_FERV39K_NAMES[check_label(name, CAER_FERV39K_NAMES, file, where)]


def _read_caer(root: Path, file: Path, split: str) -> list[RawItem]:
    if file.suffix == ".json":
        return [
            RawItem(source_id=stem, label=_label(label, file, where), subtitle=text)
            for stem, text, label, where in read_messages(file, "videos")
        ]
    items = []
    for clip in sorted(p for p in file.glob("*/*") if p.is_file()):
        rel = clip.relative_to(root).with_suffix("").as_posix()
        items.append(RawItem(source_id=rel, label=_label(clip.parent.name, file, clip.parent.name), media_stem=rel))
    return items


def _read_ferv39k(root: Path, file: Path, split: str) -> list[RawItem]:
    items = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise refuse(file, f"line {number}", "expected '<Scene/Emotion/clip> <Label>'")
        resolve_under(root, parts[0], f"{file}:{number}")  # paths in the split file must stay relative
        items.append(RawItem(source_id=parts[0], label=_label(parts[1], file, f"line {number}")))
    return items


def _target(item: RawItem) -> str:
    return answer("MER", label=item.label)


_FIELDS = {"candidate_labels": ", ".join(CAER_FERV39K_LABELS)}

CAER = LabelledDataset(
    name="caer",
    task="MER",
    annotations={
        "train": ("caer_ferv39k_ann.json", "train"),
        "valid": ("validation", "valid", "val"),
        "test": ("test",),
    },
    read=_read_caer,
    target=_target,
    video=("video", "."),
    prompt_fields=_FIELDS,
)

FERV39K = LabelledDataset(
    name="ferv39k",
    task="MER",
    annotations={
        "train": ("4_setups/All_scenes/train_All.csv", "train_All.csv"),
        "test": ("4_setups/All_scenes/test_All.csv", "test_All.csv"),
    },
    read=_read_ferv39k,
    target=_target,
    video=("2_ClipsforFaceCrop", "."),
    frame_folders=True,
    prompt_fields=_FIELDS,
)
