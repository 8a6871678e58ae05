"""The ``emox prepare DATASET`` registry: CLI name -> adapter, with the splits each one can write.

Every adapter has the signature ``prepare(raw_dir, out_dir, *, split="all", verify_sha256=None) ->
PrepareReport``; ``split`` is "all" (every split whose raw files exist) or one of ``splits``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from emox_core.data.adapters import (
    avamerg,
    caer_ferv39k,
    crema_d,
    m3ed,
    mer_caption,
    mer_unibench,
    merr_fine,
    mintrec,
)
from emox_core.data.common import LabelledDataset, PrepareReport
from emox_core.errors import EmoxError

PrepareFn = Callable[..., PrepareReport]


@dataclass(frozen=True)
class Adapter:
    name: str
    title: str
    splits: tuple[str, ...]
    prepare: PrepareFn


def _labelled(spec: LabelledDataset, title: str) -> Adapter:
    return Adapter(spec.name, title, tuple(spec.annotations), spec.prepare)


_UNIBENCH_TITLES = {
    "mer2023": "MER2023 test1 (MER-UniBench)",
    "mer2024": "MER2024 test1 (MER-UniBench)",
    "meld": "MELD test (MER-UniBench)",
    "iemocap": "IEMOCAP session 5, four classes (MER-UniBench)",
    "mosi": "CMU-MOSI test (MER-UniBench)",
    "mosei": "CMU-MOSEI test (MER-UniBench)",
    "sims": "CH-SIMS test (MER-UniBench)",
    "simsv2": "CH-SIMS v2 test (MER-UniBench)",
}

ADAPTERS: dict[str, Adapter] = {
    adapter.name: adapter
    for adapter in (
        Adapter("avamerg", "AvaMERG: turn-based ERG + MER", ("train", "test"), avamerg.prepare),
        Adapter("mer-caption-plus", "MER-Caption+: OV-MER + ERI", ("train",), mer_caption.prepare),
        _labelled(merr_fine.MERR_FINE, "MERR-Fine: ERI"),
        _labelled(merr_fine.EMER, "EMER test: ERI"),
        _labelled(mintrec.MINTREC, "MIntRec: MIR"),
        _labelled(mintrec.MINTREC2, "MIntRec2.0: MIR"),
        _labelled(crema_d.CREMA_D, "CREMA-D: audio MER"),
        _labelled(m3ed.M3ED, "M3ED: audio MER"),
        _labelled(caer_ferv39k.CAER, "CAER: visual MER"),
        _labelled(caer_ferv39k.FERV39K, "FERV39K: visual MER"),
        *(_labelled(spec, _UNIBENCH_TITLES[name]) for name, spec in mer_unibench.DATASETS.items()),
        _labelled(mer_unibench.OV_MERD_PLUS, "OV-MERD+ test (MER-UniBench): OV-MER"),
    )
}


def get_adapter(name: str) -> Adapter:
    key = name.strip().lower()
    if key not in ADAPTERS:
        raise EmoxError(f"unknown dataset {name!r}: choose one of {', '.join(ADAPTERS)}")
    return ADAPTERS[key]


def prepare(
    name: str,
    raw_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    split: str = "all",
    verify_sha256: str | os.PathLike[str] | None = None,
) -> PrepareReport:
    """Run the adapter ``name`` (see :data:`ADAPTERS`)."""
    return get_adapter(name).prepare(raw_dir, out_dir, split=split, verify_sha256=verify_sha256)
