"""The visual and speech resamplers: a 2-layer Q-Former with learned queries over encoder features.

Official recipe (waHAHJIAHAO/Nano-EmoX @ b08f985 ``models/nano_emox.py:26-39``): BERT-base width (768,
12 heads, FFN 3072), cross-attention in every layer, random init, 32 learned queries, a learned position
embedding (frame / segment index) added to the encoder features, then a Linear to the LM width.
transformers' ``Blip2QFormerModel`` is that same network without the text branch.

Initial values (:meth:`QFormerResampler.official_init`, official-code-notes §1.4): the Q-Former BERT-style
N(0, 0.02), the queries N(0, 0.02), the position embedding N(0, 1) (``nn.Embedding``'s default, kept by the
official code) and the projector torch's default Linear init.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import Blip2QFormerConfig, Blip2QFormerModel

from emox_core.modeling.initialization import bert_init


class QFormerResampler(nn.Module):
    """Encoder features (B, N, D_enc) with a position index per feature -> (B, num_queries, D_lm)."""

    def __init__(self, encoder_dim: int, output_dim: int, num_queries: int, max_positions: int, num_layers: int,
                 hidden_size: int, num_heads: int, intermediate_size: int) -> None:
        super().__init__()
        qformer_config = Blip2QFormerConfig(
            hidden_size=hidden_size, num_hidden_layers=num_layers, num_attention_heads=num_heads,
            intermediate_size=intermediate_size, encoder_hidden_size=encoder_dim, cross_attention_frequency=1,
        )
        self.position_embedding = nn.Embedding(max_positions, encoder_dim)
        self.query_tokens = nn.Parameter(torch.randn(1, num_queries, hidden_size) * qformer_config.initializer_range)
        self.qformer = Blip2QFormerModel(qformer_config)
        self.projector = nn.Linear(hidden_size, output_dim)

    def official_init(self) -> None:
        """Re-draw every weight as the official code initialises it (see the module docstring)."""
        std = self.qformer.config.initializer_range
        bert_init(self.qformer, std)
        nn.init.normal_(self.query_tokens, mean=0.0, std=std)
        self.position_embedding.reset_parameters()
        self.projector.reset_parameters()

    def forward(self, features: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """``positions`` (N,) long: the frame or segment each of the N features comes from."""
        if int(positions.max()) >= self.position_embedding.num_embeddings:
            raise ValueError(
                f"position index {int(positions.max())} exceeds the {self.position_embedding.num_embeddings} "
                "learned positions of this resampler"
            )
        features = features + self.position_embedding(positions).to(features.dtype)
        queries = self.query_tokens.expand(features.shape[0], -1, -1)
        encoder_mask = torch.ones(features.shape[:2], dtype=torch.long, device=features.device)
        out = self.qformer(query_embeds=queries, encoder_hidden_states=features, encoder_attention_mask=encoder_mask)
        return self.projector(out.last_hidden_state.to(self.projector.weight.dtype))
