"""Whether a saved model's adapters were ever trained, so ``emox infer``/``eval --model`` can say when a model
answers from untrained adapters (a fresh preset build: the tiny model's answers are byte-level noise).

Every writer of trained weights records where they come from: ``emox train`` puts ``phase`` and ``emox convert
official`` puts ``converted_from`` into the adapters file's safetensors metadata, and ``emox export`` carries that
record into the full directory's ``config.json`` (:data:`CONFIG_KEY`). A directory with none of these was
saved from a fresh build (or by a custom loop that did not pass ``phase=`` to ``save_model``).
"""

from __future__ import annotations

import json
from pathlib import Path

from emox_core.modeling.adapters import ADAPTERS_FILE, CONFIG_FILE

# config.json key of a full (exported) directory's record.
CONFIG_KEY = "emox_training"


def training_record(directory: str | Path) -> str | None:
    """How the model's adapters got their weights ("trained in phase 3", "converted from ckpt.pth"), or None
    when nothing says they were trained. Reads only the config and the safetensors header."""
    directory = Path(directory)
    try:
        config = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    if isinstance(config, dict) and config.get(CONFIG_KEY):
        return str(config[CONFIG_KEY])
    metadata = _adapters_metadata(directory / ADAPTERS_FILE)
    if metadata.get("phase"):
        return f"trained in phase {metadata['phase']}"
    if metadata.get("converted_from"):
        return f"converted from {metadata['converted_from']}"
    return None


def untrained_warning(directory: str | Path, name: str | None = None) -> str | None:
    """The one-line warning for a model directory whose adapters carry no training record (None: trained, or
    not a model directory, e.g. a training output holding only ``checkpoint-N`` folders)."""
    if not (Path(directory) / CONFIG_FILE).is_file() or training_record(directory) is not None:
        return None
    return (f"{name or directory}: its adapters were never trained (no emox train or emox convert record), so "
            "its answers are not meaningful; no Nano-EmoX checkpoint is released yet (README: What you can do today)")


def _adapters_metadata(file: Path) -> dict[str, str]:
    if not file.is_file():
        return {}
    from safetensors import safe_open

    try:
        with safe_open(str(file), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except Exception:  # noqa: BLE001 - a damaged file: the loader reports it properly
        return {}
