"""Nano-EmoX as a Hugging Face model: frozen CLIP / HuBERT / FaceXFormer towers, trainable resamplers,
face temporal head and fusion encoder, and a causal LM (LoRA-adapted) that reads the modality tokens.

Data path (paper §3.1, official ``models/nano_emox.py``): each branch turns its encoder's features into a
fixed number of LM-width tokens; the processor has already expanded one placeholder token per position in
the prompt; :meth:`NanoEmoXForConditionalGeneration.embed_inputs` writes the branch tokens over those
placeholders (the LLaVA / Qwen2-Audio way). A modality missing from a sample (a silent clip, no face)
keeps its placeholders but they are zeroed and masked out of attention, so one prompt layout serves all.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoModel, AutoModelForCausalLM, GenerationMixin, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast

from emox_core.errors import EmoxError
from emox_core.modeling.configuration import (
    AUDIO_TOKEN,
    FACE_TOKEN,
    FRAME_TOKEN,
    FUSION_TOKEN,
    FaceXFormerConfig,
    NanoEmoXConfig,
)
from emox_core.modeling.face import FaceTemporalHead, FaceXFormerEncoder
from emox_core.modeling.fusion import FusionEncoder
from emox_core.modeling.initialization import reset_lora
from emox_core.modeling.kv_cache import in_place_cache
from emox_core.modeling.qformer import QFormerResampler

AutoModel.register(FaceXFormerConfig, FaceXFormerEncoder, exist_ok=True)

# Trainable modules, by attribute name; LoRA parameters are recognised by "lora_" in their names.
ADAPTER_MODULES = ("visual_resampler", "speech_resampler", "face_temporal", "fusion_encoder")
TOWER_MODULES = ("vision_tower", "speech_tower", "face_tower")


@dataclass
class MediaFeatures:
    """Outputs of the frozen encoders: what the feature cache stores and the trainable branches read.

    vision (B, T, P, D_v): per frame, P=1 CLS token ("cls") or all tokens ("patch") of the chosen layer.
    vision_fusion (B, E, T, D_v): per fusion expert, the CLS token of its CLIP layer per frame.
    speech (B, S, F, D_s): per 2-s segment, F=1 time-mean ("segment_mean") or all frames ("frames").
    speech_fusion (B, E, S, D_s): per expert, the time-mean of its HuBERT layer per segment.
    face (B, T, D_f): per frame, FaceXFormer's fused map average-pooled.
    """

    vision: torch.Tensor | None = None
    vision_fusion: torch.Tensor | None = None
    speech: torch.Tensor | None = None
    speech_fusion: torch.Tensor | None = None
    face: torch.Tensor | None = None

    def as_kwargs(self) -> dict[str, torch.Tensor]:
        """The ``*_features`` keyword arguments that :meth:`forward` accepts."""
        return {f"{f.name}_features": getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


def _dense_head_input(_module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Forward pre-hook of the LM head. When generating, the head reads only the last position
    (``logits_to_keep``): a strided view of the hidden states, which torch multiplies as a batched product
    against a transposed copy of the whole head (151,936 x 1,536 for Qwen2.5: a 0.5 GB copy, slower than the
    prefill itself). A dense copy of those few rows makes it one plain matrix product; the values are equal."""
    hidden = args[0]
    if not isinstance(hidden, torch.Tensor) or _is_dense(hidden):
        return args
    return (hidden.clone(memory_format=torch.contiguous_format), *args[1:])


def _is_dense(tensor: torch.Tensor) -> bool:
    """Row-major with the canonical strides (``is_contiguous`` also accepts any stride on size-1 dims)."""
    expected = 1
    for size, stride in zip(reversed(tensor.shape), reversed(tensor.stride()), strict=True):
        if stride != expected:
            return False
        expected *= size
    return True


class NanoEmoXPreTrainedModel(PreTrainedModel):
    config_class = NanoEmoXConfig
    base_model_prefix = "nano_emox"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _no_split_modules = ["Qwen2DecoderLayer", "CLIPEncoderLayer", "HubertEncoderLayerStableLayerNorm"]

    @torch.no_grad()
    def initialize_weights(self) -> None:
        """transformers' init, then the official initial values of the trainable parts (resampler, face head and
        fusion rules, LoRA B = 0: :mod:`emox_core.modeling.initialization`).

        transformers runs this after building (``post_init``) and for the weights a checkpoint lacks
        (``from_pretrained``); its generic rule would draw every new Linear, LoRA's B included, from
        N(0, 0.02). The guard leaves loaded weights alone.
        """
        from transformers import initialization as hf_init

        super().initialize_weights()
        with hf_init.guard_torch_init_functions():
            for name in ADAPTER_MODULES:
                module = getattr(self, name, None)
                if module is not None:
                    module.official_init()
            if getattr(self, "language_model", None) is not None:
                reset_lora(self.language_model)


class NanoEmoXForConditionalGeneration(NanoEmoXPreTrainedModel, GenerationMixin):
    """The whole model. Build it from configs (random), from backbones (:meth:`from_backbones`), or from a
    saved directory, full or adapters (:meth:`from_pretrained`)."""

    def __init__(self, config: NanoEmoXConfig, towers: dict[str, nn.Module] | None = None) -> None:
        super().__init__(config)
        towers = towers or {}
        lm_width = config.text_config.hidden_size
        self.vision_tower = self.speech_tower = self.face_tower = None
        self.visual_resampler = self.speech_resampler = self.face_temporal = self.fusion_encoder = None
        if config.use_vision or config.use_fusion:
            self.vision_tower = towers.get("vision") or AutoModel.from_config(config.vision_config)
        if config.use_speech or config.use_fusion:
            self.speech_tower = towers.get("speech") or AutoModel.from_config(config.speech_config)
        if config.use_face:
            self.face_tower = towers.get("face") or FaceXFormerEncoder(config.face_config)
        q_kwargs = {"num_layers": config.qformer_num_layers, "hidden_size": config.qformer_hidden_size,
                    "num_heads": config.qformer_num_heads, "intermediate_size": config.qformer_intermediate_size}
        if config.use_vision:
            self.visual_resampler = QFormerResampler(
                config.vision_config.hidden_size, lm_width, config.num_visual_tokens, config.max_frame_positions,
                **q_kwargs)
        if config.use_speech:
            self.speech_resampler = QFormerResampler(
                config.speech_config.hidden_size, lm_width, config.num_speech_tokens, config.audio_segments,
                **q_kwargs)
        if config.use_face:
            self.face_temporal = FaceTemporalHead(
                config.face_config.fusion_dim, config.num_face_tokens, config.face_num_heads, config.face_hidden_size,
                lm_width, config.max_frame_positions, config.face_temporal_position)
        if config.use_fusion:
            self.fusion_encoder = FusionEncoder(
                config.speech_config.hidden_size, config.vision_config.hidden_size, config.fusion_hidden_size,
                config.num_fusion_experts, config.fusion_num_heads, config.fusion_dropout, lm_width,
                config.num_fusion_tokens)
        language_model = towers.get("text") or AutoModelForCausalLM.from_config(config.text_config)
        if config.use_lora:
            # LoRA layers injected in place (peft), so the LM keeps its class, tied weights and generate().
            from peft import LoraConfig, inject_adapter_in_model

            lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                              target_modules=list(config.lora_target_modules))
            language_model = inject_adapter_in_model(lora, language_model)
        self.language_model = language_model
        head = language_model.get_output_embeddings()
        if head is not None:
            head.register_forward_pre_hook(_dense_head_input)
        for tower in self.towers():
            tower.requires_grad_(False)
        self.language_model.requires_grad_(False)
        self.post_init()
        self.train(False)

    # ----------------------------------------------------------------- structure
    def towers(self) -> list[nn.Module]:
        """The frozen encoders that exist in this configuration."""
        return [m for m in (self.vision_tower, self.speech_tower, self.face_tower) if m is not None]

    def train(self, mode: bool = True) -> NanoEmoXForConditionalGeneration:
        """Frozen encoders always stay in eval mode (no dropout, no HuBERT layer-drop, no Swin drop-path)."""
        super().train(mode)
        for tower in self.towers():
            tower.eval()
        return self

    def get_input_embeddings(self) -> nn.Module:
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.language_model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module | None:
        return self.language_model.get_output_embeddings()

    def set_trainable(self, names: list[str] | tuple[str, ...]) -> list[str]:
        """Make exactly the named parts trainable (adapter module names and/or ``"lora"``); freeze the rest.

        Returns the names of the parameters that now require gradients.
        """
        known = {n for n in ADAPTER_MODULES if getattr(self, n) is not None}
        known |= {"lora"} if self.config.use_lora else set()
        unknown = sorted(set(names) - known)
        if unknown:
            raise EmoxError(f"trainable: {', '.join(unknown)} not in this model (it has: {', '.join(sorted(known))})")
        self._switch_idle_lora(frozen="lora" not in names)
        self.requires_grad_(False)
        for name in names:
            if name == "lora":
                for pname, param in self.language_model.named_parameters():
                    if "lora_" in pname:
                        param.requires_grad_(True)
            else:
                getattr(self, name).requires_grad_(True)
        return [n for n, p in self.named_parameters() if p.requires_grad]

    def _switch_idle_lora(self, frozen: bool) -> None:
        """Switch the LoRA layers off while they are frozen with every ``lora_B`` zero (their official start,
        kept by every phase before the one that trains them): such a LoRA adds exactly nothing, so a step need
        not compute it nor its dropout. Any other LoRA is on. (peft's switch also sets ``requires_grad``, which
        :meth:`set_trainable` sets again right after.)"""
        if not self.config.use_lora:
            return
        from peft.tuners.lora import LoraLayer

        layers = [module for module in self.language_model.modules() if isinstance(module, LoraLayer)]
        idle = frozen and not any(bool(torch.count_nonzero(b.weight)) for layer in layers
                                  for b in layer.lora_B.values())
        for layer in layers:
            layer.enable_adapters(not idle)

    # ----------------------------------------------------------------- encoders (frozen)
    # Frames / speech segments per tower call: bounds the encoders' peak memory at any batch size; a chunk of 16
    # is already large enough for the matrix products to run at full speed.
    encoder_chunk_size = 16

    @torch.no_grad()
    def encode_media(self, pixel_values: torch.Tensor | None = None, input_values: torch.Tensor | None = None,
                     pixel_values_videos: torch.Tensor | None = None) -> MediaFeatures:
        """Run the frozen encoders once; the result is all the trainable branches need (and what a feature
        cache stores). pixel_values (B, T, 3, H, W) CLIP-normalised frames; input_values (B, S, L) speech
        segments; pixel_values_videos (B, T, 3, H, W) face-encoder input. Each tower runs only up to the
        deepest layer read and keeps only the states read (:mod:`emox_core.modeling.encoders`)."""
        out = MediaFeatures()
        if pixel_values is not None and self.vision_tower is not None:
            out.vision, out.vision_fusion = self._vision_features(pixel_values)
        if input_values is not None and self.speech_tower is not None:
            out.speech, out.speech_fusion = self._speech_features(input_values)
        if pixel_values_videos is not None and self.face_tower is not None:
            b, t = pixel_values_videos.shape[:2]
            frames = pixel_values_videos.flatten(0, 1).to(self.face_tower.dtype)
            vectors = self._chunked(frames, lambda chunk: self.face_tower.frame_vectors(chunk[:, None])[:, 0])
            out.face = vectors.reshape(b, t, -1)
        return out

    def _chunked(self, items: torch.Tensor, encode: Any) -> Any:
        """``encode`` over ``items`` (N, ...) in chunks of :attr:`encoder_chunk_size`, results concatenated
        along dim 0 (a tensor, or a tuple of tensors / None)."""
        size = max(1, self.encoder_chunk_size)
        parts = [encode(items[start:start + size]) for start in range(0, items.shape[0], size)]
        if isinstance(parts[0], torch.Tensor):
            return torch.cat(parts)
        return tuple(None if part[0] is None else torch.cat(part) for part in zip(*parts, strict=True))

    def _vision_features(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        from emox_core.modeling.encoders import clip_states

        cfg = self.config
        depth = cfg.vision_config.num_hidden_layers
        main = cfg.vision_feature_layer % (depth + 1) if cfg.use_vision else None
        fusion = list(cfg.fusion_vision_layers) if cfg.use_fusion else []

        def encode(chunk: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
            states = clip_states(self.vision_tower, chunk, {*fusion, *([main] if main is not None else [])})
            vision = fused = None
            if main is not None:
                vision = states[main][:, :1] if cfg.vision_feature_source == "cls" else states[main]
            if fusion:
                fused = torch.stack([states[i][:, 0] for i in fusion], 1)  # (N, E, D)
            return vision, fused

        return self._tower_features(pixel_values, self.vision_tower, encode, len(fusion))

    def _speech_features(self, input_values: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        from emox_core.modeling.encoders import LAST, hubert_states

        cfg = self.config
        depth = cfg.speech_config.num_hidden_layers
        # Mean of the last n hidden states; the final one post-LayerNorm as transformers 4.x returned it
        # (5.x returns it pre-LN in hidden_states[-1]; last_hidden_state keeps the LN).
        last_n = list(range(depth + 1 - cfg.speech_feature_last_n, depth)) + [LAST] if cfg.use_speech else []
        fusion = list(cfg.fusion_speech_layers) if cfg.use_fusion else []

        def encode(chunk: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
            states = hubert_states(self.speech_tower, chunk, {*last_n, *fusion})
            speech = fused = None
            if last_n:
                speech = torch.stack([states[i] for i in last_n], 0).mean(0)  # (N, F, D)
                speech = speech.mean(1, keepdim=True) if cfg.speech_feature_source == "segment_mean" else speech
            if fusion:
                fused = torch.stack([states[i].mean(1) for i in fusion], 1)  # (N, E, D)
            return speech, fused

        return self._tower_features(input_values, self.speech_tower, encode, len(fusion))

    def _tower_features(self, inputs: torch.Tensor, tower: nn.Module, encode: Any, experts: int
                        ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """``encode`` (N items -> main (N, P, D) or None, fusion (N, E, D) or None) over (B, T, ...) ``inputs`` in
        chunks; main comes back as (B, T, P, D), fusion as (B, E, T, D)."""
        b, t = inputs.shape[:2]
        main, fused = self._chunked(inputs.flatten(0, 1).to(tower.dtype), encode)
        if main is not None:
            main = main.reshape(b, t, main.shape[1], -1)
        if fused is not None:
            fused = fused.reshape(b, t, experts, -1).transpose(1, 2)
        return main, fused

    # ----------------------------------------------------------------- trainable branches
    def media_tokens(self, features: MediaFeatures) -> dict[str, torch.Tensor]:
        """Placeholder token -> (B, n_tokens, D_lm) embeddings, for every branch whose features are present."""
        dtype = self.get_input_embeddings().weight.dtype
        tokens: dict[str, torch.Tensor] = {}
        if features.vision is not None and self.visual_resampler is not None:
            b, t, p, d = features.vision.shape
            positions = torch.arange(t, device=features.vision.device).repeat_interleave(p)
            tokens[FRAME_TOKEN] = self.visual_resampler(features.vision.reshape(b, t * p, d).float(), positions)
        if features.speech is not None and self.speech_resampler is not None:
            b, s, f, d = features.speech.shape
            positions = torch.arange(s, device=features.speech.device).repeat_interleave(f)
            tokens[AUDIO_TOKEN] = self.speech_resampler(features.speech.reshape(b, s * f, d).float(), positions)
        if features.face is not None and self.face_temporal is not None:
            tokens[FACE_TOKEN] = self.face_temporal(features.face.float())
        has_fusion_inputs = features.vision_fusion is not None and features.speech_fusion is not None
        if has_fusion_inputs and self.fusion_encoder is not None:
            tokens[FUSION_TOKEN] = self.fusion_encoder(features.speech_fusion.float(), features.vision_fusion.float())
        return {k: v.to(dtype) for k, v in tokens.items()}

    def fusion_gate_weights(self) -> torch.Tensor | None:
        """(B, E) gate weights of the fusion experts in the last forward/generate that made a fusion token
        (expert e reads speech layer ``config.fusion_speech_layers[e]`` and vision layer
        ``config.fusion_vision_layers[e]``); None before any, or without a fusion encoder."""
        return None if self.fusion_encoder is None else self.fusion_encoder.last_gate_weights

    def embed_inputs(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        input_values: torch.Tensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        modality_mask: torch.Tensor | None = None,
        **feature_kwargs: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids + media -> (inputs_embeds, attention_mask) with branch tokens over the placeholders.

        ``modality_mask`` (B, 3) bool says per sample whether frames, audio and face are real; a missing
        modality (and fusion, when frames or audio is missing) is zeroed and masked out of attention.
        Precomputed encoder outputs may be passed as ``vision_features=...`` etc. (see :class:`MediaFeatures`).
        """
        features = MediaFeatures(**{k.removesuffix("_features"): v for k, v in feature_kwargs.items()
                                    if k.endswith("_features") and v is not None})
        if pixel_values is not None or input_values is not None or pixel_values_videos is not None:
            encoded = self.encode_media(pixel_values, input_values, pixel_values_videos)
            for f in fields(MediaFeatures):
                if getattr(features, f.name) is None:
                    setattr(features, f.name, getattr(encoded, f.name))
        attention_mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask.clone()
        token_ids = self.config.placeholder_token_ids
        placeholder = torch.zeros_like(input_ids, dtype=torch.bool)
        for token_id in token_ids.values():
            placeholder |= input_ids == token_id
        embeds = self.get_input_embeddings()(input_ids.masked_fill(placeholder, 0))
        batch = input_ids.shape[0]
        present = modality_mask.bool() if modality_mask is not None else torch.ones(
            batch, 3, dtype=torch.bool, device=input_ids.device)
        present_by_token = {FRAME_TOKEN: present[:, 0], AUDIO_TOKEN: present[:, 1], FACE_TOKEN: present[:, 2],
                            FUSION_TOKEN: present[:, 0] & present[:, 1]}
        tokens = self.media_tokens(features)
        expected = self.config.token_counts
        for token, token_id in token_ids.items():
            positions = input_ids == token_id
            counts = positions.sum(dim=1)
            if not bool(counts.any()):
                continue
            n = expected.get(token, 0)
            bad = [(i, int(c)) for i, c in enumerate(counts.tolist()) if c not in (0, n)]
            if bad:
                raise ValueError(
                    f"sample {bad[0][0]} has {bad[0][1]} {token} placeholders but the model makes {n} {token} tokens")
            rows = counts > 0
            if token in tokens:
                values = tokens[token][rows].reshape(-1, embeds.shape[-1])
                embeds = embeds.masked_scatter(positions[..., None], values.to(embeds.dtype))
            keep = present_by_token[token] if token in tokens else torch.zeros_like(rows)
            hidden = positions & ~keep[:, None]
            embeds = embeds.masked_fill(hidden[..., None], 0.0)
            attention_mask = attention_mask.masked_fill(hidden, 0)
        return embeds, attention_mask

    # ----------------------------------------------------------------- LM
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        input_values: torch.Tensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        modality_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        cache: Any = None,
        use_cache: bool | None = None,
        vision_features: torch.Tensor | None = None,
        vision_fusion_features: torch.Tensor | None = None,
        speech_features: torch.Tensor | None = None,
        speech_fusion_features: torch.Tensor | None = None,
        face_features: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> CausalLMOutputWithPast:
        """Loss (when ``labels`` is given) is the LM's shifted cross-entropy over positions whose label is not
        -100: the processor labels only the target (answer, ``###`` and eos). ``cache`` is the LM's KV cache
        (transformers 5 renamed ``past_key_values`` to ``cache``; passing the old name, even as None, warns)."""
        if inputs_embeds is None:
            if input_ids is None:
                raise ValueError("forward needs input_ids or inputs_embeds")
            inputs_embeds, attention_mask = self.embed_inputs(
                input_ids, attention_mask, pixel_values, input_values, pixel_values_videos, modality_mask,
                vision_features=vision_features, vision_fusion_features=vision_fusion_features,
                speech_features=speech_features, speech_fusion_features=speech_fusion_features,
                face_features=face_features)
            if position_ids is None and cache is None:
                # Positions count attended tokens only, exactly as generate() derives them.
                position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        if cache is not None:
            kwargs["cache"] = cache
        if labels is not None and self.training and torch.is_grad_enabled():
            return self._training_loss(inputs_embeds, attention_mask, position_ids, labels, **kwargs)
        return self.language_model(inputs_embeds=inputs_embeds, attention_mask=attention_mask, labels=labels,
                                   position_ids=position_ids, use_cache=use_cache, **kwargs)

    def _training_loss(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor | None,
                       position_ids: torch.Tensor | None, labels: torch.Tensor,
                       num_items_in_batch: torch.Tensor | int | None = None, **kwargs: Any) -> CausalLMOutputWithPast:
        """The LM's causal-LM loss (transformers' ``ForCausalLMLoss``: next-token cross-entropy in float32 over
        positions whose label is not -100, mean, or sum / ``num_items_in_batch`` under gradient accumulation),
        with the head applied to those positions only. The prompt is most of a sample and its logits are never
        used: Qwen2.5's head over 3 x 330 positions is 0.6 GB of float32 logits per step. No logits returned."""
        hidden = self.language_model.get_decoder()(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                                                   position_ids=position_ids, use_cache=False,
                                                   **kwargs).last_hidden_state
        targets = labels[:, 1:]
        scored = targets != -100
        logits = self.language_model.get_output_embeddings()(hidden[:, :-1][scored]).float()
        if num_items_in_batch is None:
            loss = nn.functional.cross_entropy(logits, targets[scored])
        else:
            loss = nn.functional.cross_entropy(logits, targets[scored], reduction="sum")
            loss = loss / (num_items_in_batch.to(loss.device) if torch.is_tensor(num_items_in_batch)
                           else num_items_in_batch)
        return CausalLMOutputWithPast(loss=loss)

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        input_values: torch.Tensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        modality_mask: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """Encode the media once, then let the LM generate from the spliced embeddings.

        Returns only the new tokens (B, new). Any ``*_features`` kwargs are used instead of the encoders;
        every other kwarg goes to the LM's ``generate`` (max_new_tokens, do_sample, streamer, ...). Unless a
        cache is given (or ``use_cache=False``), the LM decodes into an in-place KV cache with room for the
        answer (:func:`~emox_core.modeling.kv_cache.in_place_cache`: the same scores, no copy of the cache a step).
        """
        feature_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k.endswith("_features")}
        embeds, mask = self.embed_inputs(input_ids, attention_mask, pixel_values, input_values, pixel_values_videos,
                                         modality_mask, **feature_kwargs)
        if kwargs.get("use_cache", True) and kwargs.get("cache") is None and kwargs.get("past_key_values") is None:
            kwargs["cache"] = in_place_cache(self.language_model.config, kwargs.get("max_new_tokens") or 0)
        return self.language_model.generate(inputs_embeds=embeds, attention_mask=mask, **kwargs)

    # ----------------------------------------------------------------- building and saved models
    @classmethod
    def from_backbones(cls, config: NanoEmoXConfig, sources: dict[str, str], dtype: torch.dtype | None = None,
                       tokenizer: Any = None) -> tuple[NanoEmoXForConditionalGeneration, Any]:
        """A new model on the backbones ``sources`` name (see :func:`~emox_core.modeling.backbones.load_backbones`),
        with its tokenizer (placeholders added); adapters and LoRA at their official initial values, float32."""
        from emox_core.modeling.backbones import load_backbones, prepare_tokenizer

        towers, tokenizer = load_backbones(config, sources, dtype, tokenizer)
        prepare_tokenizer(tokenizer, config, towers["text"])
        model = cls(config, towers=towers)
        model.keep_adapters_float32()
        return model, tokenizer

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, *args: Any, **kwargs: Any
                        ) -> NanoEmoXForConditionalGeneration:
        """A full ``save_pretrained`` directory (transformers' loader), or an emox adapters directory (training
        output, ``emox convert official``), rebuilt on the backbones its config names; for the latter only
        ``dtype`` is accepted (:func:`~emox_core.modeling.loading.load_model` also reads older directories)."""
        from emox_core.modeling.adapters import is_adapters_dir

        directory = pretrained_model_name_or_path
        if not is_adapters_dir(directory):
            return super().from_pretrained(directory, *args, **kwargs)
        unsupported = sorted(set(kwargs) - {"dtype"})
        if args or unsupported:
            raise EmoxError(f"{directory}: an adapters directory loads with dtype only "
                            f"(got {', '.join(unsupported) or 'positional arguments'})")
        config = NanoEmoXConfig.from_pretrained(str(directory))
        if not config.backbones:
            raise EmoxError(f"{directory}: adapters checkpoint without backbone sources in its config "
                            "(written by an older emox: load it with emox_core.modeling.loading.load_model)")
        model, _ = cls.from_backbones(config, dict(config.backbones), kwargs.get("dtype"))
        model.load_adapters(directory, strict=True)
        return model

    def keep_adapters_float32(self) -> None:
        """Adapters and LoRA run in float32 whatever the backbones' dtype (as peft and the official code do);
        their inputs are cast to float32 in ``media_tokens``."""
        for name in ADAPTER_MODULES:
            module = getattr(self, name)
            if module is not None:
                module.float()
        for name, param in self.language_model.named_parameters():
            if "lora_" in name:
                param.data = param.data.float()

    def adapter_state_dict(self) -> dict[str, torch.Tensor]:
        """Every trainable-kind weight (resamplers, face head, fusion, LoRA), whatever the phase froze."""
        return {
            name: param.detach().contiguous()
            for name, param in self.named_parameters()
            if name.split(".", 1)[0] in ADAPTER_MODULES or "lora_" in name
        }

    def load_adapters(self, path: str | Path, strict: bool = True) -> list[str]:
        """Load the weights of an adapters directory or file (see :mod:`emox_core.modeling.adapters`)."""
        from emox_core.modeling.adapters import load_adapters_into

        return load_adapters_into(self, path, strict)

    def prepare_for_inference(self) -> NanoEmoXForConditionalGeneration:
        """What inference runs on (``load_for_inference``), on the device it will run on: LoRA merged into the
        LM weights, the LM's Linears reading their weights at the memory's rate when decoding (the projections
        of one input as one product: their parameters become views of one tensor per group), the frozen towers'
        Linears computed by oneDNN with their bias and GELU fused and the LM's MLPs run in row blocks, on CPU
        (:mod:`~emox_core.modeling.cpu_linears`), no gradients, eval mode. The answers are the unprepared
        model's (``tests/inference/test_fast_paths.py``)."""
        from emox_core.modeling.cpu_linears import block_mlps, fuse_linears, group_projections, stream_linears

        self.merge_lora()
        stream_linears(self.language_model)
        group_projections(self.language_model)
        for tower in self.towers():
            fuse_linears(tower)
        block_mlps(self)
        return self.requires_grad_(False).eval()

    def merge_lora(self) -> None:
        """Fold LoRA into the LM weights (peft's ``LoraLayer.merge``, then drop the LoRA wrappers, as
        ``merge_and_unload`` does); the config then says ``use_lora=False``."""
        if not self.config.use_lora:
            return
        from peft.tuners.lora import LoraLayer

        for name, module in list(self.language_model.named_modules()):
            if isinstance(module, LoraLayer):
                module.merge()
                parent_name, _, child = name.rpartition(".")
                setattr(self.language_model.get_submodule(parent_name), child, module.get_base_layer())
        self.config.use_lora = False


def expected_adapter_shapes(config: NanoEmoXConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every adapter weight a model of ``config`` has (built on the meta device: no memory,
    no download)."""
    with torch.device("meta"):
        model = NanoEmoXForConditionalGeneration(config)
    return {name: tuple(value.shape) for name, value in model.adapter_state_dict().items()}


__all__ = ["NanoEmoXForConditionalGeneration", "MediaFeatures", "ADAPTER_MODULES"]
