"""The facial branch: FaceXFormer's encoder (frozen) and the temporal head (trainable).

FaceXFormer (Kartik-3004/facexformer @ d4a268b ``network/models/facexformer.py``): Swin-B stage outputs
1-4 (before patch merging) -> per-stage Linear to 256 -> bilinear upsample to the stage-1 grid -> concat in
reverse stage order -> 1x1 conv (no bias) -> (256, 56, 56). Nano-EmoX (``models/faceXencoder.py``) pools
that map to one 256-d vector per frame and lets 4 learned queries attend over the frames (4-head MHA,
no residual, no position), then a 2-layer GELU MLP to the LM width.

The released ``model.pt`` holds torchvision-style Swin keys; :func:`convert_facexformer_state_dict`
maps them onto transformers' ``SwinModel`` so torchvision is never needed.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedModel, SwinModel

from emox_core.errors import EmoxError
from emox_core.modeling.configuration import FaceXFormerConfig
from emox_core.modeling.initialization import torch_default_init


class FaceXFormerMLP(nn.Module):
    """One stage's token-wise Linear (named ``proj`` as in the released checkpoint)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(in_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x.flatten(2).transpose(1, 2))


class FaceXFormerEncoder(PreTrainedModel):
    """Frames (N, 3, H, W) -> FaceXFormer's fused multi-scale map (N, fusion_dim, H/4, W/4)."""

    config_class = FaceXFormerConfig
    base_model_prefix = "facexformer"
    main_input_name = "pixel_values"

    def __init__(self, config: FaceXFormerConfig) -> None:
        super().__init__(config)
        swin = config.backbone_config
        self.backbone = SwinModel(swin, add_pooling_layer=False)
        dims = [swin.embed_dim * 2**i for i in range(len(swin.depths))]
        self.linear_c = nn.ModuleList(FaceXFormerMLP(d, config.fusion_dim) for d in dims)
        self.linear_fuse = nn.Conv2d(len(dims) * config.fusion_dim, config.fusion_dim, kernel_size=1, bias=False)
        self.post_init()

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        out = self.backbone(pixel_values, output_hidden_states=True, output_hidden_states_before_downsampling=True)
        stages = out.reshaped_hidden_states[1:]  # [0] is the patch embedding
        size = stages[0].shape[-2:]
        maps = []
        for stage, mlp in zip(stages, self.linear_c, strict=True):
            n, _, h, w = stage.shape
            m = mlp(stage).transpose(1, 2).reshape(n, -1, h, w)
            maps.append(F.interpolate(m, size=size, mode="bilinear", align_corners=False))
        return self.linear_fuse(torch.cat(maps[::-1], dim=1))

    def frame_vectors(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) -> (B, T, fusion_dim): the fused map average-pooled per frame (Nano-EmoX).

        Computed without building the map: the per-stage Linear, the bilinear upsampling and the 1x1 fusion
        are all linear, so the map's average is the fusion applied to each stage's weighted average (weights:
        what each stage position contributes to the upsampled map's mean; they sum to 1, so the Linear's bias
        passes through). Equal to ``self(x).mean((-2, -1))`` up to float rounding (in float32, from the
        stage maps on), without the 4 x 256 x 56 x 56 map per frame.
        """
        b, t = pixel_values.shape[:2]
        out = self.backbone(pixel_values.flatten(0, 1), output_hidden_states=True,
                            output_hidden_states_before_downsampling=True)
        stages = out.reshaped_hidden_states[1:]  # [0] is the patch embedding
        size = tuple(stages[0].shape[-2:])
        pooled = []
        for stage, mlp in zip(stages, self.linear_c, strict=True):
            weights = upsampled_mean_weights(tuple(stage.shape[-2:]), size).to(stage.device)
            mean = stage.flatten(2).float() @ weights.flatten()  # (N, C)
            pooled.append(F.linear(mean, mlp.proj.weight.float(), mlp.proj.bias.float()))
        fused = F.linear(torch.cat(pooled[::-1], dim=1), self.linear_fuse.weight.flatten(1).float())
        return fused.to(pixel_values.dtype).reshape(b, t, -1)


@functools.lru_cache(maxsize=16)
def upsampled_mean_weights(source: tuple[int, int], target: tuple[int, int]) -> torch.Tensor:
    """(h, w) float32 weights whose weighted sum of a map equals the mean of the map upsampled bilinearly
    (``align_corners=False``) to ``target``: torch's own interpolation applied to each basis position."""
    def axis(n_in: int, n_out: int) -> torch.Tensor:
        basis = torch.eye(n_in, dtype=torch.float64)[None]  # channel i = the i-th position alone
        return F.interpolate(basis, size=n_out, mode="linear", align_corners=False)[0].mean(dim=1)

    return torch.outer(axis(source[0], target[0]), axis(source[1], target[1])).float()


class FaceTemporalHead(nn.Module):
    """Learned temporal queries attend over per-frame face vectors, then a GELU MLP to the LM width."""

    def __init__(self, face_dim: int, num_tokens: int, num_heads: int, hidden_size: int, output_dim: int,
                 max_frames: int, use_position: bool) -> None:
        super().__init__()
        self.query = nn.Parameter(torch.randn(num_tokens, face_dim))  # N(0, 1) as in the official code
        self.position_embedding = nn.Embedding(max_frames, face_dim) if use_position else None
        self.attention = nn.MultiheadAttention(face_dim, num_heads, batch_first=True)
        self.projector = nn.Sequential(
            nn.Linear(face_dim, hidden_size), nn.GELU(), nn.Dropout(0.1), nn.Linear(hidden_size, output_dim)
        )

    def official_init(self) -> None:
        """The official initial values (``models/faceXencoder.py``): queries N(0, 1) (``torch.randn``), the
        attention and the MLP torch's layer defaults (the optional positions too: ``nn.Embedding``'s N(0, 1))."""
        torch_default_init(self)
        nn.init.normal_(self.query, mean=0.0, std=1.0)

    def forward(self, face_vectors: torch.Tensor) -> torch.Tensor:
        if self.position_embedding is not None:
            positions = torch.arange(face_vectors.shape[1], device=face_vectors.device)
            face_vectors = face_vectors + self.position_embedding(positions)
        queries = self.query[None].expand(face_vectors.shape[0], -1, -1).to(face_vectors.dtype)
        pooled = self.attention(queries, face_vectors, face_vectors, need_weights=False)[0]
        return self.projector(pooled)


# torchvision swin_b inside FaceXFormer: backbone.0 = features (0: patch embed, odd: stages, even>0: merging),
# backbone.1 = final norm. See architecture notes §1.5 (verified numerically against transformers' SwinModel).
_BLOCK_RENAMES = {
    "norm1": "layernorm_before", "norm2": "layernorm_after", "mlp.0": "mlp.fc1", "mlp.3": "mlp.fc2",
    "attn.proj": "attention.o_proj", "attn.relative_position_bias_table":
        "attention.relative_position_bias.relative_position_bias_table",
}


def convert_facexformer_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map a FaceXFormer ``model.pt`` state dict (torchvision Swin keys) onto :class:`FaceXFormerEncoder`.

    Keeps the backbone, ``linear_c`` and ``linear_fuse``; drops the task decoder, the positional encoding
    and the ``relative_position_index`` buffers (recomputed). The fused qkv projection is split in three.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        if key.startswith(("linear_c.", "linear_fuse.")):
            out[key] = value
            continue
        if not key.startswith("backbone.") or key.endswith("relative_position_index"):
            continue
        rest = key.removeprefix("backbone.")
        if rest.startswith("1."):
            out["backbone.layernorm." + rest[2:]] = value
            continue
        match = re.match(r"0\.(\d+)\.(.*)", rest)
        if not match:
            continue
        index, tail = int(match.group(1)), match.group(2)
        if index == 0:
            renamed = {"0.weight": "projection.weight", "0.bias": "projection.bias"}
            if tail in renamed:
                out["backbone.embeddings.patch_embeddings." + renamed[tail]] = value
            elif tail.startswith("2."):
                out["backbone.embeddings.norm." + tail[2:]] = value
        elif index % 2 == 0:  # patch merging after stage index//2 - 1
            out[f"backbone.encoder.layers.{index // 2 - 1}.downsample.{tail}"] = value
        else:
            block, _, name = tail.partition(".")
            prefix = f"backbone.encoder.layers.{index // 2}.blocks.{block}."
            if name.startswith("attn.qkv."):
                kind = name.rsplit(".", 1)[1]
                for part, chunk in zip(("q_proj", "k_proj", "v_proj"), value.chunk(3, dim=0), strict=True):
                    out[f"{prefix}attention.{part}.{kind}"] = chunk.clone()
                continue
            for old, new in _BLOCK_RENAMES.items():
                if name == old or name.startswith(old + "."):  # a whole key (the bias table) or a prefix
                    name = new + name[len(old):]
                    break
            out[prefix + name] = value
    return out


def load_facexformer_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Read the released ``model.pt`` (its ``state_dict_backbone`` entry holds the whole model)."""
    try:
        raw = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file
        raise EmoxError(f"{path}: not a readable FaceXFormer checkpoint ({type(exc).__name__}: {exc})") from None
    state = raw.get("state_dict_backbone", raw.get("state_dict", raw)) if isinstance(raw, dict) else None
    if not isinstance(state, dict) or not any(k.startswith("backbone.") for k in state):
        raise EmoxError(f"{path}: no FaceXFormer 'backbone.*' weights found (expected key 'state_dict_backbone')")
    return convert_facexformer_state_dict(state)


def facexformer_from_checkpoint(path: str | Path, config: FaceXFormerConfig) -> FaceXFormerEncoder:
    """Build the encoder from ``config`` and load the released ``model.pt`` into it (strictly)."""
    encoder = FaceXFormerEncoder(config)
    converted = load_facexformer_checkpoint(path)
    own = {k: v for k, v in encoder.state_dict().items() if not k.endswith("relative_position_index")}
    missing = sorted(set(own) - set(converted))
    unexpected = sorted(set(converted) - set(own))
    wrong = [k for k in converted if k in own and converted[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        raise EmoxError(
            f"{path}: FaceXFormer checkpoint does not match the face config (missing {len(missing)} "
            f"{missing[:2]}, unexpected {len(unexpected)} {unexpected[:2]}, wrong shape {len(wrong)} {wrong[:2]})")
    encoder.load_state_dict(converted, strict=False)
    return encoder
