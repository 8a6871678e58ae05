"""Whether a backbone can be loaded on this machine without building anything: ``"random"``, a local directory
or ``.gguf`` file, or a hub id already in the Hugging Face cache (or downloadable, when the hub is not switched
off). Read by ``emox doctor`` and by the checks ``emox train`` runs before it builds a model; file checks only,
nothing is loaded or downloaded.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from emox_core.modeling.backbones import FACEXFORMER_FILES, RANDOM_SOURCE

# Files a hub snapshot must hold for each backbone: one of each group (a sharded checkpoint's index lists more).
_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
_HUB_FILES: dict[str, tuple[tuple[str, ...], ...]] = {
    "vision": (("config.json",), _WEIGHTS),
    "speech": (("config.json",), _WEIGHTS),
    "text": (("config.json",), _WEIGHTS, ("tokenizer.json", "tokenizer_config.json")),
    "face": ((FACEXFORMER_FILES[1],),),
}
_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")


def is_hub_id(source: str) -> bool:
    """``owner/name`` that is not a local path: a Hugging Face hub id."""
    return bool(_HUB_ID.fullmatch(source)) and not Path(source).expanduser().exists()


@dataclass(frozen=True)
class BackboneStatus:
    """Where a backbone's weights would come from. ``available``: loadable offline now; ``downloadable``: a hub
    id that is not cached but would be fetched (the hub is not switched off)."""

    name: str
    source: str
    available: bool
    where: str
    size_bytes: int | None = None
    downloadable: bool = False

    @property
    def usable(self) -> bool:
        return self.available or self.downloadable


def hub_offline() -> bool:
    """Whether the Hugging Face hub is switched off (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE``)."""
    return any(os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
               for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def backbone_status(name: str, source: str) -> BackboneStatus:
    """Check one backbone source (``name``: vision, speech, face or text)."""
    source = str(source)
    if source == RANDOM_SOURCE:
        return BackboneStatus(name, source, True, "seeded random weights", 0)
    path = Path(source).expanduser()
    if path.exists():
        return _local_status(name, source, path)
    if not is_hub_id(source):
        return BackboneStatus(name, source, False, "no such file or directory")
    snapshot = _cached_snapshot(source, _HUB_FILES[name])
    if snapshot is not None:
        return BackboneStatus(name, source, True, f"hub cache ({snapshot})", _size(snapshot))
    if hub_offline():
        return BackboneStatus(name, source, False, "not in the hub cache, and the hub is offline")
    return BackboneStatus(name, source, False, "not in the hub cache (downloaded on first use)", downloadable=True)


def _local_status(name: str, source: str, path: Path) -> BackboneStatus:
    if path.is_file():
        ok = name == "text" and path.suffix == ".gguf" or name == "face" and path.suffix in (".pt", ".pth")
        return BackboneStatus(name, source, ok, "local file" if ok else f"a {path.suffix or 'plain'} file is not a "
                              f"{name} backbone", path.stat().st_size)
    if name == "face":
        ok = (path / "config.json").is_file() or any((path / f).is_file() for f in FACEXFORMER_FILES)
        problem = "no model.pt, ckpts/model.pt or config.json in it"
    else:
        ok = (path / "config.json").is_file()
        problem = "no config.json in it"
    return BackboneStatus(name, source, ok, "local directory" if ok else f"local directory, {problem}", _size(path))


def _cached_snapshot(repo_id: str, groups: tuple[tuple[str, ...], ...]) -> Path | None:
    """The cached snapshot folder of ``repo_id`` holding one file of each group, else None."""
    from huggingface_hub import try_to_load_from_cache

    folder: Path | None = None
    for group in groups:
        found = [p for f in group if isinstance(p := try_to_load_from_cache(repo_id, f), str)]
        if not found:
            return None
        file = Path(found[0])
        if file.name.endswith(".index.json") and not _shards_present(file):
            return None
        folder = folder or file.parents[len(Path(group[0]).parts) - 1]
    return folder


def _shards_present(index: Path) -> bool:
    import json

    try:
        shards = set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
    except (OSError, ValueError, KeyError, AttributeError):
        return False
    return all((index.parent / shard).is_file() for shard in shards)


def _size(path: Path) -> int:
    """Bytes of a file or of every file under a folder (hub snapshots hold links to blobs: followed)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _, files in os.walk(path):
        for file in files:
            try:
                total += (Path(root) / file).stat().st_size
            except OSError:
                continue
    return total
