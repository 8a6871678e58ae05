"""Imports flow one way (CLI -> evaluation/inference -> training -> model/processing/data/media): inference
never imports training, not even lazily inside a function. Checked statically on every import statement of
every module inference can reach."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _module_file(name: str) -> Path | None:
    base = REPO.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    """Every emox_core module an import statement anywhere in ``path`` names (``from a import b`` -> a, a.b)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    modules = set()
    for name in (n for n in found if n.startswith("emox_core")):
        parts = name.split(".")
        modules |= {".".join(parts[:i]) for i in range(1, len(parts) + 1) if _module_file(".".join(parts[:i]))}
    return modules


def reachable_from(package: str) -> set[str]:
    root = REPO / package.replace(".", "/")
    todo = {".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__") for p in root.rglob("*.py")}
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        seen.add(name)
        todo |= _imports(_module_file(name)) - seen
    return seen


def test_inference_never_imports_training() -> None:
    reached = reachable_from("emox_core.inference")
    assert "emox_core.modeling.loading" in reached  # the scan follows lazy imports
    assert not sorted(m for m in reached if m.startswith("emox_core.training"))
