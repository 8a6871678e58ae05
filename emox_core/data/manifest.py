"""The one manifest format every dataset adapter writes and training, evaluation and inference read.

A manifest is JSONL: one :class:`Sample` a line. Media paths are relative to the data root (the
``RAW_DIR`` given to ``emox prepare``, recorded as ``data_root`` in ``stats.json``), so a manifest
moves with its data. Each line carries ``schema_version``; a reader refuses versions it does not
know instead of guessing. The schema is documented in ``docs/data.md``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emox_core.errors import EmoxError
from emox_core.fileio import atomic_open, require_file, resolve_under
from emox_core.tasks import TASKS

if TYPE_CHECKING:
    import datasets

SCHEMA_VERSION = 1
SPLITS = ("train", "valid", "test")
ROLES = ("speaker", "listener")
# Keys a prompt may need; "question" holds a dataset-specific question that is not in the task
# registry (filled in, used verbatim), the others fill the registry's templates.
PROMPT_FIELD_KEYS = ("question", "context", "current_user_input", "candidate_labels")
_FIELDS = (
    "schema_version",
    "id",
    "task",
    "split",
    "dataset",
    "media",
    "subtitle",
    "history",
    "prompt_fields",
    "target",
    "labels",
    "meta",
)


@dataclass
class Sample:
    """One training/evaluation example: what the model sees, and the exact answer it is trained on.

    ``target`` is empty only for blind test samples (no gold answer). ``labels`` holds the label
    strings an evaluator compares against: the raw label first, then projections where relevant.
    """

    id: str
    task: str
    split: str
    dataset: str
    media: dict[str, str | None]
    target: str
    subtitle: str = ""
    history: list[dict[str, str]] = field(default_factory=list)
    prompt_fields: dict[str, str] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, **asdict(self)}

    def check(self) -> None:
        """Raise ``ValueError`` naming the first field that breaks the schema."""
        for name in ("id", "dataset", "target", "subtitle"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"field {name!r} must be a string")
        if not self.id:
            raise ValueError("field 'id' is empty")
        if self.task not in TASKS:
            raise ValueError(f"task {self.task!r} is not one of {', '.join(TASKS)}")
        if self.split not in SPLITS:
            raise ValueError(f"split {self.split!r} is not one of {', '.join(SPLITS)}")
        if not isinstance(self.media, dict) or set(self.media) != {"video", "audio"}:
            raise ValueError("field 'media' must be an object with exactly the keys 'video' and 'audio'")
        paths = [p for p in self.media.values() if p is not None]
        if not paths:
            raise ValueError("media has neither video nor audio")
        for rel in paths:
            if not isinstance(rel, str):
                raise ValueError("media paths must be strings or null")
            if os.path.isabs(rel) or rel.startswith(("~", "\\", "/")) or ".." in rel.replace("\\", "/").split("/"):
                raise ValueError(f"media path {rel!r} must be relative to the data root, without '..'")
        if not isinstance(self.history, list) or any(
            not isinstance(turn, dict)
            or set(turn) != {"role", "text"}
            or turn["role"] not in ROLES
            or not isinstance(turn["text"], str)
            for turn in self.history
        ):
            raise ValueError("field 'history' must be a list of {role: speaker|listener, text: str}")
        if not isinstance(self.prompt_fields, dict):
            raise ValueError("field 'prompt_fields' must be an object")
        unknown = set(self.prompt_fields) - set(PROMPT_FIELD_KEYS)
        if unknown:
            raise ValueError(f"unknown prompt field {sorted(unknown)[0]!r} (known: {', '.join(PROMPT_FIELD_KEYS)})")
        if any(not isinstance(v, str) for v in self.prompt_fields.values()):
            raise ValueError("prompt_fields values must be strings")
        if not isinstance(self.labels, list) or any(not isinstance(x, str) for x in self.labels):
            raise ValueError("field 'labels' must be a list of strings")
        if not isinstance(self.meta, dict):
            raise ValueError("field 'meta' must be an object")

    def media_path(self, data_root: str | os.PathLike[str], kind: str = "video") -> Path | None:
        """The absolute path of this sample's ``kind`` media under ``data_root`` (refusing escapes)."""
        rel = self.media.get(kind)
        return None if rel is None else resolve_under(data_root, rel, f"sample {self.id}")


STATS_FILE = "stats.json"


def manifest_data_root(manifest: str | os.PathLike[str], data_root: str | os.PathLike[str] | None = None) -> Path:
    """The folder a manifest's media paths are relative to: ``data_root`` when given (``--data-root``, a
    recipe's ``data.NAME.data_root``), else the ``data_root`` that ``emox prepare`` recorded in ``stats.json``
    beside the manifest, else the manifest's own folder (the synthetic corpus keeps its clips there).
    Training, ``emox infer --manifest``, ``emox eval --model`` and ``emox prepare media`` all ask here."""
    if data_root is not None:
        return Path(data_root)
    folder = Path(manifest).parent
    stats = folder / STATS_FILE
    if not stats.is_file():
        return folder
    try:
        recorded = json.loads(stats.read_text(encoding="utf-8")).get("data_root")
    except (OSError, ValueError, AttributeError):
        raise EmoxError(f"{stats}: not a readable stats.json (rerun emox prepare, or pass the data root)") from None
    return Path(recorded) if recorded else folder


def sample_from_dict(record: Any, where: str) -> Sample:
    """Build and check a Sample from one decoded line; ``where`` ("file:line") prefixes any error."""
    if not isinstance(record, dict):
        raise EmoxError(f"{where}: a manifest line must be a JSON object")
    version = record.get("schema_version")
    if version != SCHEMA_VERSION:
        raise EmoxError(
            f"{where}: manifest schema_version {version!r} is not supported (this emox reads version "
            f"{SCHEMA_VERSION}); re-run 'emox prepare' with this version"
        )
    unknown = set(record) - set(_FIELDS)
    if unknown:
        raise EmoxError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    body = {k: v for k, v in record.items() if k != "schema_version"}
    try:
        sample = Sample(**body)
        sample.check()
    except TypeError as exc:  # a required field is missing
        raise EmoxError(f"{where}: {exc}".replace("Sample.__init__() ", "")) from None
    except (ValueError, EmoxError) as exc:
        raise EmoxError(f"{where}: {exc}") from None
    return sample


def write_manifest(path: str | os.PathLike[str], samples: Iterable[Sample]) -> int:
    """Check every sample and write them atomically as JSONL; returns the number written."""
    seen: set[str] = set()
    count = 0
    with atomic_open(path, "w") as handle:
        for sample in samples:
            try:
                sample.check()
            except ValueError as exc:
                raise EmoxError(f"{path}: sample {sample.id!r}: {exc}") from None
            if sample.id in seen:
                raise EmoxError(f"{path}: duplicate sample id {sample.id!r}")
            seen.add(sample.id)
            handle.write(json.dumps(sample.to_dict(), ensure_ascii=False) + "\n")
            count += 1
    return count


def read_manifest(path: str | os.PathLike[str]) -> list[Sample]:
    """Read and check a manifest; the first bad line raises a one-line error naming ``file:line``."""
    path = require_file(path, "manifest")
    samples: list[Sample] = []
    seen: set[str] = set()
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EmoxError(f"{where}: not valid JSON ({exc.msg})") from None
            sample = sample_from_dict(record, where)
            if sample.id in seen:
                raise EmoxError(f"{where}: duplicate sample id {sample.id!r}")
            seen.add(sample.id)
            samples.append(sample)
    return samples


def load_manifest_dataset(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    cache_dir: str | os.PathLike[str] | None = None,
) -> datasets.Dataset:
    """Load one or more manifests as a ``datasets.Dataset`` (checked first, so errors name file:line).

    ``prompt_fields`` and ``meta`` come back as dicts (``datasets`` Json features).
    """
    import datasets

    files = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not files:
        raise EmoxError("load_manifest_dataset: no manifest given")
    for file in files:
        read_manifest(file)
    return datasets.load_dataset(
        "json",
        data_files=[str(Path(f).resolve()) for f in files],
        split="train",
        cache_dir=None if cache_dir is None else str(cache_dir),
    )
