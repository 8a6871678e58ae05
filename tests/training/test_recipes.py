"""Recipes, overrides, the lr schedule, the weight-decay rule and the mixture sampler (no training)."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

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


# The official runs (waHAHJIAHAO/Nano-EmoX @ b08f985 configs/phase1_1.yaml, phase1_2.yaml, phase2.yaml,
# phase3.yaml, run section): max_epoch, iters_per_epoch, batch_size_train, warmup_steps. No accum_grad_iters
# (the runner's default 1): one iteration = one micro-batch of batch_size_train samples.
OFFICIAL_RUNS = {"1.1": (3, 5000, 3, 5000), "1.2": (5, 5000, 3, 5000), "2": (1, 5000, 3, 5000),
                 "3": (60, 5000, 3, 5000)}


def official_samples(phase: str) -> int:
    max_epoch, iters_per_epoch, batch_size_train, _ = OFFICIAL_RUNS[phase]
    return max_epoch * iters_per_epoch * batch_size_train


@pytest.mark.parametrize("phase", list(PHASE_RECIPES))
def test_phase_recipes_follow_the_paper_and_the_official_sample_budget(phase: str) -> None:
    recipe = load_recipe(phase=phase)
    assert recipe.phase == phase
    assert recipe.trainable_modules() == list(PHASES[phase].trainable)
    # paper §4.1: AdamW, batch 3, gradient accumulation 4; lrs 3e-4 / 3e-4 / 1e-5 / 8e-6
    assert (recipe.batch_size, recipe.grad_accum, recipe.optim.weight_decay) == (3, 4, 0.05)
    assert recipe.optim.lr == {"1.1": 3e-4, "1.2": 3e-4, "2": 1e-5, "3": 8e-6}[phase]
    # the official number of samples, in optimizer steps of 3 x 4 on one GPU (a quarter of the iterations)
    budget = recipe.budget(processes=1)
    assert budget.samples == official_samples(phase)
    assert budget.steps * budget.samples_per_step == official_samples(phase)
    assert budget.steps == OFFICIAL_RUNS[phase][0] * OFFICIAL_RUNS[phase][1] // 4
    # warmup over the official 5000 iterations of 3 samples (phase 2: its first tenth, as 5000 fill it)
    warmup_iterations = OFFICIAL_RUNS[phase][3]
    expected_warmup = official_samples(phase) // 10 if phase == "2" else warmup_iterations * 3
    assert recipe.optim.warmup_samples == expected_warmup
    # eight processes train the same samples in an eighth of the steps
    assert recipe.budget(processes=8).steps == math.ceil(official_samples(phase) / (3 * 4 * 8))


def test_budget_in_steps_and_the_schedule_over_it() -> None:
    recipe = load_recipe("p2e-phase3")
    budget = recipe.budget(processes=1)
    assert (budget.steps, budget.warmup_steps) == (75_000, 1250)
    assert "900,000 samples = 75,000 optimizer steps" in budget.describe()
    assert "micro-batch 3 x accumulation 4 x 1 process" in budget.describe()
    # the lr reaches lr at the end of warmup, stays there (phase 3: min_lr = lr)
    assert lr_at(0, recipe.optim, budget.steps, budget.warmup_steps) == pytest.approx(5e-7)
    assert lr_at(1250, recipe.optim, budget.steps, budget.warmup_steps) == pytest.approx(8e-6)
    odd = load_recipe("p2e-phase3", ["max_samples=100", "batch_size=3", "grad_accum=4"]).budget(processes=2)
    assert (odd.samples_per_step, odd.steps) == (24, 5)  # the last step overruns by less than one step


def test_phase3_mixture_is_the_paper_task_ratio() -> None:
    recipe = load_recipe("p2e-phase3")
    shares = Counter()
    for source in recipe.active_sources().values():
        shares[source.task] += source.weight
    assert dict(shares) == {"MER": 18, "OV-MER": 28, "MIR": 5, "ERI": 31, "ERG": 18}
    # Jo-T: the whole P2E budget, 345k official iterations of 3 samples
    assert load_recipe("jo-t").max_samples == sum(official_samples(p) for p in OFFICIAL_RUNS) == 1_035_000


def test_overrides_and_errors() -> None:
    recipe = load_recipe("p2e-phase3", ["optim.lr=1e-4", "data.mintrec.weight=7", "max_samples=10",
                                        "model.config.num_visual_tokens=64"])
    assert (recipe.optim.lr, recipe.data["mintrec"].weight, recipe.max_samples) == (1e-4, 7, 10)
    assert recipe.model.config == {"num_visual_tokens": 64}
    assert load_recipe("ablations/visual-tokens-128").model.config == {"num_visual_tokens": 128}
    with pytest.raises(EmoxError, match="optim.lrr: unknown key"):
        load_recipe("p2e-phase3", ["optim.lrr=1"])
    with pytest.raises(EmoxError, match="key=value"):
        load_recipe("p2e-phase3", ["max_samples"])
    with pytest.raises(EmoxError, match="is for phase 3"):
        load_recipe("p2e-phase3", phase="2")
    with pytest.raises(EmoxError, match="no such file or named recipe"):
        load_recipe("nope")


@pytest.mark.parametrize(("override", "message"), [
    ("save_total_limit=-1", "recipe save_total_limit: must be >= 1, got -1 (null keeps every checkpoint)"),
    ("save_total_limit=0", "recipe save_total_limit: must be >= 1, got 0"),
    ("max_samples=null", "recipe max_samples: expected an integer, got null"),
    ("max_samples=1.5", "recipe max_samples: expected an integer, got 1.5"),
    ("max_samples=true", "recipe max_samples: expected an integer, got true"),
    ("max_samples=0", "recipe max_samples: must be >= 1, got 0"),
    ("batch_size=many", "recipe batch_size: expected an integer, got 'many'"),
    ("optim.lr=-1", "recipe optim.lr: must be > 0, got -1.0"),
    ("optim.lr=.nan", "recipe optim.lr: expected a finite number, got nan"),
    ("optim.min_lr=.inf", "recipe optim.min_lr: expected a finite number, got inf"),
    ("optim.betas=[0.9]", "recipe optim.betas: expected 2 items, got 1"),
    ("optim.betas=[0.9,1.5]", "recipe optim.betas[1]: must be < 1, got 1.5"),
    ("data.mintrec.weight=-2", "recipe data.mintrec.weight: must be >= 0, got -2.0"),
    ("data.mintrec.layout=poster", "recipe data.mintrec.layout: 'poster' is not one of multimodal"),
    ("data.mintrec.task=XYZ", "recipe data.mintrec.task: unknown task 'XYZ'"),
    ("data.mintrec=3", "recipe data.mintrec: expected a mapping, got 3"),
    ("tensorboard=1", "recipe tensorboard: expected true or false, got 1"),
    ("precision=fp8", "recipe precision: 'fp8' is not one of auto, fp32, bf16, fp16"),
    ("trainable=lora", "recipe trainable: expected a list, got 'lora'"),
    ("seed=-3", "recipe seed: must be >= 0, got -3"),
    ("max_steps=10", "recipe max_steps: renamed max_samples"),
    ("optim.warmup_steps=10", "recipe optim.warmup_steps: renamed warmup_samples"),
])
def test_every_recipe_field_is_typed_and_bounded(override: str, message: str) -> None:
    with pytest.raises(EmoxError, match=re.escape(message)) as caught:
        load_recipe("p2e-phase3", [override])
    assert "\n" not in str(caught.value)


def test_yaml_number_spellings_are_accepted() -> None:
    # YAML 1.1 reads 1e-4 as text and 9e5 too; integral floats fill integer fields; a numeric phase is text
    recipe = load_recipe("p2e-phase3", ["optim.lr=1e-4", "max_samples=9e5", "save_total_limit=null", "phase=3"])
    assert (recipe.optim.lr, recipe.max_samples, recipe.save_total_limit, recipe.phase) == (1e-4, 900000, None, "3")
    assert isinstance(recipe.max_samples, int)


def test_a_saved_recipe_of_the_step_era_still_loads(tmp_path: Path) -> None:
    import yaml

    from emox_core.training.recipe import RECIPE_FILE, read_saved_recipe

    data = load_recipe("p2e-phase3").to_dict()
    data["max_steps"] = 300000
    data["optim"]["warmup_steps"] = 5000
    del data["max_samples"], data["optim"]["warmup_samples"]
    (tmp_path / RECIPE_FILE).write_text(yaml.safe_dump(data))
    recipe = read_saved_recipe(tmp_path)
    assert (recipe.max_samples, recipe.optim.warmup_samples) == (300000 * 12, 5000 * 12)


def test_warmup_then_cosine_to_min_lr() -> None:
    optim = load_recipe("p2e-phase1-speech").optim
    assert lr_at(0, optim, 15000, 5000) == pytest.approx(1e-6)
    assert lr_at(2500, optim, 15000, 5000) == pytest.approx((1e-6 + 3e-4) / 2)
    assert lr_at(5000, optim, 15000, 5000) == pytest.approx(3e-4)
    assert lr_at(10000, optim, 15000, 5000) == pytest.approx(2e-4)
    assert lr_at(15000, optim, 15000, 5000) == pytest.approx(1e-4)


def test_official_weight_decay_rule() -> None:
    import torch

    assert decays("visual_resampler.query_tokens", torch.nn.Parameter(torch.zeros(1, 32, 8)))
    assert decays("fusion_encoder.gate.0.weight", torch.nn.Parameter(torch.zeros(4, 4)))
    assert not decays("fusion_encoder.gate.0.bias", torch.nn.Parameter(torch.zeros(4)))
    assert not decays("face_temporal.ln.weight", torch.nn.Parameter(torch.zeros(4, 4)))
    assert not decays("x.norm.weight", torch.nn.Parameter(torch.zeros(4)))


def test_mixture_sampler_is_seeded_weighted_and_resumable() -> None:
    sampler = MixtureSampler([10, 30], [3, 1], seed=5, num_samples=4000)
    draws = list(sampler)
    order = [index for index, _ in draws]
    assert draws == list(MixtureSampler([10, 30], [3, 1], seed=5, num_samples=4000))
    assert draws != list(MixtureSampler([10, 30], [3, 1], seed=6, num_samples=4000))
    from_first = sum(i < 10 for i in order) / len(order)
    assert from_first == pytest.approx(0.75, abs=0.03)
    # each source is drawn without replacement within a pass
    assert sorted([i for i in order if i < 10][:10]) == list(range(10))
    # the draw numbers (question variants) are spread over 4 and 5 phrasings alike
    for phrasings in (4, 5):
        counts = Counter(draw % phrasings for _, draw in draws)
        assert min(counts.values()) / max(counts.values()) > 0.85
    resumed = MixtureSampler([10, 30], [3, 1], seed=5, num_samples=4000)
    resumed.load_state_dict(sampler.state_dict(1234), "ckpt")
    assert list(resumed) == draws[1234:]
    with pytest.raises(EmoxError, match="other seed"):
        MixtureSampler([10, 30], [3, 1], seed=9, num_samples=4000).load_state_dict(sampler.state_dict(5), "ckpt")
