"""Configuration of Nano-EmoX: four sub-configs (CLIP vision, HuBERT, FaceXFormer, causal LM) plus the
numbers that glue them (token counts, Q-Former depth, fusion layer pairs, LoRA, branch switches).

Defaults follow the official code (waHAHJIAHAO/Nano-EmoX @ b08f985, ``models/nano_emox.py``,
``models/encoder.py``, ``models/faceXencoder.py``, ``models/MoE_fusion.py``). Where the code differs
from the paper, the choice is a field here (default: the code's behaviour):

* ``vision_feature_source``: ``"cls"`` (code: one CLS token of CLIP layer 23 per frame into the
  Q-Former) or ``"patch"`` (paper: every visual token of every frame).
* ``speech_feature_source``: ``"segment_mean"`` (code: mean of HuBERT's last 4 hidden states, averaged
  over time per 2-s segment) or ``"frames"`` (all HuBERT frames of all segments).
* ``face_input``: ``"raw"`` (code: the full 0-255 frames, un-normalised) or ``"imagenet"`` (FaceXFormer's
  own preprocessing: face crops normalised with ImageNet mean/std).
* ``face_temporal_position``: the paper's "frame-ordered" temporal modelling (learned frame positions
  added before the temporal attention); the code has none (``False``).
* ``audio_normalization``: HuBERT's zero-mean / unit-variance input normalisation jointly over one clip's
  segments (``"clip"``: the official inference path exactly) or per 2-s segment (``"segment"``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from transformers import AutoConfig, CLIPVisionConfig, HubertConfig, PretrainedConfig, Qwen2Config, SwinConfig

from emox_core.errors import EmoxError
from emox_core.media.settings import DEFAULT_MEDIA

# Placeholder tokens the processor expands and the model replaces (official names, models/tokenizer.py).
FRAME_TOKEN = "<FrameHere>"
AUDIO_TOKEN = "<AudioHere>"
FACE_TOKEN = "<FaceHere>"
FUSION_TOKEN = "<MultiHere>"
PLACEHOLDER_TOKENS = (FUSION_TOKEN, AUDIO_TOKEN, FACE_TOKEN, FRAME_TOKEN)

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

FEATURE_SOURCES = {"vision_feature_source": ("cls", "patch"), "speech_feature_source": ("segment_mean", "frames"),
                   "face_input": ("raw", "imagenet"), "audio_normalization": ("clip", "segment")}


class FaceXFormerConfig(PretrainedConfig):
    """FaceXFormer's encoder half: a Swin backbone whose 4 stage outputs are fused by an MLP to ``fusion_dim``.

    Source: Kartik-3004/facexformer @ d4a268b ``network/models/facexformer.py`` (torchvision swin_b,
    ``linear_c`` per stage, bilinear upsampling to stage 1, reverse-order concat, 1x1 ``linear_fuse``).
    """

    model_type = "facexformer_encoder"
    sub_configs = {"backbone_config": SwinConfig}

    def __init__(self, backbone_config: dict[str, Any] | SwinConfig | None = None, fusion_dim: int = 256,
                 **kwargs: Any) -> None:
        if backbone_config is None:
            backbone_config = swin_b_config()
        elif isinstance(backbone_config, dict):
            backbone_config = SwinConfig(**{k: v for k, v in backbone_config.items() if k != "model_type"})
        self.backbone_config = backbone_config
        self.fusion_dim = fusion_dim
        super().__init__(**kwargs)


def swin_b_config() -> SwinConfig:
    """torchvision's swin_b (Swin-B V1): embed 128, depths 2/2/18/2, heads 4/8/16/32, window 7, patch 4."""
    return SwinConfig(image_size=224, patch_size=4, embed_dim=128, depths=[2, 2, 18, 2], num_heads=[4, 8, 16, 32],
                      window_size=7, mlp_ratio=4.0, drop_path_rate=0.0)


# The paper's backbones, as their released config.json files describe them (ids in presets.NANO_EMOX_2B_BACKBONES).
def clip_vit_l14_config() -> CLIPVisionConfig:
    """openai/clip-vit-large-patch14, vision half."""
    return CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                            image_size=224, patch_size=14, projection_dim=768, hidden_act="quick_gelu")


def hubert_large_config() -> HubertConfig:
    """TencentGameMate/chinese-hubert-large."""
    return HubertConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                        conv_bias=True, feat_extract_norm="layer", do_stable_layer_norm=True,
                        feat_proj_layer_norm=True, layerdrop=0.1)


def qwen25_1_5b_config() -> Qwen2Config:
    """Qwen/Qwen2.5-1.5B-Instruct."""
    return Qwen2Config(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                       num_attention_heads=12, num_key_value_heads=2, max_position_embeddings=32768,
                       rms_norm_eps=1e-6, tie_word_embeddings=True,
                       rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})


AutoConfig.register(FaceXFormerConfig.model_type, FaceXFormerConfig, exist_ok=True)


class NanoEmoXConfig(PretrainedConfig):
    """Everything needed to build Nano-EmoX from configs alone (no weights, no network); with no arguments,
    the paper's 2.2B architecture (CLIP ViT-L/14, HuBERT-large, FaceXFormer Swin-B, Qwen2.5-1.5B).

    ``backbones`` names where each backbone's weights come from (vision/speech/face/text -> hub id, local
    directory, ``.gguf`` file for the LM, or ``"random"``: weights drawn from the sub-config, seeded with
    ``backbone_seed``, identical on every machine). ``tokenizer_source`` names the tokenizer when it is not
    the text backbone's (``"emox-tiny"``: the offline tiny tokenizer of :mod:`emox_core.modeling.tokenizer`).
    Together they make a saved config a complete description of the model an adapters file sits on.
    """

    model_type = "nano_emox"
    sub_configs = {"vision_config": AutoConfig, "speech_config": AutoConfig, "face_config": AutoConfig,
                   "text_config": AutoConfig}

    def __init__(
        self,
        vision_config: dict[str, Any] | PretrainedConfig | None = None,
        speech_config: dict[str, Any] | PretrainedConfig | None = None,
        face_config: dict[str, Any] | PretrainedConfig | None = None,
        text_config: dict[str, Any] | PretrainedConfig | None = None,
        *,
        backbones: dict[str, str] | None = None,
        backbone_seed: int = 0,
        tokenizer_source: str = "",
        num_frames: int = DEFAULT_MEDIA.frames,
        image_size: int = DEFAULT_MEDIA.image_size,
        sampling_rate: int = DEFAULT_MEDIA.sample_rate,
        audio_segments: int = DEFAULT_MEDIA.audio_segments,
        audio_segment_seconds: float = DEFAULT_MEDIA.segment_seconds,
        num_visual_tokens: int = 32,
        num_speech_tokens: int = 32,
        num_face_tokens: int = 4,
        num_fusion_tokens: int = 1,
        qformer_num_layers: int = 2,
        qformer_hidden_size: int = 768,
        qformer_num_heads: int = 12,
        qformer_intermediate_size: int = 3072,
        max_frame_positions: int = 32,
        vision_feature_layer: int = -2,
        vision_feature_source: str = "cls",
        speech_feature_last_n: int = 4,
        speech_feature_source: str = "segment_mean",
        face_input: str = "raw",
        audio_normalization: str = "clip",
        face_num_heads: int = 4,
        face_hidden_size: int = 768,
        face_temporal_position: bool = False,
        fusion_speech_layers: tuple[int, ...] | list[int] = (16, 18, 22),
        fusion_vision_layers: tuple[int, ...] | list[int] = (12, 16, 22),
        num_fusion_experts: int = 3,
        fusion_hidden_size: int = 512,
        fusion_num_heads: int = 8,
        fusion_dropout: float = 0.1,
        use_lora: bool = True,
        lora_r: int = 16,
        lora_alpha: int = 32,
        lora_dropout: float = 0.05,
        lora_target_modules: tuple[str, ...] | list[str] = LORA_TARGETS,
        use_vision: bool = True,
        use_speech: bool = True,
        use_face: bool = True,
        use_fusion: bool = True,
        max_sequence_length: int = 1024,
        prompt_style: str = "official",
        placeholder_token_ids: dict[str, int] | None = None,
        **kwargs: Any,
    ) -> None:
        self.vision_config = _sub_config(vision_config, clip_vit_l14_config, "clip_vision_model")
        self.speech_config = _sub_config(speech_config, hubert_large_config, "hubert")
        self.face_config = _sub_config(face_config, FaceXFormerConfig, FaceXFormerConfig.model_type)
        self.text_config = _sub_config(text_config, qwen25_1_5b_config, "qwen2")
        self.backbones = dict(backbones or {})
        self.backbone_seed = backbone_seed
        self.tokenizer_source = tokenizer_source
        self.num_frames = num_frames
        self.image_size = image_size
        self.sampling_rate = sampling_rate
        self.audio_segments = audio_segments
        self.audio_segment_seconds = audio_segment_seconds
        self.num_visual_tokens = num_visual_tokens
        self.num_speech_tokens = num_speech_tokens
        self.num_face_tokens = num_face_tokens
        self.num_fusion_tokens = num_fusion_tokens
        self.qformer_num_layers = qformer_num_layers
        self.qformer_hidden_size = qformer_hidden_size
        self.qformer_num_heads = qformer_num_heads
        self.qformer_intermediate_size = qformer_intermediate_size
        self.max_frame_positions = max_frame_positions
        self.vision_feature_layer = vision_feature_layer
        self.vision_feature_source = vision_feature_source
        self.speech_feature_last_n = speech_feature_last_n
        self.speech_feature_source = speech_feature_source
        self.face_input = face_input
        self.audio_normalization = audio_normalization
        self.face_num_heads = face_num_heads
        self.face_hidden_size = face_hidden_size
        self.face_temporal_position = face_temporal_position
        self.fusion_speech_layers = list(fusion_speech_layers)
        self.fusion_vision_layers = list(fusion_vision_layers)
        self.num_fusion_experts = num_fusion_experts
        self.fusion_hidden_size = fusion_hidden_size
        self.fusion_num_heads = fusion_num_heads
        self.fusion_dropout = fusion_dropout
        self.use_lora = use_lora
        self.lora_r = lora_r
        self.lora_alpha = lora_alpha
        self.lora_dropout = lora_dropout
        self.lora_target_modules = list(lora_target_modules)
        self.use_vision = use_vision
        self.use_speech = use_speech
        self.use_face = use_face
        self.use_fusion = use_fusion
        self.max_sequence_length = max_sequence_length
        self.prompt_style = prompt_style
        self.placeholder_token_ids = dict(placeholder_token_ids or {})
        super().__init__(**kwargs)
        self.validate()

    def validate(self) -> None:
        """Refuse inconsistent settings with a message that names the field."""
        for name, allowed in FEATURE_SOURCES.items():
            if getattr(self, name) not in allowed:
                raise EmoxError(f"config: {name}={getattr(self, name)!r}; choose one of {', '.join(allowed)}")
        if self.use_fusion:
            if not (self.use_vision and self.use_speech):
                raise EmoxError("config: use_fusion needs use_vision and use_speech (fusion reads both encoders)")
            if not (len(self.fusion_speech_layers) == len(self.fusion_vision_layers) == self.num_fusion_experts):
                raise EmoxError(
                    f"config: num_fusion_experts={self.num_fusion_experts} but fusion_speech_layers has "
                    f"{len(self.fusion_speech_layers)} and fusion_vision_layers "
                    f"{len(self.fusion_vision_layers)} entries"
                )
            for layers, sub, what in ((self.fusion_speech_layers, self.speech_config, "speech"),
                                      (self.fusion_vision_layers, self.vision_config, "vision")):
                depth = sub.num_hidden_layers
                bad = [layer for layer in layers if not 0 <= layer <= depth]
                if bad:
                    raise EmoxError(f"config: fusion_{what}_layers {bad} outside 0..{depth} ({what} encoder depth)")
        if self.use_face and self.face_config.backbone_config.num_channels != 3:
            raise EmoxError("config: the face backbone must take 3-channel frames")
        if self.prompt_style not in ("official", "paper"):
            raise EmoxError(f"config: prompt_style={self.prompt_style!r}; choose official or paper")

    @property
    def audio_segment_samples(self) -> int:
        return int(round(self.audio_segment_seconds * self.sampling_rate))

    @property
    def token_counts(self) -> dict[str, int]:
        """Placeholder token -> number of LM positions it expands to, for the enabled branches only."""
        counts = {FUSION_TOKEN: self.num_fusion_tokens if self.use_fusion else 0,
                  AUDIO_TOKEN: self.num_speech_tokens if self.use_speech else 0,
                  FACE_TOKEN: self.num_face_tokens if self.use_face else 0,
                  FRAME_TOKEN: self.num_visual_tokens if self.use_vision else 0}
        return {token: n for token, n in counts.items() if n}

    def get_text_config(self, *args: Any, **kwargs: Any) -> PretrainedConfig:
        return self.text_config


def _sub_config(value: dict[str, Any] | PretrainedConfig | None, default: Callable[[], PretrainedConfig],
                default_type: str) -> PretrainedConfig:
    """Turn a dict (as read from config.json) into the right config class; ``None`` gives the 2.2B model's.

    Saved sub-configs are diffed against their own class defaults (transformers' ``to_diff_dict``), so a dict
    is read back on top of the class defaults, never on top of ``default``."""
    if value is None:
        return default()
    if isinstance(value, PretrainedConfig):
        return value
    data = dict(value)
    model_type = data.pop("model_type", default_type)
    return AutoConfig.for_model(model_type, **data)


AutoConfig.register(NanoEmoXConfig.model_type, NanoEmoXConfig, exist_ok=True)
