"""The frozen backbones of a Nano-EmoX model and its tokenizer, from their sources: a hub id, a local directory,
a ``.gguf`` LM, FaceXFormer's released ``model.pt``, or ``"random"`` (seeded random weights).

The model class builds itself on these (:meth:`NanoEmoXForConditionalGeneration.from_backbones`); nothing here
knows the model, so the model and its loader import this module one way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from emox_core.errors import EmoxError
from emox_core.modeling.configuration import NanoEmoXConfig
from emox_core.modeling.face import FaceXFormerEncoder, facexformer_from_checkpoint
from emox_core.modeling.presets import TINY_TOKENIZER
from emox_core.modeling.tokenizer import add_placeholder_tokens

FACEXFORMER_FILES = ("model.pt", "ckpts/model.pt")
RANDOM_SOURCE = "random"


def from_pretrained_or_error(cls: Any, source: str, what: str, **kwargs: Any) -> Any:
    """``cls.from_pretrained(source)``, with a one-line error naming the source and what it should hold."""
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
            return from_pretrained_or_error(FaceXFormerEncoder, str(path), "face encoder")
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


def _random_tower(name: str, config: NanoEmoXConfig) -> nn.Module:
    """A backbone with seeded random weights (``"random"`` source, float32), drawn alone from its sub-config
    under ``config.backbone_seed``: the same config gives the same weights on every machine, whatever else is
    initialised around it (tiny and demo presets)."""
    from transformers import AutoModel, AutoModelForCausalLM

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.backbone_seed)
        if name == "face":
            return FaceXFormerEncoder(config.face_config)
        if name == "text":
            return AutoModelForCausalLM.from_config(config.text_config)
        return AutoModel.from_config(config.vision_config if name == "vision" else config.speech_config)


def load_tokenizer(source: str) -> Any:
    """A tokenizer by name: ``emox-tiny`` (built offline), a hub id or a local directory."""
    if source == TINY_TOKENIZER:
        from emox_core.modeling.tokenizer import build_tiny_tokenizer

        return build_tiny_tokenizer()
    from transformers import AutoTokenizer

    return from_pretrained_or_error(AutoTokenizer, source, "tokenizer")


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
    model = from_pretrained_or_error(AutoModelForCausalLM, location, "language model", **kwargs)
    tokenizer = from_pretrained_or_error(AutoTokenizer, location, "tokenizer",
                                 **({"gguf_file": kwargs["gguf_file"]} if "gguf_file" in kwargs else {}))
    return model, tokenizer


def needed_backbones(config: NanoEmoXConfig) -> set[str]:
    """The backbones a model of ``config`` holds (the LM always; an encoder when a branch reads it)."""
    needed = {"text"}
    if config.use_vision or config.use_fusion:
        needed.add("vision")
    if config.use_speech or config.use_fusion:
        needed.add("speech")
    if config.use_face:
        needed.add("face")
    return needed


def load_backbones(config: NanoEmoXConfig, sources: dict[str, str], dtype: torch.dtype | None = None,
                   tokenizer: Any = None) -> tuple[dict[str, nn.Module], Any]:
    """Load each needed backbone from its source (hub id, local dir, ``.gguf`` file for the LM, or ``"random"``
    for seeded random weights) and return them with the tokenizer: ``tokenizer`` if given, else the one
    ``config.tokenizer_source`` names, else the LM's own.

    The sub-configs of ``config`` are replaced by the loaded ones and ``config.backbones`` records the
    sources, so the saved config describes the weights actually used.
    """
    from transformers import CLIPVisionModel, HubertModel

    needed = needed_backbones(config)
    missing = sorted(needed - set(sources))
    if missing:
        raise EmoxError(f"no source given for backbone(s) {', '.join(missing)} (hub id, local directory or 'random')")
    kwargs = {"dtype": dtype} if dtype is not None else {}
    loaders = {
        "vision": lambda src: from_pretrained_or_error(CLIPVisionModel, src, "vision encoder (CLIP)", **kwargs),
        "speech": lambda src: from_pretrained_or_error(HubertModel, src, "speech encoder (HuBERT)", **kwargs),
        "face": lambda src: load_face_tower(src, config),
    }
    towers: dict[str, nn.Module] = {}
    for name, attribute in (("vision", "vision_config"), ("speech", "speech_config"), ("face", "face_config")):
        if name in needed:
            source = str(sources[name])
            towers[name] = _random_tower(name, config) if source == RANDOM_SOURCE else loaders[name](source)
            setattr(config, attribute, towers[name].config)
    if tokenizer is None and config.tokenizer_source:
        tokenizer = load_tokenizer(config.tokenizer_source)
    text_source = str(sources["text"])
    if text_source == RANDOM_SOURCE:
        if tokenizer is None:
            raise EmoxError("the language model source 'random' needs a tokenizer: set tokenizer_source "
                            f"({TINY_TOKENIZER}, a hub id or a directory)")
        add_placeholder_tokens(tokenizer)
        config.text_config.vocab_size = max(config.text_config.vocab_size, len(tokenizer))
        towers["text"] = _random_tower("text", config)
    else:
        towers["text"], own_tokenizer = load_language_model(text_source, dtype)
        config.text_config = towers["text"].config
        tokenizer = tokenizer if tokenizer is not None else own_tokenizer
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
