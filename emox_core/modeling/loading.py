"""Getting a Nano-EmoX model and its processor: from the real backbones (hub ids or local directories),
from a saved model directory, or from an adapters-only checkpoint on top of the backbones.

One code path serves the 2.2B model and the tiny test model: only the sources differ.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from emox_core.errors import EmoxError
from emox_core.modeling.configuration import NanoEmoXConfig
from emox_core.modeling.face import FaceXFormerEncoder, facexformer_from_checkpoint
from emox_core.modeling.modeling_nano_emox import ADAPTER_MODULES, ADAPTERS_FILE, NanoEmoXForConditionalGeneration
from emox_core.modeling.tokenizer import add_placeholder_tokens
from emox_core.processing import PROCESSOR_FILE, NanoEmoXProcessor, ProcessorSettings

FACEXFORMER_FILES = ("model.pt", "ckpts/model.pt")


def _from_pretrained(cls: Any, source: str, what: str, **kwargs: Any) -> Any:
    try:
        return cls.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EmoxError(f"{source}: cannot load the {what} ({first})") from None


def load_face_tower(source: str | Path, config: NanoEmoXConfig) -> FaceXFormerEncoder:
    """FaceXFormer from its released ``model.pt`` (a file, a directory holding ``model.pt`` or ``ckpts/model.pt``,
    or the hub id ``kartiknarayan/facexformer``) or from a ``save_pretrained`` directory."""
    path = Path(source)
    if path.is_file():
        return facexformer_from_checkpoint(path, config.face_config)
    if path.is_dir():
        if (path / "config.json").is_file():
            return _from_pretrained(FaceXFormerEncoder, str(path), "face encoder")
        for name in FACEXFORMER_FILES:
            if (path / name).is_file():
                return facexformer_from_checkpoint(path / name, config.face_config)
        raise EmoxError(f"{path}: no FaceXFormer model.pt or config.json in this directory")
    from huggingface_hub import hf_hub_download

    try:
        file = hf_hub_download(str(source), FACEXFORMER_FILES[1])
    except Exception as exc:  # noqa: BLE001 - hub errors vary (offline, missing repo, auth)
        raise EmoxError(f"{source}: cannot fetch FaceXFormer ckpts/model.pt ({type(exc).__name__})") from None
    return facexformer_from_checkpoint(file, config.face_config)


RANDOM_SOURCE = "random"


def _random_tower(name: str, config: NanoEmoXConfig) -> nn.Module:
    """A backbone with seeded random weights (``"random"`` source): same weights on every machine, so an
    adapters-only checkpoint trained on it reloads exactly (tiny and demo presets)."""
    from transformers import AutoModel

    with torch.random.fork_rng():
        torch.manual_seed(0)
        if name == "face":
            return FaceXFormerEncoder(config.face_config)
        return AutoModel.from_config(config.vision_config if name == "vision" else config.speech_config)


def load_language_model(source: str, dtype: torch.dtype | None) -> tuple[nn.Module, Any]:
    """The LM and its tokenizer from a hub id, a directory, or a single ``.gguf`` file (dequantised by
    transformers; needs the ``gguf`` package)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {"dtype": dtype} if dtype is not None else {}
    location = source
    if source.endswith(".gguf"):
        path = Path(source)
        if not path.is_file():
            raise EmoxError(f"{source}: GGUF file not found")
        location, kwargs["gguf_file"] = str(path.parent), path.name
    model = _from_pretrained(AutoModelForCausalLM, location, "language model", **kwargs)
    tokenizer = _from_pretrained(AutoTokenizer, location, "tokenizer",
                                 **({"gguf_file": kwargs["gguf_file"]} if "gguf_file" in kwargs else {}))
    return model, tokenizer


def load_backbones(config: NanoEmoXConfig, sources: dict[str, str], dtype: torch.dtype | None = None
                   ) -> tuple[dict[str, nn.Module], Any]:
    """Load each enabled backbone from its source (hub id, local dir, ``.gguf`` file for the LM, or
    ``"random"`` for seeded random weights) and the LM's tokenizer.

    The sub-configs of ``config`` are replaced by the loaded ones so the saved config describes the
    weights actually used.
    """
    from transformers import CLIPVisionModel, HubertModel

    needed = {"text"}
    if config.use_vision or config.use_fusion:
        needed.add("vision")
    if config.use_speech or config.use_fusion:
        needed.add("speech")
    if config.use_face:
        needed.add("face")
    missing = sorted(needed - set(sources))
    if missing:
        raise EmoxError(f"no source given for backbone(s) {', '.join(missing)} (hub id or local directory)")
    if sources["text"] == RANDOM_SOURCE:
        raise EmoxError("the language model needs a real source (its tokenizer comes from it), not 'random'")
    kwargs = {"dtype": dtype} if dtype is not None else {}
    loaders = {
        "vision": lambda src: _from_pretrained(CLIPVisionModel, src, "vision encoder (CLIP)", **kwargs),
        "speech": lambda src: _from_pretrained(HubertModel, src, "speech encoder (HuBERT)", **kwargs),
        "face": lambda src: load_face_tower(src, config),
    }
    towers: dict[str, nn.Module] = {}
    for name, attribute in (("vision", "vision_config"), ("speech", "speech_config"), ("face", "face_config")):
        if name in needed:
            source = str(sources[name])
            towers[name] = _random_tower(name, config) if source == RANDOM_SOURCE else loaders[name](source)
            setattr(config, attribute, towers[name].config)
    towers["text"], tokenizer = load_language_model(str(sources["text"]), dtype)
    config.text_config = towers["text"].config
    config.backbones = {k: str(v) for k, v in sources.items() if k in needed}
    return towers, tokenizer


def prepare_tokenizer(tokenizer: Any, config: NanoEmoXConfig, language_model: nn.Module | None = None) -> None:
    """Add the placeholders, record their ids in the config, and grow the LM embedding only if needed."""
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.bos_token_id is None:  # Qwen2.5 has none; the official code uses <|im_start|>
        tokenizer.bos_token = "<|im_start|>" if "<|im_start|>" in tokenizer.get_vocab() else tokenizer.eos_token
    config.placeholder_token_ids = add_placeholder_tokens(tokenizer)
    if language_model is not None and len(tokenizer) > language_model.get_input_embeddings().num_embeddings:
        language_model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        config.text_config.vocab_size = len(tokenizer)


def build_model(config: NanoEmoXConfig, sources: dict[str, str] | None = None, tokenizer: Any = None,
                dtype: torch.dtype | None = None) -> tuple[NanoEmoXForConditionalGeneration, NanoEmoXProcessor]:
    """A new model from backbones (``sources``: vision/speech/face/text -> hub id or dir) or, with no
    sources, from configs alone (random weights; needs ``tokenizer``)."""
    if sources:
        towers, tokenizer = load_backbones(config, sources, dtype)
        prepare_tokenizer(tokenizer, config, towers["text"])
        model = NanoEmoXForConditionalGeneration(config, towers=towers)
    else:
        if tokenizer is None:
            raise EmoxError("build_model without backbone sources needs a tokenizer")
        prepare_tokenizer(tokenizer, config)
        model = NanoEmoXForConditionalGeneration(config)
        if dtype is not None:
            model.to(dtype)
    keep_adapters_float32(model)
    processor = NanoEmoXProcessor(tokenizer, ProcessorSettings.from_config(config))
    return model, processor


def keep_adapters_float32(model: NanoEmoXForConditionalGeneration) -> None:
    """Adapters run in float32 whatever the backbones' dtype (as peft and the official code do); their
    inputs are cast to float32 in ``media_tokens``."""
    for name in ADAPTER_MODULES:
        module = getattr(model, name)
        if module is not None:
            module.float()


def save_model(model: NanoEmoXForConditionalGeneration, processor: NanoEmoXProcessor, directory: str | Path,
               adapters_only: bool = False) -> Path:
    """Write a full ``save_pretrained`` directory (safetensors) or just adapters + config + processor."""
    directory = Path(directory)
    if adapters_only:
        model.save_adapters(directory)
    else:
        model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def load_model(source: str | Path, dtype: torch.dtype | None = None, backbones: dict[str, str] | None = None,
               ) -> tuple[NanoEmoXForConditionalGeneration, NanoEmoXProcessor]:
    """Load what :func:`save_model` wrote: a full model directory, or an adapters directory whose config
    names the backbones (``backbones`` overrides those sources, e.g. local copies of the hub models)."""
    directory = Path(source)
    if not directory.is_dir():
        raise EmoxError(f"{directory}: model directory not found")
    if not (directory / "config.json").is_file() or not (directory / PROCESSOR_FILE).is_file():
        raise EmoxError(f"{directory}: not an emox model directory (needs config.json and {PROCESSOR_FILE})")
    processor = NanoEmoXProcessor.from_pretrained(directory)
    if (directory / ADAPTERS_FILE).is_file() and not any(directory.glob("model*.safetensors")):
        config = NanoEmoXConfig.from_pretrained(str(directory))
        sources = {**config.backbones, **(backbones or {})}
        model, _ = build_model(config, sources, dtype=dtype) if sources else (None, None)
        if model is None:
            raise EmoxError(f"{directory}: adapters checkpoint without backbone sources in its config")
        model.load_adapters(directory)
        return model, processor
    kwargs = {"dtype": dtype} if dtype is not None else {}
    model = _from_pretrained(NanoEmoXForConditionalGeneration, str(directory), "Nano-EmoX model", **kwargs)
    keep_adapters_float32(model)
    return model, processor


def build_preset_model(name: str, sources: dict[str, str] | None = None, dtype: torch.dtype | None = None,
                       config_overrides: dict[str, Any] | None = None,
                       ) -> tuple[NanoEmoXForConditionalGeneration, NanoEmoXProcessor]:
    """A preset's model: ``tiny`` from configs with an offline tokenizer (random weights); any preset from
    ``sources`` (or, for ``nano-emox-2b``, the hub ids it names). ``config_overrides`` change config fields
    (a training recipe's ablations: token counts, fusion experts, ...); a ``*_config`` key holds a mapping
    that updates that sub-config (e.g. ``text_config: {initializer_range: 0.2}`` for a random tiny LM)."""
    from emox_core.modeling.presets import preset_config
    from emox_core.modeling.tokenizer import build_tiny_tokenizer

    overrides = dict(config_overrides or {})
    sub_configs = {k: overrides.pop(k) for k in list(overrides)
                   if k.endswith("_config") and isinstance(overrides[k], dict)}
    config = preset_config(name, **overrides)
    for key, values in sub_configs.items():
        getattr(config, key).update(values)
    if sources or config.backbones:
        return build_model(config, sources or dict(config.backbones), dtype=dtype)
    tokenizer = build_tiny_tokenizer()
    config.text_config.vocab_size = max(config.text_config.vocab_size, len(tokenizer))
    return build_model(config, tokenizer=tokenizer, dtype=dtype)
