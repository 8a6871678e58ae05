"""Frozen-encoder feature cache: the encoders never train, so their outputs are computed once and read back.

Per sample it stores the :class:`~emox_core.modeling.modeling_nano_emox.MediaFeatures` the trainable branches
read (CLS token per frame and fusion layer, HuBERT segment means per layer, face vectors) plus the
modality mask, as one safetensors file. The cache root holds ``feature_key.json``: the encoders' configs, a
fingerprint of their weights, the media settings and the feature-selection fields of the model config.
A cache built with any other key is refused (never silently used).

Layout::

    feature_key.json                       what these features were computed with
    media/hashes.json                      media file -> sha256 memo (MediaCache's)
    entries/<k[:2]>/<k>.safetensors        k = sha256 of the sample's media file hashes
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from emox_core.errors import EmoxError
from emox_core.fileio import atomic_write_bytes, atomic_write_json

if TYPE_CHECKING:
    from emox_core.media.cache import MediaCache

KEY_FILE = "feature_key.json"
FEATURE_FORMAT = 1
# Config fields that change what encode_media returns.
_SELECTION_FIELDS = ("use_vision", "use_speech", "use_face", "use_fusion", "vision_feature_layer",
                     "vision_feature_source", "speech_feature_last_n", "speech_feature_source",
                     "fusion_vision_layers", "fusion_speech_layers")


def weights_fingerprint(module: torch.nn.Module) -> str:
    """A cheap fingerprint of a frozen tower's weights: names, shapes, dtypes, the sum and the first
    4096 values of every tensor (different checkpoints differ in all of them)."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        flat = tensor.detach().reshape(-1)
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        if flat.numel():
            digest.update(flat[:4096].float().cpu().numpy().tobytes())
            digest.update(repr(round(float(flat.float().sum()), 4)).encode())
    return digest.hexdigest()[:16]


def feature_key(model: Any, processor: Any) -> dict[str, Any]:
    """Everything the cached features depend on."""
    towers = {}
    for name in ("vision_tower", "speech_tower", "face_tower"):
        tower = getattr(model, name)
        if tower is not None:
            towers[name] = {"config": json.loads(tower.config.to_json_string(use_diff=False)),
                            "weights": weights_fingerprint(tower)}
    settings = processor.media_settings()
    return {"format": FEATURE_FORMAT, "towers": towers, "media": settings.to_dict(),
            "media_fingerprint": settings.fingerprint(),
            "audio_normalization": processor.settings.audio_normalization,
            "selection": {k: getattr(model.config, k) for k in _SELECTION_FIELDS}}


def key_hash(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


class FeatureCache:
    """The cache at ``root`` for one feature key; opening it with another key raises EmoxError."""

    def __init__(self, root: str | os.PathLike[str], key: dict[str, Any]) -> None:
        from emox_core.media.cache import MediaCache

        self.root = Path(root)
        self.key = key
        self.hash = key_hash(key)
        key_file = self.root / KEY_FILE
        if key_file.is_file():
            stored = json.loads(key_file.read_text())
            if key_hash(stored) != self.hash:
                differing = sorted(k for k in set(stored) | set(key) if stored.get(k) != key.get(k))
                raise EmoxError(
                    f"{self.root}: feature cache was built with key {key_hash(stored)} but this model and "
                    f"media settings need {self.hash} (differs in: {', '.join(differing)}); use another "
                    "feature_cache directory or delete this one")
        else:
            atomic_write_json(key_file, key)
        self.hashes = MediaCache(self.root / "media")

    def sample_key(self, sample: Any, data_root: str | os.PathLike[str]) -> str:
        """Content key of a sample's media: equal files share an entry, an edited file gets a new one."""
        key = sample_content_key(self.hashes, sample, data_root, hash_unknown=True)
        assert key is not None
        return key

    def path(self, sample_key: str) -> Path:
        return self.root / "entries" / sample_key[:2] / f"{sample_key}.safetensors"

    def get(self, sample_key: str) -> dict[str, torch.Tensor]:
        from safetensors.torch import load_file

        path = self.path(sample_key)
        if not path.is_file():
            raise EmoxError(f"{path}: feature cache entry missing (run 'emox prepare features' again)")
        return load_file(str(path))

    def put(self, sample_key: str, tensors: dict[str, torch.Tensor]) -> None:
        from safetensors.torch import save

        atomic_write_bytes(self.path(sample_key), save({k: v.contiguous().cpu() for k, v in tensors.items()}))


def sample_content_key(hashes: MediaCache, sample: Any, data_root: str | os.PathLike[str],
                       hash_unknown: bool = True) -> str | None:
    """The feature-cache key of a sample's media files (their sha256, memoised in ``hashes``); with
    ``hash_unknown=False`` a file whose hash is not memoised gives None instead of being read."""
    parts = []
    for kind in ("video", "audio"):
        path = sample.media_path(data_root, kind)
        if path is None:
            parts.append("-")
            continue
        sha = hashes.file_hash(path) if hash_unknown else hashes.known_hash(path) if path.exists() else None
        if sha is None:
            return None
        parts.append(sha)
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def encode_example(model: Any, processor: Any, example: Any) -> dict[str, torch.Tensor]:
    """One example's encoder outputs (no batch dim) + its ``modality_mask``, as the cache stores them."""
    media = processor.media_tensors([example])
    device = next(model.parameters()).device
    features = model.encode_media(*(media[k].to(device) if k in media else None
                                    for k in ("pixel_values", "input_values", "pixel_values_videos")))
    out = {f.name: getattr(features, f.name)[0] for f in fields(features) if getattr(features, f.name) is not None}
    out["modality_mask"] = media["modality_mask"][0]
    return out


def fill_cache(cache: FeatureCache, model: Any, processor: Any, dataset: Any, rank: int = 0, world: int = 1,
               progress: Callable[[int, int], None] | None = None) -> int:
    """Compute the missing entries for the samples of ``dataset`` (anything with ``items`` and ``example(i)``,
    i.e. the trainer's data set); rank ``r`` of ``world`` takes every ``world``-th sample. Returns the number
    computed here."""
    computed = 0
    mine = range(rank, len(dataset.items), world)
    for done, index in enumerate(mine, start=1):
        item = dataset.items[index]
        key = cache.sample_key(item.sample, item.source.root())
        if not cache.path(key).is_file():
            cache.put(key, encode_example(model, processor, dataset.example(index)))
            computed += 1
        if progress is not None:
            progress(done, len(mine))
    cache.hashes.save_hashes()
    return computed
