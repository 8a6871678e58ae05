"""The training forward scores only the target positions: its loss and gradients are transformers' own
causal-LM loss (``ForCausalLMLoss``, computed by the LM from every position's logits), with and without
``num_items_in_batch`` (gradient accumulation)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emox_core.processing import Example


def _model_and_batch():
    from emox_core.modeling.loading import build_preset_model

    torch.manual_seed(0)
    model, processor = build_preset_model("tiny", config_overrides={"lora_dropout": 0.0, "fusion_dropout": 0.0})
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (8, 48, 64, 3), dtype=np.uint8)
    audio = rng.standard_normal(16000 * 3).astype(np.float32)
    prompt = processor.build_prompt("MER", subtitle="Leave me alone.")
    batch = processor([Example(prompt, "The most likely label is anger.", frames=frames, audio=audio),
                       Example(prompt, "The most likely label is neutral, I think.", frames=frames, audio=None)])
    with torch.no_grad():  # a trained LoRA, so that it matters
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.1)
    model.set_trainable(["visual_resampler", "fusion_encoder", "lora"])
    model.train()
    for tower in model.towers():  # frozen, as in training (HuBERT's layer drop would differ between calls)
        tower.eval()
    return model, batch


def _loss_and_grads(model, loss: torch.Tensor) -> tuple[float, dict[str, torch.Tensor]]:
    model.zero_grad()
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _embed(model, batch) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)  # the same dropout masks in the adapters on every call
    return model.embed_inputs(batch["input_ids"], batch["attention_mask"], batch["pixel_values"],
                              batch["input_values"], batch.get("pixel_values_videos"), batch["modality_mask"])


@pytest.mark.parametrize("num_items", [None, 37])
def test_training_loss_is_the_lm_loss(num_items: int | None) -> None:
    model, batch = _model_and_batch()
    embeds, mask = _embed(model, batch)
    positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
    extra = {} if num_items is None else {"num_items_in_batch": torch.tensor(num_items)}
    ours = model(inputs_embeds=embeds, attention_mask=mask, position_ids=positions, labels=batch["labels"], **extra)
    assert ours.logits is None  # the prompt's logits are never computed
    loss, grads = _loss_and_grads(model, ours.loss)

    embeds, mask = _embed(model, batch)
    theirs = model.language_model(inputs_embeds=embeds, attention_mask=mask, position_ids=positions,
                                  labels=batch["labels"], **extra)
    assert theirs.logits.shape[1] == batch["input_ids"].shape[1]
    expected, expected_grads = _loss_and_grads(model, theirs.loss)

    assert loss == pytest.approx(expected, rel=1e-6)
    assert grads.keys() == expected_grads.keys() and any("lora_" in n for n in grads)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, expected_grads[name], rtol=1e-5, atol=1e-7, msg=name)


def test_evaluation_forward_keeps_every_logit() -> None:
    model, batch = _model_and_batch()
    model.eval()
    with torch.no_grad():
        out = model(**batch)
    assert out.logits.shape[:2] == batch["input_ids"].shape and out.loss is not None
