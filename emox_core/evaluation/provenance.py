"""How a result was made: versions, the SHA-256 of every input file, the judges used (endpoint without its
password, model, settings, prompt hash, cache hits)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
from pathlib import Path
from typing import Any

from emox_core.evaluation.base import Context

LIBRARIES = ("numpy", "scikit-learn", "pandas")


def sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def record(ctx: Context) -> dict[str, Any]:
    """The provenance block of metrics.json."""
    import emox_core

    versions = {"emox": emox_core.__version__, "python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "benchmark": ctx.benchmark.name,
        "protocol": ctx.benchmark.protocol,
        "versions": versions,
        "files": {
            kind: [{"path": str(p), "sha256": sha256(p)} for p in paths if p.is_file()]
            for kind, paths in ctx.files.items()
        },
        "judges": [{**j["backend"].describe(), "prompts": j["prompts"], "prompt_sha256": j["prompt_sha256"]}
                   for j in ctx.judges],
    }
