"""Run the model on clips: one clip (``emox infer CLIP``) or many (a manifest or a folder of clips),
batched with left padding and appended to a resumable predictions JSONL.

A single clip is turned into the same :class:`~emox_core.data.manifest.Sample` a manifest holds, so the
prompt and the media go through exactly the code that training and evaluation use
(:mod:`emox_core.samples`, :func:`emox_core.media.load_clip`).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from emox_core.errors import EmoxError
from emox_core.fileio import atomic_write_json, require_file
from emox_core.inference.runtime import GenerationSettings, load_for_inference
from emox_core.inference.schema import validate_prediction
from emox_core.locking import exclusive
from emox_core.tasks import TASKS, ParsedAnswer, get_task, task_list

if TYPE_CHECKING:
    from emox_core.data.manifest import Sample
    from emox_core.media.cache import MediaCache
    from emox_core.media.decode import ClipMedia
    from emox_core.modeling.modeling_nano_emox import NanoEmoXForConditionalGeneration
    from emox_core.processing import NanoEmoXProcessor

    ModelArg = str | os.PathLike[str] | NanoEmoXForConditionalGeneration


@dataclass
class Prediction:
    """One answer, as written to the predictions file (see :mod:`emox_core.inference.schema`)."""

    id: str
    task: str
    prediction: str
    label: str | None
    labels: list[str]
    thinking: str | None
    reply: str | None
    dataset: str | None
    model: str
    generation: dict[str, Any]
    media: dict[str, Any] | None = None

    def to_record(self) -> dict[str, Any]:
        record = asdict(self)
        if record["media"] is None:
            del record["media"]
        return record

    @property
    def parsed(self) -> ParsedAnswer:
        """The answer as its task reads it (for the task's summary line and shown answer)."""
        return ParsedAnswer.from_record(asdict(self))

    @property
    def shown(self) -> str:
        """The answer as a user reads it (a task with a ``<think>`` part: the reply alone)."""
        return get_task(self.task).shown_answer(self.parsed)


# ---------------------------------------------------------------------------------------------- inputs
def read_history(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """Dialogue history for ERG: a JSON list of ``{"role": "speaker"|"listener", "text": ...}``, or a text
    file of ``speaker: ...`` / ``listener: ...`` lines."""
    path = require_file(path, "history file")
    return parse_history(path.read_text(encoding="utf-8"), str(path), as_json=path.suffix.lower() == ".json")


def parse_history(text: str, source: str, as_json: bool = False) -> list[dict[str, str]]:
    """The turns of a history text (see :func:`read_history`); errors name ``source`` (and the line)."""
    from emox_core.data.manifest import ROLES

    if as_json:
        try:
            turns = json.loads(text)
        except json.JSONDecodeError as exc:
            raise EmoxError(f"{source}: not valid JSON ({exc.msg})") from None
        ok = isinstance(turns, list) and all(
            isinstance(t, dict) and t.get("role") in ROLES and isinstance(t.get("text"), str) for t in turns)
        if not ok:
            raise EmoxError(f"{source}: expected a list of {{\"role\": speaker|listener, \"text\": str}}")
        return [{"role": t["role"], "text": t["text"]} for t in turns]
    turns = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        role, sep, said = line.partition(":")
        if not sep or role.strip().lower() not in ROLES:
            raise EmoxError(f"{source}:{number}: expected 'speaker: text' or 'listener: text'")
        turns.append({"role": role.strip().lower(), "text": said.strip()})
    return turns


def parse_labels(labels: str | Sequence[str] | None) -> list[str] | None:
    """``"a, b,c"`` or a list -> the candidate labels (None: the task's defaults)."""
    if labels is None:
        return None
    items = labels.split(",") if isinstance(labels, str) else list(labels)
    found = [item.strip() for item in items if item.strip()]
    if not found:
        raise EmoxError("--labels: no labels given (expected a,b,c)")
    return found


def clip_sample(clip: str | os.PathLike[str], task: str, *, root: str | os.PathLike[str] | None = None,
                subtitle: str = "", history: Sequence[dict[str, str]] = (), labels: Sequence[str] | None = None,
                context: str = "") -> Sample:
    """The manifest sample for one raw clip (id = its path relative to ``root``, default its folder).

    A task's question takes the user's inputs its registry entry names (``Task.inputs``: ERG's takes
    ``context``, the situation, and the subtitle as the current user input).
    """
    from emox_core.data.manifest import Sample
    from emox_core.media.decode import AUDIO_SUFFIXES

    clip = Path(clip)
    relative = clip.relative_to(root).as_posix() if root is not None else clip.name
    spec = get_task(task)
    name = spec.name
    if labels is not None and not spec.uses_candidates:
        with_labels = task_list(lambda t: t.uses_candidates, "and")
        raise EmoxError(f"--labels: task {name} has no candidate labels (only {with_labels})")
    if (history or context) and not spec.reads_dialogue:
        dialogue = task_list(lambda t: t.reads_dialogue, "and")
        raise EmoxError(f"--{'history' if history else 'context'}: only {dialogue} reads a dialogue (task is {name})")
    fields = spec.input_fields(subtitle=subtitle, context=context)
    if labels is not None:
        fields["candidate_labels"] = ", ".join(labels)
    kind = "audio" if clip.suffix.lower() in AUDIO_SUFFIXES else "video"
    media: dict[str, str | None] = {"video": None, "audio": None, kind: relative}
    return Sample(id=relative, task=name, split="test", dataset="", media=media, target="", subtitle=subtitle,
                  history=list(history), prompt_fields=fields)


def candidates_of(sample: Sample) -> list[str] | None:
    """The candidate labels the sample's prompt offered (None: the task's defaults)."""
    return parse_labels(sample.prompt_fields.get("candidate_labels"))


def media_summary(media: ClipMedia | None) -> dict[str, Any]:
    if media is None:
        return {"missing": ["video", "audio", "face"]}
    return {"missing": media.missing, "video_seconds": round(media.video_seconds, 3),
            "audio_seconds": round(media.audio_seconds, 3)}


# ---------------------------------------------------------------------------------------------- generation
def generate_answers(model: NanoEmoXForConditionalGeneration, processor: NanoEmoXProcessor,
                     samples: Sequence[Sample], media: Sequence[ClipMedia | None], settings: GenerationSettings,
                     streamer: Any = None) -> list[str]:
    """Generate for samples of one task in a single left-padded batch; returns the decoded answers."""
    from emox_core.samples import sample_to_example

    tasks = {s.task for s in samples}
    if len(tasks) != 1:
        raise ValueError(f"one batch must hold one task, got {sorted(tasks)}")
    examples = [sample_to_example(s, processor, m, with_target=False) for s, m in zip(samples, media, strict=True)]
    batch = processor(examples, padding_side="left")
    device = model.device
    batch = {k: v.to(device) for k, v in batch.items()}
    if settings.do_sample:
        torch.manual_seed(settings.seed)
    ids = model.generate(**batch, **settings.generate_kwargs(tasks.pop(), processor), streamer=streamer)
    return [processor.decode(row) for row in ids]


def to_prediction(sample: Sample, text: str, model_name: str, settings: GenerationSettings,
                  media: ClipMedia | None) -> Prediction:
    """Parse a generated answer for its task (label, labels, thinking, reply)."""
    parsed = get_task(sample.task).parse(text, candidates_of(sample))
    prediction = Prediction(
        id=sample.id, task=sample.task, prediction=parsed.text, label=parsed.label, labels=list(parsed.labels),
        thinking=parsed.thinking, reply=parsed.reply, dataset=sample.dataset or None, model=model_name,
        generation=settings.as_dict(sample.task), media=media_summary(media))
    validate_prediction(prediction.to_record())
    return prediction


def extract_media(clip: str | os.PathLike[str], processor: NanoEmoXProcessor) -> ClipMedia:
    """Frames, 16 kHz audio and face input of a clip, exactly as ``emox prepare media`` extracts them."""
    from emox_core.media.decode import load_clip

    return load_clip(clip, processor.media_settings())


def predict_clip(model: NanoEmoXForConditionalGeneration, processor: NanoEmoXProcessor,
                 clip_path: str | os.PathLike[str], task: str, *, subtitle: str = "",
                 history: Sequence[dict[str, str]] = (), labels: str | Sequence[str] | None = None,
                 context: str = "", settings: GenerationSettings | None = None, streamer: Any = None,
                 media: ClipMedia | None = None, model_name: str = "") -> Prediction:
    """Answer ``task`` about one raw clip. ``media`` skips extraction (already done, e.g. under a spinner);
    ``streamer`` is any transformers streamer (see :func:`~emox_core.inference.runtime.answer_streamer`)."""
    settings = settings or GenerationSettings()
    sample = clip_sample(clip_path, task, subtitle=subtitle, history=history, labels=parse_labels(labels),
                         context=context)
    if media is None:
        media = extract_media(clip_path, processor)
    text = generate_answers(model, processor, [sample], [media], settings, streamer)[0]
    return to_prediction(sample, text, model_name or _model_name(model), settings, media)


# ---------------------------------------------------------------------------------------------- batches
@dataclass
class BatchReport:
    """What a batch run did: written now, already present (skipped), and clips that failed (id, error)."""

    out_path: Path
    total: int = 0
    written: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    failures_path: Path | None = None


# How every line emox writes begins (json.dumps of Prediction.to_record: ``id`` is the first field).
_RECORD_START = b'{"id": '


class PredictionsFile:
    """The append-only predictions JSONL. On open, a torn last line (a crash mid-write) is cut off; each
    :meth:`append` writes whole lines, then flushes and fsyncs, so a crash loses at most that batch.

    An existing file is only appended to (or its torn line cut) when it is recognisably emox's: every
    whole line a prediction record, the torn rest the start of one. Anything else is refused untouched.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.done: set[str] = set()
        if self.path.exists() or self.path.is_symlink():
            if not self.path.is_file():
                raise EmoxError(f"{self.path}: --out exists and is not a regular file; choose another --out")
            self._recover()

    def _recover(self) -> None:
        data = self.path.read_bytes()
        whole = data.rfind(b"\n") + 1  # bytes after the last newline are a torn write
        for number, line in enumerate(data[:whole].decode("utf-8", errors="replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if not _is_prediction(record):
                raise EmoxError(f"{self.path}:{number}: not a prediction line (not a file emox infer wrote?); "
                                "fix it, or choose another --out")
            self.done.add(record["id"])
        torn = data[whole:]
        if torn and not (torn.startswith(_RECORD_START) or _RECORD_START.startswith(torn)):
            raise EmoxError(f"{self.path}: not an emox predictions file (its last line is not a prediction "
                            "record); choose another --out")
        if whole < len(data):
            with open(self.path, "r+b") as handle:
                handle.truncate(whole)
                os.fsync(handle.fileno())

    def append(self, predictions: Sequence[Prediction]) -> None:
        if not predictions:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = "".join(json.dumps(p.to_record(), ensure_ascii=False) + "\n" for p in predictions)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        self.done.update(p.id for p in predictions)


def _is_prediction(record: Any) -> bool:
    """Whether a decoded line is a record emox infer wrote (the fields every prediction has)."""
    return (isinstance(record, dict) and isinstance(record.get("id"), str)
            and isinstance(record.get("task"), str) and "prediction" in record)


def predict_manifest(model: ModelArg, manifest: str | os.PathLike[str], out_path: str | os.PathLike[str],
                     batch_size: int = 8, data_root: str | os.PathLike[str] | None = None, *,
                     processor: NanoEmoXProcessor | None = None, settings: GenerationSettings | None = None,
                     device: str = "auto", dtype: str = "auto", cache_dir: str | os.PathLike[str] | None = None,
                     on_batch: Callable[[BatchReport], None] | None = None, media_workers: int = 1) -> BatchReport:
    """Predict every sample of a manifest (a ``.jsonl``, or a prepared directory holding
    ``manifest-test.jsonl``) into ``out_path``; ids already there are skipped. ``model`` is a model
    directory / hub id, or a loaded model (then pass ``processor``). ``data_root`` defaults to the
    ``data_root`` of ``stats.json`` beside the manifest; ``cache_dir`` reuses ``emox prepare media``'s cache."""
    from emox_core.data.manifest import manifest_data_root, read_manifest

    manifest_path = manifest_file(manifest)
    if Path(out_path).resolve() == manifest_path.resolve():
        raise EmoxError(f"{out_path}: --out is the input manifest; choose another file for the predictions")
    samples = read_manifest(manifest_path)
    root = manifest_data_root(manifest_path, data_root)
    return predict_samples(model, samples, root, out_path, batch_size, processor=processor, settings=settings,
                           device=device, dtype=dtype, cache_dir=cache_dir, on_batch=on_batch,
                           media_workers=media_workers)


def predict_folder(model: ModelArg, folder: str | os.PathLike[str], task: str, out_path: str | os.PathLike[str],
                   batch_size: int = 8, *, subtitle: str = "", labels: str | Sequence[str] | None = None,
                   history: Sequence[dict[str, str]] = (), context: str = "",
                   processor: NanoEmoXProcessor | None = None, settings: GenerationSettings | None = None,
                   device: str = "auto", dtype: str = "auto", cache_dir: str | os.PathLike[str] | None = None,
                   on_batch: Callable[[BatchReport], None] | None = None, media_workers: int = 1) -> BatchReport:
    """Predict ``task`` for every file under ``folder`` (ids = relative paths); files that are not
    readable clips are reported as failures, not fatal."""
    from emox_core.media.prepare import jobs_from_folder

    out = Path(out_path).resolve()
    own = {out, failures_path(out)}
    candidates = parse_labels(labels)
    samples = [clip_sample(job.path, task, root=folder, subtitle=subtitle, history=history, labels=candidates,
                           context=context)
               for job in jobs_from_folder(folder) if Path(job.path).resolve() not in own]
    if not samples:
        raise EmoxError(f"{folder}: no clips found")
    return predict_samples(model, samples, Path(folder), out_path, batch_size, processor=processor,
                           settings=settings, device=device, dtype=dtype, cache_dir=cache_dir, on_batch=on_batch,
                           media_workers=media_workers)


def predict_samples(model: ModelArg, samples: Sequence[Sample], data_root: Path, out_path: str | os.PathLike[str],
                    batch_size: int = 8, *, processor: NanoEmoXProcessor | None = None,
                    settings: GenerationSettings | None = None, device: str = "auto", dtype: str = "auto",
                    cache_dir: str | os.PathLike[str] | None = None,
                    on_batch: Callable[[BatchReport], None] | None = None, media_workers: int = 1) -> BatchReport:
    """The batch loop behind :func:`predict_manifest` and :func:`predict_folder`: batches of one task, the
    media of the next batches read by ``media_workers`` processes while the current one generates (0: read
    in this process, between batches)."""
    if batch_size < 1:
        raise EmoxError("--batch-size: must be >= 1")
    settings = settings or GenerationSettings()
    with exclusive(out_path, "predictions file", hint="; wait for it or choose another --out"):
        out = PredictionsFile(out_path)
        _check_failures_file(out.path)
        report = BatchReport(out.path, total=len(samples))
        todo = [s for s in samples if s.id not in out.done]
        report.skipped = len(samples) - len(todo)
        if todo:
            model, processor, name = _resolve_model(model, processor, device, dtype)
            reader = _BatchReader(list(_task_batches(todo, batch_size)), data_root, processor, cache_dir)
            for loaded in reader.batches(media_workers):
                report.failed += [(s.id, error) for s, _, error in loaded if error is not None]
                ready = [(s, m) for s, m, error in loaded if error is None]
                out.append(_predict_loaded(model, processor, ready, settings, name, report))
                report.written = len(out.done) - report.skipped
                if on_batch is not None:
                    on_batch(report)
        report.failures_path = _write_failures(out.path, report.failed)
        return report


LoadedBatch = list[tuple["Sample", "ClipMedia | None", "str | None"]]


class _BatchReader(torch.utils.data.Dataset):
    """Batch i -> its samples with their media (or the error that made a clip unreadable). Read by a
    ``DataLoader``'s worker processes, so decoding overlaps generation without sharing the interpreter."""

    def __init__(self, batches: list[list[Sample]], data_root: Path, processor: NanoEmoXProcessor,
                 cache_dir: str | os.PathLike[str] | None) -> None:
        self.batches_of_samples = batches
        self.data_root = data_root
        self.processor = processor
        self.cache_dir = cache_dir

    def __len__(self) -> int:
        return len(self.batches_of_samples)

    def __getitem__(self, index: int) -> LoadedBatch:
        from emox_core.samples import load_sample_media

        cache = _media_cache(self.cache_dir)
        loaded: LoadedBatch = []
        for sample in self.batches_of_samples[index]:
            try:
                loaded.append((sample, load_sample_media(sample, self.data_root, self.processor, cache), None))
            except EmoxError as exc:
                loaded.append((sample, None, str(exc)))
        if cache is not None:
            cache.save_hashes()  # merged under a lock, so every worker records what it hashed
        return loaded

    def batches(self, workers: int) -> Iterator[LoadedBatch]:
        """Every batch in order, read ``workers`` processes ahead (0: here, when asked for)."""
        if workers < 1 or len(self) < 2:
            yield from (self[i] for i in range(len(self)))
            return
        # A killed run must not leave its readers behind (an orphan blocks on its full result pipe and holds
        # the caller's stdout open): they exit with their parent, as emox prepare media's workers do.
        init = functools.partial(_init_reader, self.processor.media_settings().face_mode)
        loader = torch.utils.data.DataLoader(self, batch_size=None, shuffle=False, num_workers=workers,
                                             prefetch_factor=2, collate_fn=_as_is, worker_init_fn=init)
        yield from loader


def _as_is(batch: LoadedBatch) -> LoadedBatch:
    return batch


def _init_reader(face_mode: str, _worker_id: int) -> None:
    from emox_core.media.prepare import init_media_worker

    init_media_worker(face_mode)


def _predict_loaded(model: NanoEmoXForConditionalGeneration, processor: NanoEmoXProcessor,
                    ready: list[tuple[Sample, ClipMedia | None]], settings: GenerationSettings, name: str,
                    report: BatchReport) -> list[Prediction]:
    """Generate for a loaded batch; a sample the processor refuses (e.g. a prompt over max_length) is
    isolated by retrying the batch one sample at a time, then reported."""
    if not ready:
        return []
    samples, media = [s for s, _ in ready], [m for _, m in ready]
    try:
        texts = generate_answers(model, processor, samples, media, settings)
    except EmoxError as exc:
        if len(ready) == 1:
            report.failed.append((samples[0].id, str(exc)))
            return []
        return [p for item in ready for p in _predict_loaded(model, processor, [item], settings, name, report)]
    return [to_prediction(s, t, name, settings, m) for s, t, m in zip(samples, texts, media, strict=True)]


def _task_batches(samples: Sequence[Sample], batch_size: int) -> Iterator[list[Sample]]:
    """Batches that hold one task each (one prompt template, one max_new_tokens), in task order."""
    for task in TASKS:
        of_task = [s for s in samples if s.task == task]
        for start in range(0, len(of_task), batch_size):
            yield of_task[start:start + batch_size]


def _resolve_model(model: ModelArg, processor: NanoEmoXProcessor | None, device: str, dtype: str
                   ) -> tuple[NanoEmoXForConditionalGeneration, NanoEmoXProcessor, str]:
    if isinstance(model, (str, os.PathLike)):
        loaded, loaded_processor = load_for_inference(model, device, dtype)
        return loaded, loaded_processor, str(model)
    if processor is None:
        raise EmoxError("a loaded model needs its processor (processor=...)")
    return model, processor, _model_name(model)


def _model_name(model: NanoEmoXForConditionalGeneration) -> str:
    return str(getattr(model, "name_or_path", "") or getattr(model.config, "_name_or_path", "") or "in-memory")


def _media_cache(cache_dir: str | os.PathLike[str] | None) -> MediaCache | None:
    if cache_dir is None:
        return None
    from emox_core.media.cache import MediaCache

    return MediaCache(cache_dir)


def failures_path(out_path: str | os.PathLike[str]) -> Path:
    """Where a batch run lists the clips it could not read: ``preds.failures.json`` beside ``preds.jsonl``."""
    out = Path(out_path)
    return out.with_name(out.name.removesuffix(".jsonl") + ".failures.json")


def _check_failures_file(out_path: Path) -> None:
    """Refuse to run when the failures file's name is taken by a file emox did not write (it would be
    replaced or deleted at the end)."""
    path = failures_path(out_path)
    if not path.exists():
        return
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        records = None
    if not (isinstance(records, list) and all(isinstance(r, dict) and set(r) == {"id", "error"} for r in records)):
        raise EmoxError(f"{path}: exists and is not an emox failures list (emox writes it beside --out); "
                        "move it or choose another --out")


def _write_failures(out_path: Path, failed: list[tuple[str, str]]) -> Path | None:
    path = failures_path(out_path)
    if not failed:
        path.unlink(missing_ok=True)
        return None
    atomic_write_json(path, [{"id": sample_id, "error": error} for sample_id, error in failed])
    return path


def manifest_file(manifest: str | os.PathLike[str]) -> Path:
    """A manifest path as given, or ``manifest-test.jsonl`` inside a prepared dataset directory."""
    path = Path(manifest)
    if path.is_dir():
        path = path / "manifest-test.jsonl"
        if not path.is_file():
            raise EmoxError(f"{manifest}: directory without manifest-test.jsonl (pass the manifest file)")
    return require_file(path, "manifest")
