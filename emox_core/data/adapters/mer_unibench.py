"""The MER-UniBench test sets (AffectGPT's processed packages) -> MER, MSA and OV-MER samples.

Each set is a ``*-process`` folder with a label npz (a pickled dict name -> {emo, val}; read by
:mod:`emox_core.safe_npz`, which rebuilds plain data only and never runs a pickle), an English transcript
table and media named ``<name>.mp4|.avi`` + ``<name>.wav``. OV-MERD+ is the MER2025 folder's
``mer2025-ov.csv``. Discrete sets give MER samples with the set's vocabulary as candidates, valence sets MSA
samples (sign of ``val``), OV-MERD+ OV-MER samples. Test sizes are the ones the official loaders assert.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from emox_core.data.adapters.mer_caption import VIDEO as MER2025_VIDEO
from emox_core.data.adapters.mer_caption import english_subtitles, openset_items, ov_target
from emox_core.data.common import LabelledDataset, RawItem, answer, refuse
from emox_core.data.labels import IEMOCAP4_LABELS, MELD_LABELS, MER_6WAY_LABELS, sentiment_of
from emox_core.errors import EmoxError
from emox_core.tasks import SENTIMENT_LABELS


@dataclass(frozen=True)
class UniBenchSet:
    """Where one processed package keeps its labels, transcripts and media, and how to read a label."""

    name: str
    label_file: str
    key: str  # the npz key of the test corpus
    vocabulary: tuple[str, ...]  # discrete sets; empty for valence sets
    test_size: int
    video: tuple[str, ...]
    transcripts: str = "transcription-engchi-polish.csv"
    audio: tuple[str, ...] = ("audio", "subaudio")
    session5_test: bool = False  # IEMOCAP: one corpus for all sessions; Session 5 (name[4] == "5") is the test


def _corpus(file: Path, key: str) -> dict[str, Any]:
    from emox_core.safe_npz import load_npz

    arrays = load_npz(file, "label npz")
    if key not in arrays:
        raise EmoxError(f"{file}: key {key!r} not found (keys: {', '.join(arrays)})")
    corpus = arrays[key].tolist()
    if not isinstance(corpus, dict):
        raise refuse(file, key, "expected a dict name -> {emo, val}")
    return corpus


def _label(spec: UniBenchSet, entry: Any, file: Path, where: str) -> tuple[str, dict[str, Any]]:
    if not isinstance(entry, dict):
        raise refuse(file, where, "expected an object with 'emo' or 'val'")
    if not spec.vocabulary:
        try:
            valence = float(entry["val"])
        except (KeyError, TypeError, ValueError):
            raise refuse(file, where, "expected a numeric 'val'") from None
        return sentiment_of(valence), {"valence": valence}
    emo = entry.get("emo")
    if isinstance(emo, str) and emo.strip().lower() in spec.vocabulary:
        return emo.strip().lower(), {}
    if not isinstance(emo, (str, bool)) and emo is not None:
        try:  # MELD and IEMOCAP store the index into the official class order
            return spec.vocabulary[int(emo)], {}
        except (TypeError, ValueError, IndexError):
            pass
    raise refuse(file, where, f"label {emo!r} is not in the official vocabulary ({', '.join(spec.vocabulary)})")


def _read(spec: UniBenchSet, root: Path, file: Path, split: str) -> list[RawItem]:
    corpus = _corpus(file, spec.key)
    subtitles = english_subtitles(root, spec.transcripts)
    items = []
    for name, entry in corpus.items():
        if spec.session5_test and str(name)[4:5] != "5":
            continue
        label, meta = _label(spec, entry, file, f"{spec.key}[{name!r}]")
        items.append(RawItem(source_id=str(name), label=label, subtitle=subtitles.get(str(name), ""), meta=meta))
    return items


def _read_ov(root: Path, file: Path, split: str) -> list[RawItem]:
    return openset_items(file, english_subtitles(root))


def _dataset(spec: UniBenchSet) -> LabelledDataset:
    discrete = bool(spec.vocabulary)
    return LabelledDataset(
        name=spec.name,
        task="MER" if discrete else "MSA",
        annotations={"test": (spec.label_file,)},
        read=partial(_read, spec),
        target=lambda item: answer("MER" if discrete else "MSA", label=item.label),
        video=spec.video,
        audio=spec.audio,
        prompt_fields={"candidate_labels": ", ".join(spec.vocabulary if discrete else SENTIMENT_LABELS)},
        expected={("test", spec.label_file): spec.test_size},
    )


SETS = (
    UniBenchSet("mer2023", "label-6way.npz", "test1_corpus", MER_6WAY_LABELS, 411, ("video",)),
    UniBenchSet(
        "mer2024",
        "label-6way.npz",
        "test1_corpus",
        MER_6WAY_LABELS,
        1169,
        ("video",),
        transcripts="transcription_merge.csv",
    ),
    UniBenchSet("meld", "label.npz", "test_corpus", MELD_LABELS, 2610, ("subvideo", "video")),
    UniBenchSet(
        "iemocap",
        "label_4way.npz",
        "whole_corpus",
        IEMOCAP4_LABELS,
        1241,
        ("subvideo-tgt", "subvideo", "video"),
        session5_test=True,
    ),
    UniBenchSet("mosi", "label.npz", "test_corpus", (), 686, ("subvideo", "video")),
    UniBenchSet("mosei", "label.npz", "test_corpus", (), 4659, ("subvideo_new", "subvideo", "video")),
    UniBenchSet("sims", "label.npz", "test_corpus", (), 457, ("video",)),
    UniBenchSet("simsv2", "label.npz", "test_corpus", (), 1034, ("video_new", "video")),
)
DATASETS = {spec.name: _dataset(spec) for spec in SETS}

OV_MERD_PLUS = LabelledDataset(
    name="ov-merd-plus",
    task="OV-MER",
    annotations={"test": ("mer2025-ov.csv",)},
    read=_read_ov,
    target=ov_target,
    video=MER2025_VIDEO,
    audio=("audio",),
    expected={("test", "mer2025-ov.csv"): 532},
)
