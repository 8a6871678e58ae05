"""Building the model a recipe names, saving and loading trainable-only checkpoints, and export.

A checkpoint (``checkpoint-N/``) and a phase's final output hold the same model files: every adapter and
LoRA weight (``adapters.safetensors``, whatever the phase froze, so no weight is ever lost between phases or
on resume, LLaVA #1200), ``config.json``, the processor and the resolved ``recipe.yaml``. Checkpoints add the
trainer state (optimizer, scheduler, RNG, ``sampler.json``). A checkpoint directory appears only complete:
it is written under ``.staging/`` and renamed into place.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from emox_core.errors import EmoxError
from emox_core.modeling.modeling_nano_emox import ADAPTERS_FILE
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
    same in every phase), then the previous phase's trainable weights from ``spec.init_from``.

    ``dtype`` is the frozen weights' dtype (bf16 for a bf16 run); adapters and LoRA stay float32.
    """
    from emox_core.modeling.loading import build_preset_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.build_seed)
        model, processor = build_preset_model(spec.preset, sources=dict(spec.backbones) or None, dtype=dtype,
                                              config_overrides=dict(spec.config))
    for name, param in model.named_parameters():
        if "lora_" in name:
            param.data = param.data.float()
    if spec.init_from:
        source = Path(spec.init_from)
        if not (source / ADAPTERS_FILE).is_file():
            raise EmoxError(f"model.init_from {source}: no {ADAPTERS_FILE} (train the previous phase first)")
        model.load_adapters(source, strict=False)
    return model, processor


def save_trainable(model: Any, processor: Any, recipe: Recipe, directory: str | os.PathLike[str],
                   state_dict: dict[str, torch.Tensor] | None = None) -> Path:
    """Write adapters + LoRA (all of them), config, processor and recipe. ``state_dict`` is the gathered
    full state under DeepSpeed ZeRO-3, where the module's own parameters are empty shards."""
    from safetensors.torch import save

    from emox_core.fileio import atomic_write_bytes

    directory = Path(directory)
    names = set(model.adapter_state_dict())
    state = {k: v for k, v in state_dict.items() if k in names} if state_dict else model.adapter_state_dict()
    atomic_write_bytes(directory / ADAPTERS_FILE,
                       save({k: v.detach().cpu().contiguous() for k, v in state.items()},
                            metadata={"format": "pt", "producer": "emox", "phase": recipe.phase}))
    model.config.save_pretrained(directory)
    processor.save_pretrained(directory)
    recipe.save(directory)
    return directory


def load_trained(directory: str | os.PathLike[str], dtype: torch.dtype | None = None) -> tuple[Any, Any, Recipe]:
    """A phase output or checkpoint back as (model, processor, recipe): the recipe's model with these weights."""
    directory = Path(directory)
    recipe = read_saved_recipe(directory)
    spec = ModelSpec(**{**vars(recipe.model), "init_from": None})
    model, processor = build_recipe_model(spec, dtype)
    model.load_adapters(directory, strict=True)
    return model, processor, recipe


def list_checkpoints(output_dir: str | os.PathLike[str]) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = Path(output_dir)
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := CHECKPOINT_RE.match(p.name))] \
        if root.is_dir() else []
    return [p for _, p in sorted(found)]


def export_model(checkpoint: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    """Merge LoRA into the LM and write a full ``save_pretrained`` directory (+ processor) that
    ``from_pretrained``, :func:`~emox_core.modeling.loading.load_model` and ``emox infer`` load."""
    from emox_core.modeling.loading import save_model

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise EmoxError(f"{out}: output directory is not empty")
    model, processor, _ = load_trained(checkpoint)
    model.merge_lora()
    return save_model(model, processor, out)
