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
    Tally,
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
    return {row["name"]: row["english"] for row in read_csv(path, ("name", "english"))} if path.is_file() else {}


def openset_labels(text: str) -> list[str]:
    """The clip's open-vocabulary labels; an empty list means neutral (official MER-Caption+ loader)."""
    return parse_openset(text) or ["neutral"]


def openset_items(table: Path, subtitles: dict[str, str]) -> list[RawItem]:
    """One item per row of a ``name, openset`` table (MER-Caption+ track 2, OV-MERD+)."""
    items = []
    for row in read_csv(table, ("name", "openset")):
        labels = openset_labels(row["openset"])
        items.append(
            RawItem(
                source_id=row["name"],
                label=labels[0],
                extra_labels=tuple(labels[1:]),
                subtitle=subtitles.get(row["name"], ""),
            )
        )
    return items


def ov_target(item: RawItem) -> str:
    """The OV-MER target ("The character's emotional state is a, b.") over all of the item's labels."""
    return answer("OV-MER", labels=", ".join((item.label, *item.extra_labels)))


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
    reasons = {
        row["name"]: row["reason"] for row in read_csv(root / "track3_train_mercaptionplus.csv", ("name", "reason"))
    }
    locate = Locator(root, VIDEO, AUDIO)
    tally = Tally()
    ov_items = openset_items(root / "track2_train_mercaptionplus.csv", subtitles)
    ov = {item.source_id: (item.label, *item.extra_labels) for item in ov_items}
    eri_items = [
        RawItem(
            source_id=n,
            label=ov.get(n, ("",))[0],
            extra_labels=ov.get(n, ("",))[1:],
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
        tally,
        ov_target,
    )
    samples += label_samples(DATASET, "train", "ERI", eri_items, locate, tally, lambda item: item.text)
    return finish(
        DATASET, root, out_dir, samples, tally=tally, expected_items={"train": 31327}, verify_sha256=verify_sha256
    )
