"""Packaging: ``recipes/`` installs as the ``emox_recipes`` package (mapped in pyproject.toml, no symlink), and
the named recipes are found from a wheel install as from a checkout."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_pyproject_lists_every_package_of_the_tree() -> None:
    setuptools_table = _pyproject()["tool"]["setuptools"]
    assert setuptools_table["package-dir"] == {"emox_recipes": "recipes"}
    tree = {".".join(p.parent.relative_to(REPO).parts) for top in ("emox_core", "emox_cli")
            for p in (REPO / top).rglob("__init__.py")}
    recipe_folders = {"emox_recipes." + d.name for d in (REPO / "recipes").iterdir()
                      if d.is_dir() and d.name != "__pycache__"}
    assert set(setuptools_table["packages"]) == tree | {"emox_recipes"} | recipe_folders
    assert not (REPO / "emox_recipes").exists(), "recipes/ is mapped in pyproject.toml; no emox_recipes link"


@pytest.mark.skipif(importlib.util.find_spec("setuptools") is None, reason="building a wheel offline needs setuptools")
def test_wheel_installs_every_recipe_and_finds_them(tmp_path: Path) -> None:
    source = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("emox_core", "emox_cli", "recipes"):
        shutil.copytree(REPO / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", str(source), "-w", str(tmp_path / "dist")],
                   check=True, cwd=tmp_path)
    wheel = next((tmp_path / "dist").glob("emox-*.whl"))
    recipes = {p.relative_to(REPO / "recipes").as_posix() for p in (REPO / "recipes").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    assert len(recipes) >= 30
    with zipfile.ZipFile(wheel) as archive:
        assert {n.removeprefix("emox_recipes/") for n in archive.namelist() if n.startswith("emox_recipes/")} == recipes
    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True)
    code = "from emox_core.training.recipe import find_recipe; print(find_recipe('tiny/p2e-phase2'))"
    found = subprocess.run(
        [sys.executable, "-c", code],
        check=True, capture_output=True, text=True, cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": ""},
    ).stdout.strip()
    assert Path(found) == site / "emox_recipes" / "tiny" / "p2e-phase2.yaml"
