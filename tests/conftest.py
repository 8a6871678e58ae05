"""Test-wide settings: never touch a hub, keep HF caches inside the test's temp space."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EMOX_SHARED_DIR", REPO_ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The project's ../shared folder (real anchor data files); tests that need it skip without it."""
    if not (SHARED / "anchors").is_dir():
        pytest.skip(f"anchor data not found at {SHARED} (set EMOX_SHARED_DIR to the shared/ folder)")
    return SHARED


@pytest.fixture(scope="session")
def anchors_dir(shared_dir: Path) -> Path:
    return shared_dir / "anchors"
