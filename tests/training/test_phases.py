"""The four tiny P2E phases in sequence from the CLI, each from the previous phase's output, training exactly
the recipe's modules; then export (LoRA merged) gives the same generations as the un-merged model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from emox_core.training.recipe import PHASE_RECIPES, load_recipe
from tests.training.conftest import tiny_overrides


def _module(name: str) -> str:
    return "lora" if "lora_" in name else name.split(".", 1)[0]


def _adapters(directory: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(directory / "adapters.safetensors"))


@pytest.mark.slow
def test_tiny_phases_chain_then_export(corpus: Path, feature_dir: Path, tmp_path: Path) -> None:
    from dataclasses import replace

    from emox_cli.main import main
    from emox_core.training.checkpoint import build_recipe_model

    first = load_recipe(f"tiny/{PHASE_RECIPES['1.1']}")
    fresh, _ = build_recipe_model(replace(first.model, init_from=None))
    before = {k: v.clone() for k, v in fresh.adapter_state_dict().items()}
    previous = None
    for name in PHASE_RECIPES.values():
        out = tmp_path / name
        overrides = tiny_overrides(corpus, feature_dir, out, **{"model.init_from": previous or "null"})
        main(["train", "--recipe", f"tiny/{name}", "--quiet", *overrides])
        after = _adapters(out)
        assert set(after) == set(before), "every checkpoint holds all adapters and LoRA"
        changed = {_module(k) for k in after if not torch.equal(after[k], before[k])}
        assert changed == set(load_recipe(f"tiny/{name}").trainable_modules()), name
        assert (out / "checkpoint-2" / "adapters.safetensors").is_file()
        assert (out / "loss.png").stat().st_size > 1000
        before, previous = after, str(out)

    _export_matches(Path(previous), tmp_path / "exported", corpus)


def test_train_prints_the_budget_and_a_time_estimate(corpus: Path, feature_dir: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from emox_cli.main import main

    main(["train", "--recipe", "tiny/p2e-phase3", *tiny_overrides(corpus, feature_dir, tmp_path / "run")])
    err = capsys.readouterr().err
    assert ("budget: 8 samples = 2 optimizer steps x 4 samples/step (micro-batch 2 x accumulation 2 x 1 process); "
            "warmup 16 samples (4.0 steps)") in err
    assert "estimated time: " in err and " for 2 optimizer steps (" in err


def _export_matches(trained: Path, exported: Path, corpus: Path) -> None:
    from emox_cli.main import main
    from emox_core.modeling.loading import load_model
    from emox_core.training.checkpoint import load_trained
    from emox_core.training.data import TrainingSet, load_sources
    from emox_core.training.recipe import DataSource

    main(["export", str(trained), str(exported)])
    merged, merged_processor = load_model(exported)
    assert not merged.config.use_lora and not any("lora_" in n for n, _ in merged.named_parameters())
    model, processor, _ = load_trained(trained)
    dataset = TrainingSet(load_sources({"s": DataSource(data_root=str(corpus))}), processor)
    examples = [dataset.example(i) for i in range(3)]
    for ex in examples:
        ex.target = None
    outputs = []
    for m, p in ((model, processor), (merged, merged_processor)):
        batch = p(examples, padding_side="left")
        outputs.append(m.generate(**batch, max_new_tokens=8, do_sample=False))
    assert torch.equal(outputs[0], outputs[1])
