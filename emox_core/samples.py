"""From a manifest :class:`~emox_core.data.manifest.Sample` to a model :class:`~emox_core.processing.Example`:
its prompt (task, layout, subtitle, history, fields) and its media (through the media cache). Training,
``emox eval --model`` and ``emox infer --manifest`` all build their inputs here."""

from __future__ import annotations

import os

from emox_core.data.manifest import Sample
from emox_core.media.cache import MediaCache, default_cache_root
from emox_core.media.decode import ClipMedia
from emox_core.processing import Example, NanoEmoXProcessor
from emox_core.tasks import get_task

# Datasets whose every sample is a dialogue turn: AvaMERG's MER samples, derived from its turns, are asked
# with the dialogue-history layout like its ERG samples.
DIALOGUE_DATASETS = frozenset({"avamerg"})


def layout_for(sample: Sample, default: str = "multimodal") -> str:
    """The prompt layout of a sample: its task's own layout (the registry's ``Task.layout``), the dialogue
    layout for a dialogue dataset, ``default`` otherwise (a recipe sets ``audio_text`` for phase 1.1 and
    ``face_frame`` for phase 1.2)."""
    task_layout = get_task(sample.task).layout
    if task_layout is not None:
        return task_layout
    return "dialogue" if sample.dataset.lower() in DIALOGUE_DATASETS else default


def build_prompt(sample: Sample, processor: NanoEmoXProcessor, layout: str = "multimodal", variant: int = 0) -> str:
    """The prompt text of ``sample``; a ``question`` prompt field is used verbatim, otherwise the task's
    template (``variant`` picks among its training phrasings)."""
    fields = dict(sample.prompt_fields)
    question = fields.pop("question", None)
    labels = fields.pop("candidate_labels", None)
    return processor.build_prompt(sample.task, layout=layout_for(sample, layout), subtitle=sample.subtitle,
                                  history=sample.history, labels=labels, question=question, variant=variant,
                                  **fields)


def load_sample_media(sample: Sample, data_root: str | os.PathLike[str], processor: NanoEmoXProcessor,
                      cache: MediaCache | None = None) -> ClipMedia:
    """The sample's frames/faces (from its video) and waveform (from its audio file, else the video),
    read through the media cache (``None``: the default cache root, shared with ``emox prepare media``)."""
    cache = cache if cache is not None else MediaCache(default_cache_root())
    return cache.get_sample(sample.media_path(data_root, "video"), sample.media_path(data_root, "audio"),
                            processor.media_settings())


def sample_to_example(sample: Sample, processor: NanoEmoXProcessor, media: ClipMedia | None,
                      layout: str = "multimodal", with_target: bool = True, variant: int = 0) -> Example:
    """Prompt + target + media arrays of one sample (``media=None``: a text-only example)."""
    return Example(
        prompt=build_prompt(sample, processor, layout, variant),
        target=sample.target if with_target and sample.target else None,
        frames=None if media is None else media.frames,
        audio=None if media is None else media.waveform,
        faces=None if media is None else media.faces,
    )
