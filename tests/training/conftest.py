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
    """``key=value`` overrides that point a tiny recipe at the test corpus and keep runs short (2 optimizer steps
    of 2 x 2 samples in one process)."""
    base = {"data.synthetic.data_root": str(corpus), "data.synthetic.synthetic": "null",
            "feature_cache": str(features), "output_dir": str(output), "tensorboard": "false",
            "batch_size": 2, "grad_accum": 2, "max_samples": 8, "save_every": 1000, "model.init_from": "null"}
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]


def write_task_manifest(corpus: Path, task: str, name: str) -> Path:
    """The corpus's clips as samples of another task (OV-MER or ERI: tasks with several training questions),
    written beside the MER manifest; returns its path."""
    from dataclasses import replace

    from emox_core.data.manifest import read_manifest, write_manifest
    from emox_core.tasks import get_task

    spec = get_task(task)
    samples = [replace(s, id=f"{task.lower()}-{s.id}", task=spec.name, prompt_fields={},
                       target=spec.answer_template.format(labels=s.labels[0], reason=f"They sound {s.labels[0]}."))
               for s in read_manifest(corpus / "manifest.jsonl")]
    path = corpus / name
    write_manifest(path, samples)
    return path
