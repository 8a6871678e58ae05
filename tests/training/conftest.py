"""Shared fixtures of the training tests: one small synthetic corpus and one feature cache for the session
(the tiny preset's towers are seeded, so every test's model has the same encoders and cache key)."""

from __future__ import annotations

from pathlib import Path

import pytest

CORPUS_SIZE = 48


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic MER corpus (labels carried by audio + frames) of CORPUS_SIZE clips."""
    from emox_core.training.synthetic import write_synthetic_corpus

    root = tmp_path_factory.mktemp("corpus")
    write_synthetic_corpus(root, CORPUS_SIZE, seed=0)
    return root


@pytest.fixture(scope="session")
def feature_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("features")


def tiny_overrides(corpus: Path, features: Path, output: Path, **extra: object) -> list[str]:
    """``key=value`` overrides that point a tiny recipe at the test corpus and keep runs short."""
    base = {"data.synthetic.data_root": str(corpus), "data.synthetic.synthetic": "null",
            "feature_cache": str(features), "output_dir": str(output), "tensorboard": "false",
            "batch_size": 2, "grad_accum": 2, "max_steps": 2, "save_every": 1000, "model.init_from": "null"}
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]
