"""Official Nano-EmoX runner checkpoints -> emox adapters directories (``emox convert official``).

The official runner saves ``{'model', 'optimizer', 'config', 'scaler', 'epoch'}`` where ``model`` holds every
parameter that trained in that phase plus every buffer (waHAHJIAHAO/Nano-EmoX @ b08f985,
``runners/runner_base.py:594-614``). Key names come from ``models/nano_emox.py`` (Q-Formers built by
``init_video_Qformer`` from ``models/Qformer.py``), ``models/MoE_fusion.py`` and ``models/faceXencoder.py``;
docs/weights.md lists the whole mapping. Each official branch has exactly one emox module with the same
maths, so conversion is a renaming; the sizes the weights fix (token counts, Q-Former and fusion widths,
LoRA rank, ...) are read from the checkpoint, the rest (backbones, attention heads) from the config given.
"""

from __future__ import annotations

import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from emox_core.errors import EmoxError
from emox_core.modeling.adapters import LORA, branch_of, write_adapters
from emox_core.modeling.configuration import LORA_TARGETS, NanoEmoXConfig
from emox_core.modeling.modeling_nano_emox import expected_adapter_shapes

_QFORMER = (r"Qformer\.bert\.embeddings\.LayerNorm\.(weight|bias)", r"qformer.layernorm.\1"), \
    (r"Qformer\.bert\.encoder\.layer\.(\d+)\.(attention|crossattention)\.self\.(query|key|value)\.(weight|bias)",
     r"qformer.encoder.layer.\1.\2.attention.\3.\4"), \
    (r"Qformer\.bert\.encoder\.layer\.(\d+)\.(attention|crossattention|output_query)\.(output\.)?(dense|LayerNorm)"
     r"\.(weight|bias)", r"qformer.encoder.layer.\1.\2.\3\4.\5"), \
    (r"Qformer\.bert\.encoder\.layer\.(\d+)\.intermediate_query\.dense\.(weight|bias)",
     r"qformer.encoder.layer.\1.intermediate_query.dense.\2")


def _resampler_rules(official: str, positions: str, projection: str, emox: str) -> list[tuple[str, str]]:
    """The rules of one Q-Former branch (``video_*`` or ``audio_*`` in the official code)."""
    rules = [(f"{official}_query_tokens", f"{emox}.query_tokens"),
             (rf"{positions}\.weight", f"{emox}.position_embedding.weight"),
             (rf"{projection}\.(weight|bias)", rf"{emox}.projector.\1")]
    return rules + [(f"{official}_{pattern}", f"{emox}.{target}") for pattern, target in _QFORMER]


# official key (full match) -> emox parameter name
RULES: list[tuple[re.Pattern[str], str]] = [(re.compile(pattern), target) for pattern, target in [
    *_resampler_rules("video", "video_frame_position_embedding", "video_proj", "visual_resampler"),
    *_resampler_rules("audio", "audio_position_embedding", "audio_llama_proj", "speech_resampler"),
    (r"multi_multiscale_fusion\.audio_proj\.(weight|bias)", r"fusion_encoder.speech_proj.\1"),
    (r"multi_multiscale_fusion\.visual_proj\.(weight|bias)", r"fusion_encoder.visual_proj.\1"),
    (r"multi_multiscale_fusion\.cross_attns\.(\d+)\.(in_proj_weight|in_proj_bias|out_proj\.weight|out_proj\.bias)",
     r"fusion_encoder.experts.\1.cross_attention.\2"),
    (r"multi_multiscale_fusion\.ffns\.(\d+)\.(\d+)\.(weight|bias)", r"fusion_encoder.experts.\1.ffn.\2.\3"),
    (r"multi_multiscale_fusion\.gate_mlp\.(\d+)\.(weight|bias)", r"fusion_encoder.gate.\1.\2"),
    (r"multi_llama_proj\.(weight|bias)", r"fusion_encoder.projector.\1"),
    (r"facial_encoder\.query", "face_temporal.query"),
    (r"facial_encoder\.attn\.(in_proj_weight|in_proj_bias|out_proj\.weight|out_proj\.bias)",
     r"face_temporal.attention.\1"),
    (r"facial_encoder\.face_proj\.(\d+)\.(weight|bias)", r"face_temporal.projector.\1.\2"),
    (r"llama_model\.base_model\.model\.(model\.layers\.\d+\.(?:self_attn|mlp)\.\w+_proj\.lora_[AB])\.default\.weight",
     r"language_model.\1.default.weight"),
]]

# Saved by the official trainer but read by no branch emox reproduces (shared/fixtures/official-modules/README.md):
# the Q-Formers' position_ids buffers, the image branch (unused by the video model), the multi_*_embs
# projections of the unused Q-Former fusion, the face head's never-applied LayerNorm, and the Swin index
# buffers of the frozen FaceXFormer (recomputed from the window size).
UNUSED = [re.compile(p) for p in (
    r"(video|audio)_Qformer\.bert\.embeddings\.position_ids",
    r"image_llama_proj\..+", r"multi_audio_embs\..+", r"multi_video_embs\..+", r"facial_encoder\.lynorm\..+",
    r"facial_encoder\.facexformer\..+\.relative_position_index",
)]

# emox branch -> the official modules it comes from (for messages and docs)
OFFICIAL_BRANCHES = {
    "visual_resampler": "video_Qformer, video_query_tokens, video_frame_position_embedding, video_proj",
    "speech_resampler": "audio_Qformer, audio_query_tokens, audio_position_embedding, audio_llama_proj",
    "fusion_encoder": "multi_multiscale_fusion, multi_llama_proj",
    "face_temporal": "facial_encoder.query/attn/face_proj",
    LORA: "llama_model LoRA",
}


@dataclass
class ConversionReport:
    """What a conversion did: tensors per converted branch, branches the checkpoint lacks (-> what it has of
    them), known-unused keys skipped, config fields the checkpoint changed from the given config."""

    directory: Path
    converted: dict[str, int] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    changed: dict[str, Any] = field(default_factory=dict)


def read_official_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(``model`` state dict, run ``config``) of an official ``.pth``, read without unpickling arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise EmoxError(f"{path}: checkpoint not found")
    try:
        raw = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "needs a full unpickler"
        raise EmoxError(f"{path}: refused, it holds Python objects beyond tensors and plain containers "
                        f"(emox reads checkpoints with weights_only=True: {first[:160]})") from None
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a file that is not a checkpoint
        raise EmoxError(f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__})") from None
    state = raw.get("model") if isinstance(raw, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise EmoxError(f"{path}: not an official Nano-EmoX runner checkpoint (expected a 'model' dict of tensors)")
    run_config = raw.get("config") if isinstance(raw.get("config"), dict) else {}
    return dict(state), run_config


def map_official_keys(state: dict[str, torch.Tensor], source: str
                      ) -> tuple[dict[str, torch.Tensor], dict[str, str], list[str]]:
    """Official names -> emox names; returns (mapped float32 weights, emox name -> official name, skipped
    keys). A key that is neither mapped nor known-unused is an error naming it."""
    mapped: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    skipped: list[str] = []
    for key, value in state.items():
        for pattern, target in RULES:
            if pattern.fullmatch(key):
                name = pattern.sub(target, key)
                mapped[name], origin[name] = value.to(torch.float32), key
                break
        else:
            if not any(p.fullmatch(key) for p in UNUSED):
                raise EmoxError(f"{source}: unknown key {key!r} (neither a Nano-EmoX branch emox converts nor a "
                                "known unused one)")
            skipped.append(key)
    return mapped, origin, skipped


def _layers(state: dict[str, torch.Tensor], pattern: str) -> int:
    return len({m.group(1) for k in state if (m := re.match(pattern, k))})


def infer_config_fields(state: dict[str, torch.Tensor], run_config: dict[str, Any]) -> dict[str, Any]:
    """The config fields the converted weights fix (only for the branches present), plus the official run
    settings no weight carries (fusion token count, LoRA alpha/dropout)."""
    model_cfg = run_config.get("model", {}) if isinstance(run_config.get("model"), dict) else {}
    fields: dict[str, Any] = {}
    widths = set()
    for branch, tokens, positions in (("visual_resampler", "num_visual_tokens", "max_frame_positions"),
                                      ("speech_resampler", "num_speech_tokens", "audio_segments")):
        if f"{branch}.query_tokens" not in state:
            continue
        _, fields[tokens], hidden = state[f"{branch}.query_tokens"].shape
        widths.add(hidden)
        if f"{branch}.position_embedding.weight" in state:
            fields[positions] = state[f"{branch}.position_embedding.weight"].shape[0]
        layers = _layers(state, rf"{branch}\.qformer\.encoder\.layer\.(\d+)\.")
        if layers:
            fields["qformer_num_layers"] = layers
        ffn = f"{branch}.qformer.encoder.layer.0.intermediate_query.dense.weight"
        if ffn in state:
            fields["qformer_intermediate_size"] = state[ffn].shape[0]
    if len(widths) > 1:
        raise EmoxError(f"the visual and speech Q-Formers differ in width ({sorted(widths)}); emox's config has one")
    if widths:
        fields["qformer_hidden_size"] = widths.pop()
    if "fusion_encoder.speech_proj.weight" in state:
        fields["fusion_hidden_size"] = state["fusion_encoder.speech_proj.weight"].shape[0]
        fields["num_fusion_experts"] = _layers(state, r"fusion_encoder\.experts\.(\d+)\.")
    if "num_multi_query_token" in model_cfg:
        fields["num_fusion_tokens"] = int(model_cfg["num_multi_query_token"])
    if "face_temporal.query" in state:
        fields["num_face_tokens"] = state["face_temporal.query"].shape[0]
        fields["face_temporal_position"] = False  # the official head has no frame positions
    if "face_temporal.projector.0.weight" in state:
        fields["face_hidden_size"] = state["face_temporal.projector.0.weight"].shape[0]
    lora_a = [v for k, v in state.items() if k.endswith("lora_A.default.weight")]
    if lora_a:
        fields["lora_r"] = lora_a[0].shape[0]
        found = {k.rsplit(".", 4)[1] for k in state if "lora_" in k}
        fields["lora_target_modules"] = [t for t in LORA_TARGETS if t in found] + sorted(found - set(LORA_TARGETS))
        for name in ("lora_alpha", "lora_dropout"):
            if name in model_cfg:
                fields[name] = model_cfg[name]
    else:
        # No LoRA saved: the phase froze the LLM (or ran without LoRA), so its LoRA was peft's initial no-op
        # (lora_B = 0) and the model it computed is the plain LM.
        fields["use_lora"] = False
    return fields


def convert_official(checkpoint: str | Path, out_dir: str | Path, config: NanoEmoXConfig) -> ConversionReport:
    """Convert an official runner checkpoint into an adapters directory on the backbones ``config`` names.

    ``config`` gives the backbones and what no weight fixes (attention heads, feature sources, ...); the
    sizes the weights fix are taken from the checkpoint. Branches the checkpoint's phase froze are reported
    as missing; the directory then serves as a recipe's ``model.init_from`` but not for inference.
    """
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise EmoxError(f"{out}: output directory is not empty")
    source = Path(checkpoint)
    state, run_config = read_official_checkpoint(source)
    mapped, origin, skipped = map_official_keys(state, str(source))
    fields = infer_config_fields(mapped, run_config)
    changed = {k: v for k, v in fields.items() if getattr(config, k) != v}
    for name, value in fields.items():
        setattr(config, name, value)
    config.validate()
    expected = expected_adapter_shapes(config)
    for key, value in mapped.items():
        if key not in expected:
            raise EmoxError(f"{source}: {origin[key]} (emox {key}) has no place in this config (LM depth, fusion "
                            "experts or enabled branches differ); check the preset and --set values")
        if tuple(value.shape) != expected[key]:
            raise EmoxError(f"{source}: {origin[key]} is {list(value.shape)} but emox {key} is "
                            f"{list(expected[key])} in this config (do the backbone widths match the official run's?)")
    report = ConversionReport(out, skipped=skipped, changed=changed)
    for branch in sorted({branch_of(k) for k in expected}):
        want = [k for k in expected if branch_of(k) == branch]
        have = sum(k in mapped for k in want)
        if have == len(want):
            report.converted[branch] = have
        else:
            report.missing[branch] = f"{have} of {len(want)} tensors of {OFFICIAL_BRANCHES[branch]}"
    metadata = {"converted_from": source.name}
    if report.missing:
        metadata["missing"] = ",".join(report.missing)
    write_adapters(out, mapped, config, **metadata)
    return report
