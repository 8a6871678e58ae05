"""The app's work without its UI: a model loaded once, and one question about a clip answered as a stream of
updates (what the model saw first, then the answer as it is generated, then what it was based on).

Everything goes through ``emox infer``'s code (:func:`~emox_core.inference.predict.predict_clip`,
:func:`~emox_core.inference.explain.explanation`), so the app answers exactly as the CLI does and a bad file
gives the CLI's one-line error.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emox_core.errors import EmoxError
from emox_core.tasks import ParsedAnswer, get_task

if TYPE_CHECKING:
    from emox_core.inference.runtime import GenerationSettings
    from emox_core.media.decode import ClipMedia

log = logging.getLogger(__name__)


@dataclass
class Question:
    """One request from the page. ``history`` is ERG's dialogue, ``speaker: ...`` / ``listener: ...`` lines."""

    clip: str | None
    task: str
    subtitle: str = ""
    context: str = ""
    history: str = ""


@dataclass
class Update:
    """What the page shows at one moment. ``answer`` is the visible answer so far (ERG: the reply, its
    ``<think>`` chain in ``thinking`` once done); ``error`` is the CLI's one-line error."""

    answer: str = ""
    done: bool = False
    error: str | None = None
    media: ClipMedia | None = None
    record: dict[str, Any] | None = None

    @property
    def thinking(self) -> str | None:
        return None if self.record is None else self.record.get("thinking")

    @property
    def label_line(self) -> str:
        """The task's summary line (``label: happy``, ``labels: a, b``); for a reply with a chain of empathy,
        the speaker's emotion it names; else empty."""
        if self.record is None:
            return ""
        task = get_task(self.record["task"])
        parsed = ParsedAnswer.from_record(self.record)
        if (summary := task.summary(parsed)) is not None:
            return summary
        if task.kind.has_thinking and parsed.label:
            return f"speaker emotion (from the chain of empathy): {parsed.label}"
        return ""


def error_line(error: Exception, clip: Path | None = None) -> str:
    """``emox: error: ...`` as the CLI prints it; the upload's temporary path is shown as its file name."""
    message = str(error)
    if clip is not None:
        message = message.replace(str(clip), clip.name)
    return f"emox: error: {message}"


class AppModel:
    """A loaded model and its processor (see :meth:`load`); :meth:`ask` answers one question at a time (the UI
    queues concurrent users)."""

    def __init__(self, model: Any, processor: Any, name: str, settings: GenerationSettings | None = None) -> None:
        from emox_core.inference import GenerationSettings

        self.model, self.processor, self.name = model, processor, name
        self.settings = settings or GenerationSettings()
        self._lock = threading.Lock()

    @classmethod
    def load(cls, model: str | Path, device: str = "auto", dtype: str = "auto",
             settings: GenerationSettings | None = None) -> AppModel:
        """Any model directory :func:`~emox_core.inference.runtime.load_for_inference` reads (trained, exported,
        converted, the demo's), or a hub id."""
        from emox_core.inference import load_for_inference
        from emox_core.inference.runtime import model_directory

        return cls(*load_for_inference(model_directory(model), device, dtype), str(model), settings)

    @property
    def face_mode(self) -> str:
        return self.processor.media_settings().face_mode

    def ask(self, question: Question) -> Iterator[Update]:
        """Updates for one question: the media as read, the streamed answer, then the final record (prediction
        + inputs used + fusion gate). Bad input ends the stream with one ``error`` update."""
        from emox_core.inference import extract_media
        from emox_core.inference.predict import parse_history

        clip = Path(question.clip) if question.clip else None
        try:
            if clip is None:
                raise EmoxError("clip: upload a video (or record one) first")
            spec = get_task(question.task)
            task = spec.name
            # the dialogue fields belong to a dialogue task; the page may keep them for the others
            dialogue = spec.reads_dialogue
            turns = (parse_history(question.history, "dialogue history")
                     if dialogue and question.history.strip() else [])
            media = extract_media(clip, self.processor)
        except EmoxError as exc:
            yield Update(error=error_line(exc, clip), done=True)
            return
        yield Update(media=media)
        options = {"subtitle": question.subtitle, "history": turns, "context": question.context if dialogue else ""}
        with self._lock:
            yield from self._generate(clip, task, media, options)

    def _generate(self, clip: Path, task: str, media: ClipMedia, options: dict[str, Any]) -> Iterator[Update]:
        """Generate in a worker thread; its streamer feeds the visible answer to this generator."""
        from emox_core.inference import answer_streamer, predict_clip
        from emox_core.inference.explain import explanation

        pieces: queue.Queue[str] = queue.Queue()
        outcome: dict[str, Any] = {}
        streamer = answer_streamer(self.processor, pieces.put, hide_thinking=get_task(task).kind.has_thinking)

        def work() -> None:
            try:
                outcome["prediction"] = predict_clip(
                    self.model, self.processor, clip, task, settings=self.settings, streamer=streamer,
                    media=media, model_name=self.name, **options)
            except Exception as exc:  # noqa: BLE001 - reported on the page as one line, logged in full
                outcome["error"] = exc

        worker = threading.Thread(target=work, name="emox-app-generate", daemon=True)
        worker.start()
        answer = ""
        try:
            while worker.is_alive() or not pieces.empty():
                try:
                    answer += pieces.get(timeout=0.1)
                except queue.Empty:
                    continue
                yield Update(answer=answer, media=media)
        finally:  # a visitor who leaves mid-answer: the model is free again only when this generation ends
            worker.join()
        if "error" in outcome:
            error = outcome["error"]
            if not isinstance(error, EmoxError):
                log.error("generation failed", exc_info=error)
            yield Update(answer=answer, error=error_line(error, clip), media=media, done=True)
            return
        prediction = outcome["prediction"]
        record = {**prediction.to_record(), **explanation(self.model, self.processor, media)}
        yield Update(answer=prediction.shown, media=media, record=record, done=True)
