"""What the trainer reads: the recipe's manifests as one indexable set, the mixture sampler that draws
from them with the recipe's weights, and the collator that turns samples into model batches (raw media,
or the frozen encoders' cached outputs)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from emox_core.data.manifest import Sample, read_manifest
from emox_core.errors import EmoxError
from emox_core.modeling.modeling_nano_emox import MediaFeatures
from emox_core.processing import IGNORE_INDEX, Example, NanoEmoXProcessor
from emox_core.samples import load_sample_media, sample_to_example
from emox_core.training.features import FeatureCache
from emox_core.training.recipe import DataSource

MEDIA_KEYS = ("pixel_values", "input_values", "pixel_values_videos")


class MixtureSampler(Sampler[int]):
    """Draws ``num_samples`` indices of a concatenated set: each draw picks a source with probability
    proportional to its weight, then the next sample of that source's current shuffle (a new shuffle
    when one is used up). The order is a pure function of the seed; ``start`` skips the first draws,
    which is how a resumed run continues exactly where the checkpoint left off."""

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

    def indices(self) -> Iterator[int]:
        """The whole sequence from position 0 (``__iter__`` skips ``start`` of it)."""
        rng = np.random.default_rng([self.seed, 0x5EED])
        orders = [rng.permutation(n) for n in self.sizes]
        cursors = [0] * len(self.sizes)
        for _ in range(self.num_samples):
            source = int(rng.choice(len(self.sizes), p=self.weights)) if len(self.sizes) > 1 else 0
            if cursors[source] == self.sizes[source]:
                orders[source] = rng.permutation(self.sizes[source])
                cursors[source] = 0
            yield self.offsets[source] + int(orders[source][cursors[source]])
            cursors[source] += 1

    def __iter__(self) -> Iterator[int]:
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
    """The sources concatenated; an item is the model input of one sample (media decoded through the media
    cache, or its cached encoder features) plus its index."""

    def __init__(self, sources: list[list[Item]], processor: NanoEmoXProcessor,
                 features: FeatureCache | None = None, media_cache: str | None = None) -> None:
        self.items = [item for items in sources for item in items]
        self.sizes = [len(items) for items in sources]
        self.processor = processor
        self.features = features
        self.media_cache = media_cache

    def __len__(self) -> int:
        return len(self.items)

    def example(self, index: int, with_media: bool = True) -> Example:
        from emox_core.media.cache import MediaCache

        item = self.items[index]
        media = None
        if with_media:
            cache = MediaCache(self.media_cache) if self.media_cache else None
            media = load_sample_media(item.sample, item.source.root(), self.processor, cache)
        return sample_to_example(item.sample, self.processor, media, item.source.layout)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if self.features is None:
            return {"index": index, "example": self.example(index)}
        item = self.items[index]
        cached = self.features.get(self.features.sample_key(item.sample, item.source.root()))
        return {"index": index, "example": self.example(index, with_media=False), "features": cached}

    def fingerprint(self) -> str:
        """Identifies the sample list (ids and sources); stored with the sampler state."""
        ids = [f"{item.name}:{item.sample.id}" for item in self.items]
        return hashlib.sha256(json.dumps(ids).encode()).hexdigest()[:16]


class Collator:
    """Items -> one batch dict for :meth:`NanoEmoXForConditionalGeneration.forward` (+ ``sample_index``)."""

    def __init__(self, processor: NanoEmoXProcessor) -> None:
        self.processor = processor

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = self.processor([item["example"] for item in items], padding_side="right")
        if "labels" not in batch:
            batch["labels"] = torch.full_like(batch["input_ids"], IGNORE_INDEX)
        batch["sample_index"] = torch.tensor([item["index"] for item in items])
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


def source_summary(sources: list[list[Item]]) -> list[tuple[str, int, float]]:
    """(source name, samples, share of draws) per source, for the start-of-run lines."""
    total = sum(items[0].source.weight for items in sources)
    return [(items[0].name, len(items), items[0].source.weight / total) for items in sources]
