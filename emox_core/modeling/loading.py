"""Getting a Nano-EmoX model and its processor, and saving it: the one writer (:func:`save_model`) and the
one loader (:func:`load_model`) of every saved-model kind.

A model is built from backbone sources (hub ids, local directories, a ``.gguf`` LM, or ``"random"``: seeded
random weights) and loaded back from a full ``save_pretrained`` directory or from an adapters directory
(:mod:`emox_core.modeling.adapters`) whose ``config.json`` names those sources. One code path serves the 2.2B
model and the tiny test model: only the sources differ.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from emox_core.errors import EmoxError
from emox_core.modeling.adapters import ADAPTERS_FILE, CONFIG_FILE, write_adapters
from emox_core.modeling.configuration import NanoEmoXConfig
from emox_core.modeling.face import FaceXFormerEncoder, facexformer_from_checkpoint
from emox_core.modeling.modeling_nano_emox import ADAPTER_MODULES, NanoEmoXForConditionalGeneration
from emox_core.modeling.presets import TINY_TOKENIZER, configure_preset
from emox_core.modeling.tokenizer import add_placeholder_tokens
from emox_core.processing import PROCESSOR_FILE, NanoEmoXProcessor, ProcessorSettings

FACEXFORMER_FILES = ("model.pt", "ckpts/model.pt")
RANDOM_SOURCE = "random"
# Written beside training outputs; read here only for directories saved before config.json named the backbones.
LEGACY_RECIPE_FILE = "recipe.yaml"


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

    return _from_pretrained(AutoTokenizer, source, "tokenizer")


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


def build_model(config: NanoEmoXConfig, sources: dict[str, str] | None = None, tokenizer: Any = None,
                dtype: torch.dtype | None = None) -> tuple[NanoEmoXForConditionalGeneration, NanoEmoXProcessor]:
    """A new model from its backbones: ``config.backbones`` updated by ``sources`` (vision/speech/face/text ->
    hub id, dir or ``"random"``). A config without any source builds every weight from configs alone under
    the current RNG state (needs ``tokenizer``; such a model saves in full only)."""
    sources = {**config.backbones, **(sources or {})}
    if sources:
        towers, tokenizer = load_backbones(config, sources, dtype, tokenizer)
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
    """Adapters and LoRA run in float32 whatever the backbones' dtype (as peft and the official code do); their
    inputs are cast to float32 in ``media_tokens``."""
    for name in ADAPTER_MODULES:
        module = getattr(model, name)
        if module is not None:
            module.float()
    for name, param in model.language_model.named_parameters():
        if "lora_" in name:
            param.data = param.data.float()


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
        model = _from_pretrained(NanoEmoXForConditionalGeneration, str(directory), "Nano-EmoX model", **kwargs)
        keep_adapters_float32(model)
        return model, saved
    config = _from_pretrained(NanoEmoXConfig, str(directory), "model config")
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


def export_model(source: str | Path, out_dir: str | Path) -> Path:
    """Merge LoRA into the LM and write a full ``save_pretrained`` directory (+ processor) that
    ``from_pretrained``, :func:`load_model` and ``emox infer`` load; ``source`` is any saved model."""
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise EmoxError(f"{out}: output directory is not empty")
    model, processor = load_model(source)
    model.merge_lora()
    return save_model(model, processor, out)


def build_preset_model(name: str, sources: dict[str, str] | None = None, dtype: torch.dtype | None = None,
                       config_overrides: dict[str, Any] | None = None,
                       ) -> tuple[NanoEmoXForConditionalGeneration, NanoEmoXProcessor]:
    """A preset's model on the backbones it names (``sources`` overrides some or all of them).
    ``config_overrides`` change config fields (see :func:`~emox_core.modeling.presets.configure_preset`)."""
    return build_model(configure_preset(name, config_overrides), sources, dtype=dtype)
