"""Small writers for raw trees shaped like the real downloads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def write_json(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def write_npz(path: Path, **corpora: dict) -> Path:
    """A MER-UniBench style label npz: each key holds a pickled dict name -> {emo|val}."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{key: np.array(value, dtype=object) for key, value in corpora.items()})
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
