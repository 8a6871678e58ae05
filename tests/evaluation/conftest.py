"""Shared fixtures: the real emotion-wheel tables and the official AffectGPT outputs (from ../shared)."""

from __future__ import annotations

from pathlib import Path

import pytest

# The inference tests' tiny saved model (``model_dir``) and their one-torch-thread setting, for the
# prepare -> infer -> eval tests.
from inference.conftest import _one_torch_thread, model_dir  # noqa: F401


@pytest.fixture(scope="session")
def wheel_dir(anchors_dir: Path) -> Path:
    return anchors_dir / "AffectGPT" / "emotion_wheel"


@pytest.fixture(scope="session")
def wheels(wheel_dir: Path):
    from emox_core.evaluation.emotion_wheel import EmotionWheels

    return EmotionWheels.load(wheel_dir)


@pytest.fixture(scope="session")
def affectgpt_output(anchors_dir: Path) -> Path:
    return anchors_dir / "AffectGPT" / "output"


@pytest.fixture(scope="session")
def label_maps_path(anchors_dir: Path) -> Path:
    return anchors_dir / "Nano-EmoX" / "derived" / "avamerg_eval_label_maps.json"
