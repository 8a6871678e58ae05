"""What every dataset adapter shares: reading raw files with clear errors, finding media, building
samples from the task registry, and the one ``finish`` step (size check, SHA-256 check, statistics,
manifest and ``stats.json`` writing), so that no adapter repeats it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from emox_core.data.manifest import Sample, write_manifest
from emox_core.errors import EmoxError
from emox_core.fileio import atomic_write_json, require_dir, require_file, resolve_under
from emox_core.tasks import TASKS

VIDEO_EXTS = (".mp4", ".avi", ".mkv", ".flv", ".webm")
AUDIO_EXTS = (".wav",)
# The report line for clips whose dataset ships 16 kHz wavs but whose wav is missing: training and
# inference then read the video's own audio track, while the official loaders read the wav.
AUDIO_FALLBACK = "audio from the video's track, the dataset's wav not found (the official loaders read the wav)"


@dataclass
class PrepareReport:
    """What ``emox prepare`` did: manifests written, sample counts, label distribution, warnings."""

    dataset: str
    data_root: str
    out_dir: str
    manifests: dict[str, str]
    samples: dict[str, dict[str, int]]
    labels: dict[str, dict[str, int]]
    stats: dict[str, int]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Tally:
    """Counts raw items left out or degraded, by reason, keeping the first example of each for the warning."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.first: dict[str, str] = {}

    def add(self, reason: str, example: str) -> None:
        self.counts[reason] += 1
        self.first.setdefault(reason, example)

    def warnings(self) -> list[str]:
        return [f"{reason}: {n} item(s) (first: {self.first[reason]})" for reason, n in self.counts.items()]


def refuse(file: str | os.PathLike[str], where: str, problem: str) -> EmoxError:
    """The error for a raw file that does not match its documented schema, naming the first bad record."""
    return EmoxError(f"{file}: {where}: {problem}")


def load_json(path: str | os.PathLike[str], what: str = "annotation file") -> Any:
    """A raw JSON file, or a one-line error naming it."""
    path = require_file(path, what)
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise EmoxError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except UnicodeDecodeError:
        raise EmoxError(f"{path}: not UTF-8 text") from None


def read_csv(path: str | os.PathLike[str], columns: Sequence[str]) -> list[dict[str, str]]:
    """Rows of a CSV/TSV (by extension) as dicts; refuses a file that lacks one of ``columns``."""
    path = require_file(path, "table")
    delimiter = "\t" if path.suffix == ".tsv" else ","
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise EmoxError(f"{path}: column {missing[0]!r} not found (columns: {', '.join(reader.fieldnames or [])})")
        return [{k: (v or "") for k, v in row.items() if k is not None} for row in reader]


def basename_stem(path: str) -> str:
    """File name without extension of a path from an official annotation file.

    The official jsons store absolute paths of the authors' machines (``/home/lab00/...``); only the
    basename is meaningful, and the media is looked up under the data root.
    """
    return PurePosixPath(path.replace("\\", "/")).stem


def parse_openset(text: str) -> list[str]:
    """AffectGPT's stringified label list ("['a', 'b']" / "[a, b]") -> ["a", "b"] (case kept)."""
    items = (item.strip().strip("'\"").strip() for item in text.strip().strip("[]").split(","))
    return [item for item in items if item]


class MediaFolder:
    """Finds a clip by stem in the first existing folder of a list of candidates under the data root."""

    def __init__(self, root: Path, candidates: Sequence[str], exts: Sequence[str], frame_folders: bool = False) -> None:
        self.root = root
        self.exts = tuple(exts)
        self.frame_folders = frame_folders
        self.folder = next((rel for rel in candidates if (root / rel).is_dir()), None)

    def find(self, stem: str) -> str | None:
        """The path relative to the data root of ``stem`` with one of the extensions (or, for datasets
        shipped as frames, the folder of frames named ``stem``), or None."""
        if self.folder is None:
            return None
        base = stem if self.folder == "." else f"{self.folder}/{stem}"
        resolve_under(self.root, base, f"clip {stem!r}")  # a stem read from a raw file stays under the root
        for ext in self.exts:
            if (self.root / f"{base}{ext}").is_file():
                return f"{base}{ext}"
        if self.frame_folders and (self.root / base).is_dir():
            return base
        return None


class Locator:
    """Finds an item's video and audio by stem; an item without its required modality is skipped, and a
    video clip without the wav its dataset ships is counted once under :data:`AUDIO_FALLBACK`."""

    def __init__(
        self,
        root: Path,
        video: Sequence[str] = (),
        audio: Sequence[str] = (),
        required: str = "video",
        frame_folders: bool = False,
    ) -> None:
        self.video = MediaFolder(root, video, VIDEO_EXTS, frame_folders)
        self.audio = MediaFolder(root, audio, AUDIO_EXTS)
        self.ships_audio = bool(audio)
        self.required = required
        self._fell_back: set[str] = set()

    def __call__(self, stem: str, tally: Tally) -> tuple[str | None, str | None] | None:
        found = {"video": self.video.find(stem), "audio": self.audio.find(stem)}
        if found[self.required] is None:
            folder = getattr(self, self.required).folder
            tally.add(f"skipped, {self.required} not found", f"{stem} (in {folder or 'no media folder'})")
            return None
        if self.ships_audio and found["audio"] is None and stem not in self._fell_back:
            self._fell_back.add(stem)  # a clip feeding two tasks counts once
            tally.add(AUDIO_FALLBACK, f"{stem} (in {self.audio.folder or 'no audio folder'})")
        return found["video"], found["audio"]


def read_messages(file: Path, media_key: str) -> list[tuple[str, str, str, str]]:
    """Records of an official LLaMA-Factory-style annotation (``{messages: [user, assistant],
    videos|audios}``) as (clip stem, user text, assistant text, record position); media paths are
    reduced to their stem."""
    data = load_json(file)
    if not isinstance(data, list):
        raise refuse(file, "top level", "expected a JSON array of {messages, " + media_key + "} records")
    out = []
    for number, record in enumerate(data):
        where = f"record #{number}"
        messages = record.get("messages") if isinstance(record, dict) else None
        media = record.get(media_key) if isinstance(record, dict) else None
        if (
            not isinstance(messages, list)
            or len(messages) < 2
            or any(not isinstance(m, dict) or not isinstance(m.get("content"), str) for m in messages[:2])
        ):
            raise refuse(file, where, "'messages' must hold a user and an assistant message with string content")
        if not isinstance(media, list) or not media or not isinstance(media[0], str):
            raise refuse(file, where, f"'{media_key}' must be a non-empty list of paths")
        out.append((basename_stem(media[0]), messages[0]["content"], messages[1]["content"], where))
    return out


def check_label(label: str, vocabulary: Iterable[str], file: Path, where: str) -> str:
    """``label`` lower-cased if it is in the official vocabulary, else a schema error naming the record."""
    vocab = tuple(vocabulary)
    if label.strip().lower() not in vocab:
        raise refuse(file, where, f"label {label!r} is not in the official vocabulary ({', '.join(vocab)})")
    return label.strip().lower()


def answer(task: str, **fields: str) -> str:
    """The exact training target of ``task`` from the registry's answer template."""
    return TASKS[task].answer_template.format(**fields)


def make_sample(
    dataset: str,
    split: str,
    task: str,
    source_id: str,
    *,
    video: str | None,
    audio: str | None,
    target: str,
    labels: Iterable[str] = (),
    subtitle: str = "",
    history: list[dict[str, str]] | None = None,
    prompt_fields: dict[str, str] | None = None,
    meta: dict[str, Any] | None = None,
) -> Sample:
    """One manifest sample; its id is ``{dataset}:{source_id}:{task}``, unique within a manifest."""
    return Sample(
        id=f"{dataset}:{source_id}:{task}",
        task=task,
        split=split,
        dataset=dataset,
        media={"video": video, "audio": audio},
        target=target,
        subtitle=subtitle,
        history=history or [],
        prompt_fields=prompt_fields or {},
        labels=list(dict.fromkeys(labels)),
        meta={"source_id": source_id, **(meta or {})},
    )


@dataclass(frozen=True)
class RawItem:
    """One labelled clip of a raw annotation, before its media are located."""

    source_id: str
    label: str
    subtitle: str = ""
    text: str = ""  # a free-text answer (ERI reason), when the target is not built from the label
    media_stem: str = ""  # where the locator looks (relative stem); defaults to source_id
    extra_labels: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)


def label_samples(
    dataset: str,
    split: str,
    task: str,
    items: Iterable[RawItem],
    locate: Locator,
    tally: Tally,
    target: Callable[[RawItem], str],
    prompt_fields: dict[str, str] | None = None,
) -> list[Sample]:
    """One ``task`` sample per item whose media exist (the shape of every single-label dataset)."""
    samples = []
    for item in items:
        media = locate(item.media_stem or item.source_id, tally)
        if media is None:
            continue
        samples.append(
            make_sample(
                dataset,
                split,
                task,
                item.source_id,
                video=media[0],
                audio=media[1],
                target=target(item),
                labels=[x for x in (item.label, *item.extra_labels) if x],
                subtitle=item.subtitle,
                prompt_fields=prompt_fields,
                meta=item.meta,
            )
        )
    return samples


def sha256_check(root: Path, sha_file: str | os.PathLike[str]) -> list[str]:
    """Compare files under ``root`` with a ``sha256sum``-style list; differences become warnings."""
    sha_path = require_file(sha_file, "SHA-256 list")
    expected: list[tuple[str, str, str]] = []
    for number, line in enumerate(sha_path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise EmoxError(f"{sha_path}:{number}: expected '<sha256>  <path relative to the data root>'")
        expected.append((parts[0].lower(), parts[1].lstrip("*").strip(), f"{sha_path}:{number}"))
    missing: list[str] = []
    wrong: list[str] = []
    for digest, rel, where in expected:
        path = resolve_under(root, rel, where)
        if not path.is_file():
            missing.append(rel)
            continue
        hasher = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                hasher.update(chunk)
        if hasher.hexdigest() != digest:
            wrong.append(f"{rel}: expected {digest[:12]}…, got {hasher.hexdigest()[:12]}…")
    notes = []
    if wrong:
        notes.append(f"SHA-256 mismatch for {len(wrong)} of {len(expected)} files (first: {wrong[0]})")
    if missing:
        notes.append(
            f"SHA-256 list names {len(missing)} of {len(expected)} files that are missing (first: {missing[0]})"
        )
    return notes


def finish(
    dataset: str,
    raw_dir: Path,
    out_dir: str | os.PathLike[str],
    samples: Sequence[Sample],
    *,
    stats: dict[str, int] | None = None,
    tally: Tally | None = None,
    expected_items: dict[str, int] | None = None,
    verify_sha256: str | os.PathLike[str] | None = None,
) -> PrepareReport:
    """Write ``manifest-{split}.jsonl`` per split and ``stats.json``; check sizes and checksums.

    ``expected_items`` is the official number of raw items (clips, test turns) per split; items are
    counted by ``meta.source_id``, so a clip that yields two tasks counts once. A mismatch is a warning,
    as are the items in ``tally``.
    """
    out = Path(out_dir)
    tally = tally or Tally()
    notes = tally.warnings()
    by_split: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_split[sample.split].append(sample)
    if not by_split:
        why = f" ({notes[0]})" if notes else ""
        raise EmoxError(f"{raw_dir}: no {dataset} samples found{why}")
    for split, expected in (expected_items or {}).items():
        if split in by_split:
            found = len({s.meta["source_id"] for s in by_split[split]})
            if found != expected:
                notes.append(f"{split}: expected {expected} {dataset} items (official size), found {found}")
    if verify_sha256 is not None:
        notes.extend(sha256_check(raw_dir, verify_sha256))
    manifests = {}
    for split, items in by_split.items():
        path = out / f"manifest-{split}.jsonl"
        write_manifest(path, items)
        manifests[split] = str(path)
    report = PrepareReport(
        dataset=dataset,
        data_root=str(raw_dir.resolve()),
        out_dir=str(out.resolve()),
        manifests=manifests,
        samples={split: dict(sorted(Counter(s.task for s in items).items())) for split, items in by_split.items()},
        labels={split: _label_counts(items) for split, items in by_split.items()},
        stats={**(stats or {}), **tally.counts},
        warnings=notes,
    )
    atomic_write_json(out / "stats.json", report.to_dict())
    return report


def _label_counts(samples: Sequence[Sample]) -> dict[str, int]:
    """Raw label (``labels[0]``) per raw item, so an item feeding two tasks counts once."""
    first = {s.meta["source_id"]: s.labels[0] for s in samples if s.labels}
    return dict(Counter(first.values()).most_common())


def choose_splits(dataset: str, requested: str, available: dict[str, Path | None]) -> dict[str, Path]:
    """The raw file of each requested split ("all" = every split whose file exists)."""
    if requested == "all":
        found = {split: path for split, path in available.items() if path is not None}
        if not found:
            raise EmoxError(f"{dataset}: no annotation file found for any of {', '.join(available)}")
        return found
    if requested not in available:
        raise EmoxError(f"{dataset}: split {requested!r} is not available (choose all, {', '.join(available)})")
    path = available[requested]
    if path is None:
        raise EmoxError(f"{dataset}: no annotation file found for split {requested!r}")
    return {requested: path}


def find_path(root: Path, candidates: Sequence[str]) -> Path | None:
    """The first of ``candidates`` (relative to ``root``) that exists (an annotation file, or a folder for
    layouts labelled by folder), or None."""
    return next((root / rel for rel in candidates if (root / rel).exists()), None)


def raw_root(raw_dir: str | os.PathLike[str]) -> Path:
    return require_dir(raw_dir, "raw dataset directory")


@dataclass(frozen=True)
class LabelledDataset:
    """A dataset whose raw items are single-label clips for one task: the adapter is this spec plus a
    reader, and ``prepare`` is shared (split choice, media lookup, targets, size check, outputs)."""

    name: str
    task: str
    annotations: dict[str, tuple[str, ...]]  # split -> candidate annotation files (relative to the root)
    read: Callable[[Path, Path, str], list[RawItem]]  # (root, annotation file, split) -> items
    target: Callable[[RawItem], str]
    video: tuple[str, ...] = ()
    audio: tuple[str, ...] = ()
    required: str = "video"
    frame_folders: bool = False  # clips shipped as folders of frames (FERV39K)
    prompt_fields: dict[str, str] = field(default_factory=dict)
    expected: dict[tuple[str, str], int] = field(default_factory=dict)  # (split, file name) -> official count

    def prepare(
        self,
        raw_dir: str | os.PathLike[str],
        out_dir: str | os.PathLike[str],
        *,
        split: str = "all",
        verify_sha256: str | os.PathLike[str] | None = None,
    ) -> PrepareReport:
        root = raw_root(raw_dir)
        files = choose_splits(self.name, split, {s: find_path(root, c) for s, c in self.annotations.items()})
        locate = Locator(root, self.video, self.audio, self.required, self.frame_folders)
        tally = Tally()
        samples: list[Sample] = []
        for name, file in files.items():
            items = self.read(root, file, name)
            samples += label_samples(
                self.name, name, self.task, items, locate, tally, self.target, dict(self.prompt_fields)
            )
        expected = {s: self.expected[(s, f.name)] for s, f in files.items() if (s, f.name) in self.expected}
        return finish(
            self.name, root, out_dir, samples, tally=tally, expected_items=expected, verify_sha256=verify_sha256
        )
