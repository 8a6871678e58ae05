"""A frozen LoRA at its official start (every ``lora_B`` zero) is switched off for a phase that does not train
it, which changes no output: LoRA adds B·A·x = 0. Any LoRA that is trained, or frozen after training, stays on.
"""

from __future__ import annotations

import pytest
import torch
from peft.tuners.lora import LoraLayer

from emox_core.curriculum import PHASES


def _tiny():
    from emox_core.modeling.loading import build_preset_model

    torch.manual_seed(0)
    model, _ = build_preset_model("tiny")
    return model


def _lora_layers(model) -> list[LoraLayer]:
    layers = [m for m in model.language_model.modules() if isinstance(m, LoraLayer)]
    assert layers
    return layers


def _logits(model, train: bool) -> torch.Tensor:
    """The LM's logits on a fixed input, in training mode (LoRA dropout active) or not."""
    ids = torch.randint(0, 1000, (2, 29), generator=torch.Generator().manual_seed(5))
    model.train(train)
    with torch.no_grad():
        return model.language_model(input_ids=ids).logits


@pytest.mark.parametrize("phase", ["1.1", "1.2", "2"])
def test_phases_before_lora_training_switch_the_idle_lora_off_without_changing_outputs(phase: str) -> None:
    model = _tiny()
    switched_on = _logits(model, train=True)
    names = model.set_trainable(PHASES[phase].trainable)
    assert all(layer.disable_adapters for layer in _lora_layers(model))
    assert names and not any("lora_" in n for n in names)  # the phase's adapters train, LoRA does not
    assert torch.equal(_logits(model, train=True), switched_on)


def test_a_trained_or_nonzero_lora_stays_on() -> None:
    model = _tiny()
    names = model.set_trainable(PHASES["3"].trainable)
    assert any("lora_" in n for n in names)
    assert not any(layer.disable_adapters for layer in _lora_layers(model))
    with torch.no_grad():  # as after phase 3: B is no longer zero
        for layer in _lora_layers(model):
            for b in layer.lora_B.values():
                b.weight.normal_(0, 0.5)
    trained = _logits(model, train=False)
    names = model.set_trainable(["fusion_encoder"])  # a later phase that freezes the trained LoRA
    assert not any(layer.disable_adapters for layer in _lora_layers(model))
    assert not any("lora_" in n for n in names)
    assert torch.equal(_logits(model, train=False), trained)
    for layer in _lora_layers(model):  # what a LoRA wrongly switched off would compute
        layer.enable_adapters(False)
    assert not torch.equal(_logits(model, train=False), trained)
