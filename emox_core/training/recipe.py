"""Training recipes: YAML files a user copies and edits, resolved into a :class:`Recipe`.

A recipe may ``extends:`` another one (by name or path) and only state what differs; that is how the
ablations and the ``tiny/`` recipes stay small. ``key=value`` overrides from the command line (the
torchtune way, dotted paths, ``data.mintrec.weight=2``) are applied last; values are parsed as YAML. Unknown
keys are refused, so a typo never trains silently with a default. The resolved recipe is written
beside the outputs (``recipe.yaml``) and is all :func:`~emox_core.training.checkpoint.load_trained`
needs to rebuild the model.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from emox_core.curriculum import get_phase
from emox_core.errors import EmoxError
from emox_core.fileio import atomic_write_text

RECIPE_FILE = "recipe.yaml"
# ``emox train --phase N`` picks these recipes.
PHASE_RECIPES = {"1.1": "p2e-phase1-speech", "1.2": "p2e-phase1-visual", "2": "p2e-phase2", "3": "p2e-phase3"}
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass
class ModelSpec:
    """Which model to build: a preset (``tiny``, ``nano-emox-2b``), optional local ``backbones`` (vision,
    speech, face, text -> hub id or directory), config field overrides, and the previous phase's output
    to initialise the trainable weights from."""

    preset: str = "nano-emox-2b"
    backbones: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    init_from: str | None = None
    # Seed of the model's random initialisation, kept apart from the training seed so the random towers
    # of the tiny preset (and every not-yet-trained adapter) are the same in each phase.
    build_seed: int = 0


@dataclass
class DataSource:
    """One part of the mixture: a manifest's samples (of ``task`` only, when set). ``weight`` is its share
    of the draws (the official ``ratio`` read as mixture weights, official-code-notes §3.4; 0 leaves the
    source out). ``synthetic: N`` writes the label-carrying synthetic corpus of N clips into ``data_root``
    when its manifest is missing."""

    manifest: str | None = None
    data_root: str | None = None
    weight: float = 1.0
    layout: str = "multimodal"
    task: str | None = None
    synthetic: int | None = None

    def manifest_path(self) -> Path:
        if self.manifest:
            return Path(self.manifest)
        if self.data_root:
            return Path(self.data_root) / "manifest.jsonl"
        raise EmoxError("data: each source needs a manifest (or a data_root holding manifest.jsonl)")

    def root(self) -> Path:
        """The media root: ``data_root``, else the one ``emox prepare`` recorded in ``stats.json`` beside the
        manifest, else the manifest's folder (the synthetic corpus)."""
        if self.data_root:
            return Path(self.data_root)
        stats = self.manifest_path().parent / "stats.json"
        if stats.is_file():
            import json

            recorded = json.loads(stats.read_text()).get("data_root")
            if recorded:
                return Path(recorded)
        return self.manifest_path().parent


@dataclass
class OptimSpec:
    """AdamW + linear warmup from ``warmup_lr`` to ``lr``, then cosine to ``min_lr`` over the remaining
    steps (the schedule the official ``linear_warmup_cosine_lr`` was meant to run, official-code-notes §3.3)."""

    lr: float = 8e-6
    min_lr: float = 8e-6
    warmup_lr: float = 5e-7
    warmup_steps: int = 5000
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    max_grad_norm: float = 1.0


@dataclass
class Recipe:
    phase: str = "3"
    model: ModelSpec = field(default_factory=ModelSpec)
    # Sources by name, so an ablation or an override changes one of them (``data.mintrec.weight=3``).
    data: dict[str, DataSource] = field(default_factory=dict)
    trainable: list[str] | None = None
    optim: OptimSpec = field(default_factory=OptimSpec)
    batch_size: int = 3
    grad_accum: int = 4
    max_steps: int = 300_000
    precision: str = "auto"
    seed: int = 42
    output_dir: str = "runs/p2e-phase3"
    save_every: int = 5000
    save_total_limit: int | None = 3
    log_every: int = 10
    feature_cache: str | None = None
    media_cache: str | None = None
    num_workers: int = 2
    deepspeed: str | None = None
    ddp_find_unused_parameters: bool = True
    tensorboard: bool = True
    name: str = ""

    def trainable_modules(self) -> list[str]:
        """The recipe's trainable list, or the curriculum's default for its phase."""
        return list(self.trainable) if self.trainable is not None else list(get_phase(self.phase).trainable)

    def active_sources(self) -> dict[str, DataSource]:
        """The sources that are drawn from (weight > 0)."""
        return {k: s for k, s in self.data.items() if s.weight > 0}

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["optim"]["betas"] = list(self.optim.betas)
        return data

    def save(self, directory: str | os.PathLike[str]) -> Path:
        path = Path(directory) / RECIPE_FILE
        atomic_write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path


def recipe_dirs() -> list[Path]:
    """Where named recipes live: the ``recipes/`` of the source tree this ``emox_core`` runs from (a checkout,
    editable or on ``PYTHONPATH``), else the ``emox_recipes`` package a wheel installs (``recipes/`` mapped in
    pyproject.toml)."""
    source_tree = Path(__file__).resolve().parents[2]
    if (source_tree / "pyproject.toml").is_file() and (source_tree / "recipes").is_dir():
        return [source_tree / "recipes"]
    try:
        from importlib.resources import files

        return [Path(str(files("emox_recipes")))]
    except ModuleNotFoundError:
        return []


def available_recipes() -> list[str]:
    names: set[str] = set()
    for root in recipe_dirs():
        names |= {str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml")
                  if p.relative_to(root).parts[0] != "launch"}
    return sorted(names)


def find_recipe(name_or_path: str) -> Path:
    """A recipe file from a path, or a name: ``p2e-phase3``, ``tiny/p2e-phase2``, ``ablations/visual-tokens-64``."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    for root in recipe_dirs():
        candidate = root / f"{name_or_path.removesuffix('.yaml')}.yaml"
        if candidate.is_file():
            return candidate
    raise EmoxError(f"recipe {name_or_path!r}: no such file or named recipe (named: {', '.join(available_recipes())})")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise EmoxError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise EmoxError(f"{path}: a recipe must be a YAML mapping")
    return data


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``update`` over ``base``; mappings merge key by key, anything else (lists included) replaces."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_recipe_dict(name_or_path: str, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The raw mapping of a recipe with its ``extends`` chain merged in."""
    path = find_recipe(name_or_path).resolve()
    if path in _seen:
        raise EmoxError(f"{path}: 'extends' loops back to itself")
    data = _read_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    return deep_merge(load_recipe_dict(str(parent), (*_seen, path)), data)


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply one ``dotted.key=value`` (value parsed as YAML; list items addressed by index)."""
    if "=" not in assignment:
        raise EmoxError(f"override {assignment!r}: expected key=value")
    key, raw = assignment.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        value = raw
    parts = key.strip().split(".")
    node: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise EmoxError(f"override {key}: {part!r} is not an index of a {len(node)}-item list")
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            raise EmoxError(f"override {key}: {'.'.join(parts[:i])} is not a mapping or list")


def _build(cls: type, data: Any, where: str) -> Any:
    """A dataclass from a mapping, refusing unknown keys (``where`` names the recipe section)."""
    if not isinstance(data, dict):
        raise EmoxError(f"recipe {where}: expected a mapping, got {type(data).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise EmoxError(f"recipe {where}: unknown key {unknown[0]!r} (known: {', '.join(known)})")
    return cls(**{k: _coerce(v, known[k].type, f"{where}.{k}") for k, v in data.items()})


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Numbers written as strings (YAML 1.1 reads ``1e-4`` as a string) become the field's number type."""
    kind = str(annotation).split(" |")[0]
    if isinstance(value, str) and kind in ("float", "int"):
        try:
            return float(value) if kind == "float" else int(value)
        except ValueError:
            raise EmoxError(f"recipe {where}: expected a number, got {value!r}") from None
    return value


def recipe_from_dict(data: dict[str, Any], name: str = "") -> Recipe:
    """Validate a merged mapping into a :class:`Recipe`."""
    data = dict(data)
    model = _build(ModelSpec, data.pop("model", {}) or {}, "model")
    optim = _build(OptimSpec, data.pop("optim", {}) or {}, "optim")
    optim.betas = tuple(float(b) for b in optim.betas)  # type: ignore[assignment]
    sources = data.pop("data", {}) or {}
    if not isinstance(sources, dict):
        raise EmoxError("recipe data: expected a mapping of source name -> {manifest, data_root, weight, ...}")
    recipe = _build(Recipe, data, "top level")
    recipe.model, recipe.optim = model, optim
    recipe.data = {str(k): _build(DataSource, s, f"data.{k}") for k, s in sources.items()}
    if any(s.weight < 0 for s in recipe.data.values()):
        raise EmoxError("recipe data: weights must be >= 0")
    recipe.name = recipe.name or name
    recipe.phase = str(recipe.phase)
    get_phase(recipe.phase)
    if recipe.precision not in PRECISIONS:
        raise EmoxError(f"recipe precision: {recipe.precision!r}; choose one of {', '.join(PRECISIONS)}")
    for key in ("batch_size", "grad_accum", "max_steps", "save_every", "log_every"):
        if int(getattr(recipe, key)) < 1:
            raise EmoxError(f"recipe {key}: must be >= 1, got {getattr(recipe, key)}")
    if not recipe.active_sources():
        raise EmoxError("recipe data: no data source with a weight > 0")
    return recipe


def load_recipe(name_or_path: str | None = None, overrides: list[str] | None = None,
                phase: str | None = None) -> Recipe:
    """Resolve a recipe: ``--recipe`` (name or file), else the phase's recipe; then ``key=value`` overrides."""
    if name_or_path is None:
        if phase is None:
            raise EmoxError("train: give --phase (1.1, 1.2, 2, 3) or --recipe")
        get_phase(phase)
        name_or_path = PHASE_RECIPES[phase]
    data = load_recipe_dict(name_or_path)
    for assignment in overrides or []:
        apply_override(data, assignment)
    if phase is not None and str(data.get("phase", phase)) != phase:
        raise EmoxError(f"--phase {phase}: the recipe {name_or_path} is for phase {data.get('phase')}")
    return recipe_from_dict(data, Path(name_or_path).stem)


def read_saved_recipe(directory: str | os.PathLike[str]) -> Recipe:
    """The resolved recipe written beside a run's outputs or checkpoints."""
    path = Path(directory) / RECIPE_FILE
    if not path.is_file():
        raise EmoxError(f"{path}: not found (is {directory} an emox training output or checkpoint?)")
    return recipe_from_dict(_read_yaml(path))
