"""What the trainer reads: the recipe's manifests as one indexable set, the mixture sampler that draws
from them with the recipe's weights, and the collator that turns samples into model batches (raw media,
or the frozen encoders' cached outputs).

Two things the official loader does on every draw are done here, deterministically: the question is one of
the task's training phrasings at random (4 for ERI, 5 for OV-MER; ``random.choice`` in the official
``base_dataset.py``), and an over-length sample is skipped for another draw from the same source (official:
up to 10 tries). Both follow from the draw's own random number, which the sampler yields with the index, so a
resumed run asks the same questions and skips the same samples as an uninterrupted one.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from emox_core.data.manifest import Sample, read_manifest
from emox_core.errors import EmoxError
from emox_core.modeling.modeling_nano_emox import MediaFeatures
from emox_core.processing import IGNORE_INDEX, Example, NanoEmoXProcessor
from emox_core.samples import load_sample_media, sample_to_example
from emox_core.tasks import get_task
from emox_core.training.recipe import DataSource

if TYPE_CHECKING:
    from emox_core.training.features import FeatureCache

MEDIA_KEYS = ("pixel_values", "input_values", "pixel_values_videos")
# Draws tried for one position before an over-length streak is an error (the official loader's retry count).
MAX_DRAWS = 10


class MixtureSampler(Sampler[tuple[int, int]]):
    """Draws ``num_samples`` indices of a concatenated set: each draw picks a source with probability
    proportional to its weight, then the next sample of that source's current shuffle (a new shuffle
    when one is used up). Each index comes with the draw's own random number (question variant,
    replacement of an over-length sample). Both are a pure function of the seed; ``start`` skips the first
    draws, which is how a resumed run continues exactly where the checkpoint left off."""

    def __init__(self, sizes: Sequence[int], weights: Sequence[float], seed: int, num_samples: int,
                 start: int = 0) -> None:
        if len(sizes) != len(weights) or not sizes or min(sizes) < 1:
            raise EmoxError("data: every source needs at least one sample")
        self.sizes = list(sizes)
        self.offsets = np.cumsum([0, *self.sizes])[:-1].tolist()
        total = float(sum(weights))
        self.weights = [w / total for w in weights]
        self.seed = seed
        self.num_samples = num_samples
        self.start = start

    def indices(self) -> Iterator[tuple[int, int]]:
        """The whole sequence of (index, draw number) from position 0 (``__iter__`` skips ``start`` of it)."""
        rng = np.random.default_rng([self.seed, 0x5EED])
        draws = np.random.default_rng([self.seed, 0xD4A5])  # a stream of its own: the order stays as it was
        orders = [rng.permutation(n) for n in self.sizes]
        cursors = [0] * len(self.sizes)
        for _ in range(self.num_samples):
            source = int(rng.choice(len(self.sizes), p=self.weights)) if len(self.sizes) > 1 else 0
            if cursors[source] == self.sizes[source]:
                orders[source] = rng.permutation(self.sizes[source])
                cursors[source] = 0
            yield self.offsets[source] + int(orders[source][cursors[source]]), int(draws.integers(2**31))
            cursors[source] += 1

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for position, index in enumerate(self.indices()):
            if position >= self.start:
                yield index

    def __len__(self) -> int:
        # The full length, so the trainer's step and epoch arithmetic is the same before and after a resume.
        return self.num_samples

    def state_dict(self, position: int) -> dict[str, Any]:
        """What a checkpoint stores: the position plus what must match for the order to be the same."""
        return {"position": position, "seed": self.seed, "sizes": self.sizes, "weights": self.weights,
                "num_samples": self.num_samples}

    def load_state_dict(self, state: dict[str, Any], where: str) -> None:
        mine = self.state_dict(state.get("position", 0))
        changed = [k for k in ("seed", "sizes", "num_samples") if state.get(k) != mine[k]]
        if not changed and not np.allclose(state.get("weights", []), self.weights):
            changed = ["weights"]
        if changed:
            raise EmoxError(f"{where}: the checkpoint's sampler had other {', '.join(changed)} "
                            f"({', '.join(f'{k}={state.get(k)}' for k in changed)}); resume with the same recipe")
        self.start = int(state["position"])


@dataclass
class Item:
    name: str
    source: DataSource
    sample: Sample


def load_sources(sources: dict[str, DataSource], split: str = "train") -> list[list[Item]]:
    """Each source's samples of ``split`` (and of its task), writing a synthetic corpus first where the
    recipe asks for one."""
    from emox_core.training.synthetic import write_synthetic_corpus

    out = []
    for name, source in sources.items():
        manifest = source.manifest_path()
        if source.synthetic and not manifest.is_file():
            write_synthetic_corpus(source.root(), source.synthetic)
        samples = [s for s in read_manifest(manifest)
                   if s.split == split and (source.task is None or s.task == source.task)]
        if not samples:
            what = f"{split} samples" + (f" of task {source.task}" if source.task else "")
            raise EmoxError(f"data.{name} ({manifest}): no {what}")
        out.append([Item(name, source, s) for s in samples])
    return out


class TrainingSet(Dataset):
    """The sources concatenated. An item is drawn by ``(index, draw)`` (the sampler's pair; a bare index means
    draw 0): the model input of that sample, its question chosen by the draw, with media decoded through the
    media cache or read from the feature cache; an over-length sample is replaced by another of its source."""

    def __init__(self, sources: list[list[Item]], processor: NanoEmoXProcessor,
                 features: FeatureCache | None = None, media_cache: str | None = None) -> None:
        self.items = [item for items in sources for item in items]
        self.sizes = [len(items) for items in sources]
        self.names = [items[0].name for items in sources]
        self.offsets = np.cumsum([0, *self.sizes])[:-1].tolist()
        self.processor = processor
        self.features = features
        self.media_cache = media_cache

    def __len__(self) -> int:
        return len(self.items)

    def example(self, index: int, with_media: bool = True, draw: int = 0) -> Example:
        """Sample ``index`` as a model input, asking the training question that ``draw`` picks."""
        item = self.items[index]
        example = sample_to_example(item.sample, self.processor, None, item.source.layout, variant=draw)
        return replace(example, **self._media(item)) if with_media else example

    def _media(self, item: Item) -> dict[str, Any]:
        from emox_core.media.cache import MediaCache

        cache = MediaCache(self.media_cache) if self.media_cache else None
        media = load_sample_media(item.sample, item.source.root(), self.processor, cache)
        return {"frames": media.frames, "audio": media.waveform, "faces": media.faces}

    def question_index(self, index: int, draw: int) -> int:
        """Which of the sample's task questions the draw asks (-1: the manifest gives the question)."""
        sample = self.items[index].sample
        if "question" in sample.prompt_fields:
            return -1
        return draw % len(get_task(sample.task).questions)

    def resolve(self, index: int, draw: int) -> tuple[int, list[int]]:
        """The index actually trained on for this draw, and the over-length ones skipped before it (each
        replacement is a sample of the same source picked by the draw, as the official loader redraws)."""
        skipped: list[int] = []
        source = bisect.bisect_right(self.offsets, index) - 1
        rng = np.random.default_rng([draw, 0x5C1F])
        while not self.processor.fits(self.example(index, with_media=False, draw=draw)):
            skipped.append(index)
            if len(skipped) == MAX_DRAWS:
                item = self.items[skipped[0]]
                raise EmoxError(
                    f"data.{item.name}: {MAX_DRAWS} draws in a row exceed max_length "
                    f"{self.processor.settings.max_length} tokens (e.g. sample {item.sample.id}); shorten their "
                    "subtitles/histories or raise model.config.max_sequence_length")
            index = self.offsets[source] + int(rng.integers(self.sizes[source]))
        return index, skipped

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        index, draw = key if isinstance(key, tuple) else (key, 0)
        index, skipped = self.resolve(index, draw)
        out = {"index": index, "question": self.question_index(index, draw), "skipped": skipped}
        if self.features is None:
            return {**out, "example": self.example(index, draw=draw)}
        item = self.items[index]
        cached = self.features.get(self.features.sample_key(item.sample, item.source.root()))
        return {**out, "example": self.example(index, with_media=False, draw=draw), "features": cached}

    def fingerprint(self) -> str:
        """Identifies the sample list (ids and sources); stored with the sampler state."""
        ids = [f"{item.name}:{item.sample.id}" for item in self.items]
        return hashlib.sha256(json.dumps(ids).encode()).hexdigest()[:16]

    def sample_id(self, index: int) -> str:
        """``source:sample id`` of an index, as the train log names skipped samples."""
        return f"{self.items[index].name}:{self.items[index].sample.id}"


class Collator:
    """Items -> one batch dict for :meth:`NanoEmoXForConditionalGeneration.forward` (+ ``sample_index``)."""

    def __init__(self, processor: NanoEmoXProcessor) -> None:
        self.processor = processor

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = self.processor([item["example"] for item in items], padding_side="right")
        if "labels" not in batch:
            batch["labels"] = torch.full_like(batch["input_ids"], IGNORE_INDEX)
        batch["sample_index"] = torch.tensor([item["index"] for item in items])
        batch["sample_question"] = torch.tensor([item["question"] for item in items])
        batch["skipped_index"] = torch.tensor([i for item in items for i in item["skipped"]], dtype=torch.long)
        if "features" in items[0]:
            for key in MEDIA_KEYS:
                batch.pop(key, None)
            batch["modality_mask"] = torch.stack([item["features"]["modality_mask"].bool() for item in items])
            for f in fields(MediaFeatures):
                present = [item["features"].get(f.name) for item in items]
                template = next((t for t in present if t is not None), None)
                if template is not None:
                    batch[f"{f.name}_features"] = torch.stack(
                        [t if t is not None else torch.zeros_like(template) for t in present])
        return batch


def source_summary(dataset: TrainingSet, weights: Sequence[float]) -> list[tuple[str, int, float]]:
    """(source name, samples, share of draws) per source, for the start-of-run lines."""
    total = float(sum(weights))
    return [(name, size, weight / total) for name, size, weight in zip(dataset.names, dataset.sizes, weights,
                                                                      strict=True)]
