"""The tiny model learns the synthetic corpus, whose labels live only in the audio and the frames: held-out
accuracy far above chance, while the same run on media shuffled between samples stays near chance.

Accuracy is the argmin over the four candidate answer sentences of their mean token loss (exact for a closed
label set and cheaper than generation)."""

from __future__ import annotations

from pathlib import Path

import pytest

STEPS = 140


def _train(corpus: Path, features: Path, output: Path, manifest: str) -> Path:
    from emox_core.training.recipe import load_recipe
    from emox_core.training.trainer import run_training
    from tests.training.conftest import tiny_overrides

    overrides = tiny_overrides(corpus, features, output, **{
        "batch_size": 8, "grad_accum": 1, "max_samples": STEPS * 8,
        "optim.warmup_samples": 40, "log_every": 10, "data.synthetic.manifest": str(corpus / manifest)})
    return run_training(load_recipe("tiny/p2e-phase3", overrides), quiet=True)


def _accuracy(run: Path, test_corpus: Path) -> float:
    from emox_core.training.checkpoint import load_trained
    from emox_core.training.data import TrainingSet, load_sources
    from emox_core.training.recipe import DataSource
    from emox_core.training.synthetic import candidate_accuracy

    model, processor, _ = load_trained(run)
    dataset = TrainingSet(load_sources({"test": DataSource(data_root=str(test_corpus))}), processor)
    examples = [dataset.example(i) for i in range(len(dataset))]
    return candidate_accuracy(model, processor, examples, [item.sample.labels[0] for item in dataset.items])


@pytest.mark.slow
def test_labels_in_the_media_are_learned(corpus: Path, tmp_path: Path, feature_dir: Path) -> None:
    from emox_core.training.synthetic import write_synthetic_corpus
    from tests.training.conftest import CORPUS_SIZE

    write_synthetic_corpus(corpus, CORPUS_SIZE, seed=0, shuffle_media=True, manifest_name="shuffled.jsonl")
    test = tmp_path / "test"
    write_synthetic_corpus(test, 16, seed=7, prefix="test")
    learned = _accuracy(_train(corpus, feature_dir, tmp_path / "run", "manifest.jsonl"), test)
    control = _accuracy(_train(corpus, feature_dir, tmp_path / "run-shuffled", "shuffled.jsonl"), test)
    print(f"held-out accuracy: {learned:.2f} learned, {control:.2f} with shuffled media (chance 0.25)")
    assert learned >= 0.75, (learned, control)
    assert control <= 0.5, (learned, control)
    assert learned - control >= 0.4
