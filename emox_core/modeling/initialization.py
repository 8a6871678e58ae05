"""The initial values the official code gives the trainable parts, as two reusable rules.

Official code (waHAHJIAHAO/Nano-EmoX @ b08f985; official-code-notes §1.4-1.6, §1.8):

* Q-Former internals: BERT init (``models/Qformer.py`` ``BertPreTrainedModel._init_weights``): Linear and
  Embedding weights N(0, initializer_range = 0.02), biases 0, LayerNorm weight 1 / bias 0.
* Everything else new (position embeddings, projectors, the face head's attention and MLP, the whole
  fusion encoder): what torch's constructors give, i.e. ``reset_parameters()`` of each layer: Linear
  kaiming-uniform weights and uniform biases within 1/sqrt(fan_in), Embedding N(0, 1), LayerNorm 1 / 0,
  ``nn.MultiheadAttention`` xavier-uniform in-projection with zero biases.
* LoRA: peft's default (``init_lora_weights=True``): A kaiming-uniform, B zeros, so the adapted LM starts
  exactly as the frozen LM.

Both rules only write through ``torch.nn.init``, so under transformers' ``guard_torch_init_functions`` a
weight that was loaded from a checkpoint is never overwritten.
"""

from __future__ import annotations

from torch import nn


def torch_default_init(module: nn.Module) -> None:
    """Re-draw every parameter of ``module`` as torch's layer constructors draw it."""
    attention = []
    for sub in module.modules():
        if isinstance(sub, nn.MultiheadAttention):
            attention.append(sub)
        elif hasattr(sub, "reset_parameters"):
            sub.reset_parameters()
    # After its out_proj Linear, as nn.MultiheadAttention's own constructor does (it zeroes out_proj.bias).
    for sub in attention:
        sub._reset_parameters()


def bert_init(module: nn.Module, std: float) -> None:
    """BERT's init over ``module``: Linear/Embedding weights N(0, std), biases 0, LayerNorm 1 / 0."""
    for sub in module.modules():
        if isinstance(sub, (nn.Linear, nn.Embedding)):
            nn.init.normal_(sub.weight, mean=0.0, std=std)
        elif isinstance(sub, nn.LayerNorm):
            nn.init.ones_(sub.weight)
            nn.init.zeros_(sub.bias)
        if isinstance(sub, nn.Linear) and sub.bias is not None:
            nn.init.zeros_(sub.bias)


def reset_lora(module: nn.Module) -> None:
    """peft's default LoRA init on every LoRA layer inside ``module`` (A kaiming-uniform, B zeros)."""
    from peft.tuners.lora import LoraLayer

    for sub in module.modules():
        if isinstance(sub, LoraLayer):
            for adapter in sub.lora_A:
                sub.reset_lora_parameters(adapter, True)
