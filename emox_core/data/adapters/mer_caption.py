"""MER-Caption+ (AffectGPT, MER2025 release) -> OV-MER and ERI samples from the same clips.

Raw layout (the MER2025 dataset folder): ``track2_train_mercaptionplus.csv`` (name, openset),
``track3_train_mercaptionplus.csv`` (name, reason), ``subtitle_chieng.csv`` (name, chinese, english),
clips in ``video/video/`` (or ``video/``) and ``audio/``. An empty openset list means neutral, as in the
official loader.
"""

from __future__ import annotations

import os
from pathlib import Path

from emox_core.data.common import (
    Locator,
    PrepareReport,
    RawItem,
    Skips,
    answer,
    choose_splits,
    find_path,
    finish,
    label_samples,
    parse_openset,
    raw_root,
    read_csv,
)

DATASET = "mer-caption-plus"
VIDEO = ("video/video", "video")
AUDIO = ("audio",)
SUBTITLES = "subtitle_chieng.csv"


def english_subtitles(root: Path, name: str = SUBTITLES) -> dict[str, str]:
    """name -> English subtitle from a ``name, chinese, english`` table (empty when the file is absent)."""
    path = root / name
    return (
        {row["name"]: row["english"] for row in read_csv(path, ("name", "english"))} if path.is_file() else {}
    )


def openset_labels(text: str) -> list[str]:
    """The clip's open-vocabulary labels; an empty list means neutral (official MER-Caption+ loader)."""
    return parse_openset(text) or ["neutral"]


def prepare(
    raw_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    split: str = "all",
    verify_sha256: str | os.PathLike[str] | None = None,
) -> PrepareReport:
    """OV-MER samples from track 2 and ERI samples from track 3 (train only; MER-Caption+ has no test)."""
    root = raw_root(raw_dir)
    choose_splits(DATASET, split, {"train": find_path(root, ("track2_train_mercaptionplus.csv",))})
    subtitles = english_subtitles(root)
    ov = {
        row["name"]: openset_labels(row["openset"])
        for row in read_csv(root / "track2_train_mercaptionplus.csv", ("name", "openset"))
    }
    reasons = {
        row["name"]: row["reason"]
        for row in read_csv(root / "track3_train_mercaptionplus.csv", ("name", "reason"))
    }
    locate = Locator(root, VIDEO, AUDIO)
    skips = Skips()
    ov_items = [
        RawItem(source_id=n, label=labels[0], extra_labels=tuple(labels[1:]), subtitle=subtitles.get(n, ""))
        for n, labels in ov.items()
    ]
    eri_items = [
        RawItem(
            source_id=n,
            label=ov.get(n, [""])[0],
            extra_labels=tuple(ov.get(n, [])[1:]),
            text=reason,
            subtitle=subtitles.get(n, ""),
        )
        for n, reason in reasons.items()
    ]  # labels: the clip's OV set
    samples = label_samples(
        DATASET,
        "train",
        "OV-MER",
        ov_items,
        locate,
        skips,
        lambda item: answer("OV-MER", labels=", ".join((item.label, *item.extra_labels))),
    )
    samples += label_samples(DATASET, "train", "ERI", eri_items, locate, skips, lambda item: item.text)
    return finish(
        DATASET,
        root,
        out_dir,
        samples,
        stats={f"skipped: {r}": n for r, n in skips.counts.items()},
        warnings=skips.warnings(),
        expected_items={"train": 31327},
        verify_sha256=verify_sha256,
    )
