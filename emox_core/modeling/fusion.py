"""The fusion encoder: speech-guided cross-attention experts over paired encoder layers, mixed by a gate.

Paper (supplement C.2, eqs. 2-3): E_m = CrossAttn(Q=speech, K,V=visual) + E_s ; E_mf = FFN(E_m) + E_m.
Official code (waHAHJIAHAO/Nano-EmoX @ b08f985 ``models/MoE_fusion.py`` ``MultiScaleCrossModalFusion``):
one audio and one visual projection to d=512 shared by all experts; per expert an 8-head attention with
dropout 0.1 and an FFN with LayerNorm inside (LN -> Linear -> GELU -> Dropout -> Linear); a dense softmax
gate (Linear(E*d -> d) -> GELU -> Dropout -> Linear(d -> E)) over the time-mean of the concatenated expert
outputs; the gated sum is averaged over time and projected to the LM width (1 fusion token).
Initial values: torch's layer defaults throughout (the official module sets none of its own).
"""

from __future__ import annotations

import torch
from torch import nn

from emox_core.modeling.initialization import torch_default_init


class FusionExpert(nn.Module):
    """Speech queries attend to visual keys/values; residual, then a residual FFN."""

    def __init__(self, hidden_size: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.cross_attention = nn.MultiheadAttention(hidden_size, num_heads, dropout=dropout, batch_first=True)
        self.ffn = nn.Sequential(
            nn.LayerNorm(hidden_size), nn.Linear(hidden_size, hidden_size), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden_size, hidden_size),
        )

    def forward(self, speech: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        mixed = self.cross_attention(speech, visual, visual, need_weights=False)[0] + speech
        return self.ffn(mixed) + mixed


class FusionEncoder(nn.Module):
    """Per-layer speech (B, S, D_s) and visual (B, T, D_v) features -> (B, num_tokens, D_lm)."""

    def __init__(self, speech_dim: int, vision_dim: int, hidden_size: int, num_experts: int, num_heads: int,
                 dropout: float, output_dim: int, num_tokens: int) -> None:
        super().__init__()
        self.num_tokens = num_tokens
        self.speech_proj = nn.Linear(speech_dim, hidden_size)
        self.visual_proj = nn.Linear(vision_dim, hidden_size)
        self.experts = nn.ModuleList(FusionExpert(hidden_size, num_heads, dropout) for _ in range(num_experts))
        self.gate = nn.Sequential(
            nn.Linear(num_experts * hidden_size, hidden_size), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden_size, num_experts),
        )
        self.projector = nn.Linear(hidden_size, output_dim)
        # (B, E) softmax weights of the last forward, detached: what ``emox infer --json`` reports per expert.
        self.last_gate_weights: torch.Tensor | None = None

    def official_init(self) -> None:
        """Re-draw every weight as torch's constructors draw it, as in the official code."""
        torch_default_init(self)

    def forward(self, speech_layers: torch.Tensor, vision_layers: torch.Tensor) -> torch.Tensor:
        """``speech_layers`` (B, E, S, D_s) and ``vision_layers`` (B, E, T, D_v): expert e reads pair e."""
        outputs = [
            expert(self.speech_proj(speech_layers[:, i]), self.visual_proj(vision_layers[:, i]))
            for i, expert in enumerate(self.experts)
        ]
        stacked = torch.stack(outputs, dim=1)  # (B, E, S, d)
        weights = torch.softmax(self.gate(torch.cat(outputs, dim=-1).mean(dim=1)), dim=-1)  # (B, E)
        self.last_gate_weights = weights.detach()
        fused = (weights[:, :, None, None] * stacked).sum(dim=1).mean(dim=1)  # (B, d)
        return self.projector(fused)[:, None, :].expand(-1, self.num_tokens, -1)
