"""Building the model a recipe names, and saving/loading a phase's model through the one saved-model format.

A checkpoint (``checkpoint-N/``) and a phase's final output are adapters directories
(:mod:`emox_core.modeling.adapters`): every adapter and LoRA weight (whatever the phase froze, so no weight is
ever lost between phases or on resume, LLaVA #1200), ``config.json`` naming the backbones, the processor, plus
the resolved ``recipe.yaml``. Checkpoints add the trainer state (optimizer, scheduler, RNG, ``sampler.json``).
A checkpoint directory appears only complete: it is written under ``.staging/`` and renamed into place.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from emox_core.errors import EmoxError
from emox_core.modeling.adapters import ADAPTERS_FILE
from emox_core.training.recipe import ModelSpec, Recipe, read_saved_recipe

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")


def resolve_precision(precision: str) -> str:
    """``auto``: bf16 where the GPU supports it (the official runs used fp16 AMP), else fp32."""
    if precision == "auto":
        return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32"
    return precision


def frozen_dtype(recipe: Recipe) -> torch.dtype | None:
    """The dtype of the frozen weights in a run of ``recipe`` (None: float32)."""
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(resolve_precision(recipe.precision))


def build_recipe_model(spec: ModelSpec, dtype: torch.dtype | None = None) -> tuple[Any, Any]:
    """The recipe's model, seeded with ``spec.build_seed`` (so random towers and untrained adapters are the
    same in every phase), then the previous phase's trainable weights from ``spec.init_from`` (any adapters
    directory: a phase output, a checkpoint, ``emox convert official``'s output).

    ``dtype`` is the frozen weights' dtype (bf16 for a bf16 run); adapters and LoRA stay float32.
    """
    from emox_core.modeling.loading import build_preset_model

    overrides = {"backbone_seed": spec.build_seed, **spec.config}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.build_seed)
        model, processor = build_preset_model(spec.preset, sources=dict(spec.backbones), dtype=dtype,
                                              config_overrides=overrides)
    if spec.init_from:
        source = Path(spec.init_from)
        if not (source / ADAPTERS_FILE).is_file():
            raise EmoxError(f"model.init_from {source}: no {ADAPTERS_FILE} (train the previous phase first)")
        model.load_adapters(source, strict=False)
    return model, processor


def save_trainable(model: Any, processor: Any, recipe: Recipe, directory: str | os.PathLike[str],
                   state_dict: dict[str, torch.Tensor] | None = None) -> Path:
    """Write the phase's model as an adapters directory (every adapter and LoRA weight, config, processor;
    see :mod:`emox_core.modeling.adapters`) and the resolved recipe beside it. ``state_dict`` is the gathered
    full state under DeepSpeed ZeRO-3."""
    from emox_core.modeling.loading import save_model

    directory = save_model(model, processor, directory, adapters_only=True, state_dict=state_dict,
                           phase=recipe.phase)
    recipe.save(directory)
    return directory


def load_trained(directory: str | os.PathLike[str], dtype: torch.dtype | None = None) -> tuple[Any, Any, Recipe]:
    """A phase output or checkpoint back as (model, processor, recipe)."""
    from emox_core.modeling.loading import load_model

    recipe = read_saved_recipe(directory)
    model, processor = load_model(directory, dtype)
    return model, processor, recipe


def list_checkpoints(output_dir: str | os.PathLike[str]) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = Path(output_dir)
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := CHECKPOINT_RE.match(p.name))] \
        if root.is_dir() else []
    return [p for _, p in sorted(found)]

