"""Recipes, overrides, the lr schedule, the weight-decay rule and the mixture sampler (no training)."""

from __future__ import annotations

from collections import Counter

import pytest

from emox_core.curriculum import PHASES
from emox_core.errors import EmoxError
from emox_core.training.data import MixtureSampler
from emox_core.training.recipe import PHASE_RECIPES, available_recipes, load_recipe
from emox_core.training.trainer import decays, lr_at


def test_every_named_recipe_resolves() -> None:
    names = available_recipes()
    assert {"p2e-phase1-speech", "p2e-phase1-visual", "p2e-phase2", "p2e-phase3", "jo-t"} <= set(names)
    assert {f"tiny/{n}" for n in PHASE_RECIPES.values()} <= set(names)
    for name in names:
        recipe = load_recipe(name)
        assert recipe.active_sources()


@pytest.mark.parametrize("phase", list(PHASE_RECIPES))
def test_phase_recipes_follow_the_paper(phase: str) -> None:
    recipe = load_recipe(phase=phase)
    assert recipe.phase == phase
    assert recipe.trainable_modules() == list(PHASES[phase].trainable)
    # paper §4.1: AdamW, batch 3, gradient accumulation 4; lrs 3e-4 / 3e-4 / 1e-5 / 8e-6; 15k/25k/5k/300k steps
    assert (recipe.batch_size, recipe.grad_accum, recipe.optim.weight_decay) == (3, 4, 0.05)
    lr, steps = {"1.1": (3e-4, 15000), "1.2": (3e-4, 25000), "2": (1e-5, 5000), "3": (8e-6, 300000)}[phase]
    assert (recipe.optim.lr, recipe.max_steps) == (lr, steps)


def test_phase3_mixture_is_the_paper_task_ratio() -> None:
    recipe = load_recipe("p2e-phase3")
    shares = Counter()
    for source in recipe.active_sources().values():
        shares[source.task] += source.weight
    assert dict(shares) == {"MER": 18, "OV-MER": 28, "MIR": 5, "ERI": 31, "ERG": 18}
    assert load_recipe("jo-t").max_steps == 345000


def test_overrides_and_errors() -> None:
    recipe = load_recipe("p2e-phase3", ["optim.lr=1e-4", "data.mintrec.weight=7", "max_steps=10",
                                        "model.config.num_visual_tokens=64"])
    assert (recipe.optim.lr, recipe.data["mintrec"].weight, recipe.max_steps) == (1e-4, 7, 10)
    assert recipe.model.config == {"num_visual_tokens": 64}
    assert load_recipe("ablations/visual-tokens-128").model.config == {"num_visual_tokens": 128}
    with pytest.raises(EmoxError, match="unknown key 'lrr'"):
        load_recipe("p2e-phase3", ["optim.lrr=1"])
    with pytest.raises(EmoxError, match="key=value"):
        load_recipe("p2e-phase3", ["max_steps"])
    with pytest.raises(EmoxError, match="is for phase 3"):
        load_recipe("p2e-phase3", phase="2")
    with pytest.raises(EmoxError, match="no such file or named recipe"):
        load_recipe("nope")


def test_warmup_then_cosine_to_min_lr() -> None:
    optim = load_recipe("p2e-phase1-speech").optim
    assert lr_at(0, optim, 15000) == pytest.approx(1e-6)
    assert lr_at(2500, optim, 15000) == pytest.approx((1e-6 + 3e-4) / 2)
    assert lr_at(5000, optim, 15000) == pytest.approx(3e-4)
    assert lr_at(10000, optim, 15000) == pytest.approx(2e-4)
    assert lr_at(15000, optim, 15000) == pytest.approx(1e-4)


def test_official_weight_decay_rule() -> None:
    import torch

    assert decays("visual_resampler.query_tokens", torch.nn.Parameter(torch.zeros(1, 32, 8)))
    assert decays("fusion_encoder.gate.0.weight", torch.nn.Parameter(torch.zeros(4, 4)))
    assert not decays("fusion_encoder.gate.0.bias", torch.nn.Parameter(torch.zeros(4)))
    assert not decays("face_temporal.ln.weight", torch.nn.Parameter(torch.zeros(4, 4)))
    assert not decays("x.norm.weight", torch.nn.Parameter(torch.zeros(4)))


def test_mixture_sampler_is_seeded_weighted_and_resumable() -> None:
    sampler = MixtureSampler([10, 30], [3, 1], seed=5, num_samples=4000)
    order = list(sampler)
    assert order == list(MixtureSampler([10, 30], [3, 1], seed=5, num_samples=4000))
    assert order != list(MixtureSampler([10, 30], [3, 1], seed=6, num_samples=4000))
    from_first = sum(i < 10 for i in order) / len(order)
    assert from_first == pytest.approx(0.75, abs=0.03)
    # each source is drawn without replacement within a pass
    assert sorted([i for i in order if i < 10][:10]) == list(range(10))
    resumed = MixtureSampler([10, 30], [3, 1], seed=5, num_samples=4000)
    resumed.load_state_dict(sampler.state_dict(1234), "ckpt")
    assert list(resumed) == order[1234:]
    with pytest.raises(EmoxError, match="other seed"):
        MixtureSampler([10, 30], [3, 1], seed=9, num_samples=4000).load_state_dict(sampler.state_dict(5), "ckpt")
