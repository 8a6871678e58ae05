"""Getting a Nano-EmoX model and its processor, and saving it: the one writer (:func:`save_model`) and the
one loader (:func:`load_model`) of every saved-model kind.

A model is built from backbone sources (hub ids, local directories, a ``.gguf`` LM, or ``"random"``: seeded
random weights) and loaded back from a full ``save_pretrained`` directory or from an adapters directory
(:mod:`emox_core.modeling.adapters`) whose ``config.json`` names those sources. One code path serves the 2.2B
model and the tiny test model: only the sources differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from emox_core.errors import EmoxError
from emox_core.modeling.adapters import ADAPTERS_FILE, CONFIG_FILE, write_adapters
from emox_core.modeling.backbones import from_pretrained_or_error, needed_backbones, prepare_tokenizer
from emox_core.modeling.configuration import NanoEmoXConfig
from emox_core.modeling.modeling_nano_emox import NanoEmoXForConditionalGeneration
from emox_core.modeling.presets import configure_preset
from emox_core.processing import PROCESSOR_FILE, NanoEmoXProcessor, ProcessorSettings

# Written beside training outputs; read here only for directories saved before config.json named the backbones.
LEGACY_RECIPE_FILE = "recipe.yaml"


def build_model(config: NanoEmoXConfig, sources: dict[str, str] | None = None, tokenizer: Any = None,
                dtype: torch.dtype | None = None) -> tuple[NanoEmoXForConditionalGeneration, NanoEmoXProcessor]:
    """A new model from its backbones: ``config.backbones`` updated by ``sources`` (vision/speech/face/text ->
    hub id, dir or ``"random"``). A config without any source builds every weight from configs alone under
    the current RNG state (needs ``tokenizer``; such a model saves in full only)."""
    sources = {**config.backbones, **(sources or {})}
    if sources:
        model, tokenizer = NanoEmoXForConditionalGeneration.from_backbones(config, sources, dtype, tokenizer)
    else:
        if tokenizer is None:
            raise EmoxError("build_model without backbone sources needs a tokenizer")
        prepare_tokenizer(tokenizer, config)
        model = NanoEmoXForConditionalGeneration(config)
        if dtype is not None:
            model.to(dtype)
        model.keep_adapters_float32()
    processor = NanoEmoXProcessor(tokenizer, ProcessorSettings.from_config(config))
    return model, processor


def save_model(model: NanoEmoXForConditionalGeneration, processor: NanoEmoXProcessor, directory: str | Path,
               adapters_only: bool = False, state_dict: dict[str, torch.Tensor] | None = None, **metadata: str
               ) -> Path:
    """Write a full ``save_pretrained`` directory (safetensors) or an adapters directory (every adapter and
    LoRA weight + config + processor; ``metadata`` goes into the safetensors header). ``state_dict`` is a
    gathered full state to take the adapter weights from (DeepSpeed ZeRO-3, where the module's own parameters
    are empty shards)."""
    directory = Path(directory)
    if not adapters_only:
        model.save_pretrained(directory)
        processor.save_pretrained(directory)
        return directory
    unsourced = sorted(needed_backbones(model.config) - set(model.config.backbones))
    if unsourced:
        raise EmoxError(f"{directory}: cannot save adapters only: the {', '.join(unsourced)} backbone(s) were built "
                        "from configs alone and nothing could rebuild them; save the full model, or build it from "
                        "sources ('random' for seeded random weights)")
    own = model.adapter_state_dict()
    state = {k: v for k, v in state_dict.items() if k in own} if state_dict else own
    return write_adapters(directory, state, model.config, processor, **metadata)


def load_model(source: str | Path, dtype: torch.dtype | None = None, backbones: dict[str, str] | None = None,
               ) -> tuple[NanoEmoXForConditionalGeneration, NanoEmoXProcessor]:
    """Load any saved model: a full directory, or an adapters directory (training output or checkpoint,
    ``save_model(adapters_only=True)``, ``emox convert official``) rebuilt on the backbones its config names
    (``backbones`` overrides those sources, e.g. local copies of the hub models). The processor is the saved
    one, or built from the config and the backbones' tokenizer when the directory has none."""
    directory = Path(source)
    if not directory.is_dir():
        raise EmoxError(f"{directory}: model directory not found")
    if not (directory / CONFIG_FILE).is_file():
        raise EmoxError(f"{directory}: not an emox model directory (no {CONFIG_FILE})")
    saved = NanoEmoXProcessor.from_pretrained(directory) if (directory / PROCESSOR_FILE).is_file() else None
    if not (directory / ADAPTERS_FILE).is_file() or any(directory.glob("model*.safetensors")):
        if saved is None:
            raise EmoxError(f"{directory}: not an emox model directory (needs {PROCESSOR_FILE} beside the weights)")
        kwargs = {"dtype": dtype} if dtype is not None else {}
        model = from_pretrained_or_error(NanoEmoXForConditionalGeneration, str(directory), "Nano-EmoX model",
                                        **kwargs)
        model.keep_adapters_float32()
        return model, saved
    config = from_pretrained_or_error(NanoEmoXConfig, str(directory), "model config")
    tokenizer = saved.tokenizer if saved is not None else None
    if config.backbones or backbones:
        model, processor = build_model(config, backbones, tokenizer, dtype)
    else:
        model, processor = _legacy_seeded_model(directory, config, tokenizer, dtype)
    model.load_adapters(directory, strict=True)
    return model, saved or processor


def _legacy_seeded_model(directory: Path, config: NanoEmoXConfig, tokenizer: Any, dtype: torch.dtype | None
                         ) -> tuple[NanoEmoXForConditionalGeneration, NanoEmoXProcessor]:
    """Training outputs written before config.json named the backbones (the tiny preset of emox 0.1.0.dev0):
    the whole model was drawn from its config in one pass under the recipe's ``model.build_seed``."""
    import yaml

    recipe = directory / LEGACY_RECIPE_FILE
    if tokenizer is None or not recipe.is_file():
        raise EmoxError(f"{directory}: adapters checkpoint without backbone sources in its config")
    try:
        seed = int(((yaml.safe_load(recipe.read_text(encoding="utf-8")) or {}).get("model") or {}).get("build_seed", 0))
    except (yaml.YAMLError, AttributeError, TypeError, ValueError):
        raise EmoxError(f"{recipe}: unreadable model.build_seed") from None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(config, tokenizer=tokenizer, dtype=dtype)


def export_model(source: str | Path, out_dir: str | Path, *, evals: Sequence[str | Path] = (),
                 license_id: str | None = None, name: str | None = None) -> Path:
    """Merge LoRA into the LM and write a full ``save_pretrained`` directory (+ processor) that
    ``from_pretrained``, :func:`load_model` and ``emox infer`` load, with a Hugging Face model card
    (``README.md``: :mod:`~emox_core.modeling.model_card`; ``evals`` adds ``emox eval`` outputs to the ones found
    under ``source``). ``source`` is any saved model."""
    from emox_core.modeling.model_card import DEFAULT_LICENSE, find_results, write_model_card

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise EmoxError(f"{out}: output directory is not empty")
    from emox_core.modeling.training_record import CONFIG_KEY, training_record

    find_results(source, evals)  # a bad --eval fails before the model is written
    record = training_record(source)
    model, processor = load_model(source)
    model.merge_lora()
    if record is not None:  # the exported directory keeps saying where its weights come from
        setattr(model.config, CONFIG_KEY, record)
    save_model(model, processor, out)
    write_model_card(out, model.config, source, evals=evals, license_id=license_id or DEFAULT_LICENSE, name=name)
    return out


def build_preset_model(name: str, sources: dict[str, str] | None = None, dtype: torch.dtype | None = None,
                       config_overrides: dict[str, Any] | None = None,
                       ) -> tuple[NanoEmoXForConditionalGeneration, NanoEmoXProcessor]:
    """A preset's model on the backbones it names (``sources`` overrides some or all of them).
    ``config_overrides`` change config fields (see :func:`~emox_core.modeling.presets.configure_preset`)."""
    return build_model(configure_preset(name, config_overrides), sources, dtype=dtype)
