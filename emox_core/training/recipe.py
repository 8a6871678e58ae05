"""Training recipes: YAML files a user copies and edits, resolved into a :class:`Recipe`.

A recipe may ``extends:`` another one (by name or path) and only state what differs; that is how the
ablations and the ``tiny/`` recipes stay small. ``key=value`` overrides from the command line (the
torchtune way, dotted paths, ``data.mintrec.weight=2``) are applied last; values are parsed as YAML. Unknown
keys are refused, so a typo never trains silently with a default, and every value is checked by type and
range (:mod:`.schema`): a bad one stops with one line naming its key. The resolved recipe is written
beside the outputs (``recipe.yaml``) and is all :func:`~emox_core.training.checkpoint.load_trained`
needs to rebuild the model.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml

from emox_core.curriculum import get_phase
from emox_core.errors import EmoxError
from emox_core.fileio import atomic_write_text
from emox_core.training.schema import build, setting

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
    backbones: dict[str, str] = setting(factory=dict)
    config: dict[str, Any] = setting(factory=dict)
    init_from: str | None = None
    # Seed of the model's random initialisation, kept apart from the training seed so the random towers
    # of the tiny preset (and every not-yet-trained adapter) are the same in each phase.
    build_seed: int = setting(0, ge=0)


@dataclass
class DataSource:
    """One part of the mixture: a manifest's samples (of ``task`` only, when set). ``weight`` is its share
    of the draws (the official ``ratio`` read as mixture weights, official-code-notes §3.4; 0 leaves the
    source out). ``synthetic: N`` writes the label-carrying synthetic corpus of N clips into ``data_root``
    when its manifest is missing."""

    manifest: str | None = None
    data_root: str | None = None
    weight: float = setting(1.0, ge=0)
    layout: str = "multimodal"
    task: str | None = None
    synthetic: int | None = setting(None, ge=1)

    def manifest_path(self) -> Path:
        if self.manifest:
            return Path(self.manifest)
        if self.data_root:
            return Path(self.data_root) / "manifest.jsonl"
        raise EmoxError("data: each source needs a manifest (or a data_root holding manifest.jsonl)")

    def root(self) -> Path:
        """The media root (:func:`~emox_core.data.manifest.manifest_data_root`: ``data_root``, else the one
        ``emox prepare`` recorded beside the manifest, else the manifest's folder)."""
        from emox_core.data.manifest import manifest_data_root

        return manifest_data_root(self.manifest_path(), self.data_root)


@dataclass
class OptimSpec:
    """AdamW + linear warmup from ``warmup_lr`` to ``lr`` over the first ``warmup_samples`` samples, then
    cosine to ``min_lr`` over the rest of the phase (the schedule the official ``linear_warmup_cosine_lr``
    was meant to run, official-code-notes §3.3). ``max_grad_norm: 0`` turns clipping off."""

    lr: float = setting(8e-6, gt=0)
    min_lr: float = setting(8e-6, ge=0)
    warmup_lr: float = setting(5e-7, ge=0)
    warmup_samples: int = setting(15_000, ge=0)
    weight_decay: float = setting(0.05, ge=0)
    betas: tuple[float, float] = setting((0.9, 0.999), ge=0, lt=1)
    max_grad_norm: float = setting(1.0, ge=0)

    RENAMED: ClassVar[dict[str, str]] = {
        "warmup_steps": "renamed warmup_samples: the warmup is counted in samples, e.g. optim.warmup_samples=15000"}


@dataclass
class Recipe:
    """One phase's training. Its length is counted in **samples** (the unit that does not change with the
    micro-batch, the accumulation or the number of processes); ``save_every`` and ``log_every`` count
    optimizer steps, each ``batch_size x grad_accum x processes`` samples."""

    phase: str = setting("3", number_as_text=True)
    model: ModelSpec = setting(factory=ModelSpec)
    # Sources by name, so an ablation or an override changes one of them (``data.mintrec.weight=3``).
    data: dict[str, DataSource] = setting(factory=dict)
    trainable: list[str] | None = None
    optim: OptimSpec = setting(factory=OptimSpec)
    batch_size: int = setting(3, ge=1)
    grad_accum: int = setting(4, ge=1)
    max_samples: int = setting(900_000, ge=1)
    precision: str = setting("auto", choices=PRECISIONS)
    seed: int = setting(42, ge=0)
    output_dir: str = "runs/p2e-phase3"
    save_every: int = setting(1250, ge=1)
    save_total_limit: int | None = setting(3, ge=1, hint="null keeps every checkpoint")
    log_every: int = setting(10, ge=1)
    feature_cache: str | None = None
    media_cache: str | None = None
    num_workers: int = setting(2, ge=0)
    deepspeed: str | None = None
    ddp_find_unused_parameters: bool = True
    tensorboard: bool = True
    name: str = ""

    RENAMED: ClassVar[dict[str, str]] = {
        "max_steps": "renamed max_samples: the budget is counted in samples (optimizer steps x batch_size x "
                     "grad_accum x processes), e.g. max_samples=1200"}

    def trainable_modules(self) -> list[str]:
        """The recipe's trainable list, or the curriculum's default for its phase."""
        return list(self.trainable) if self.trainable is not None else list(get_phase(self.phase).trainable)

    def active_sources(self) -> dict[str, DataSource]:
        """The sources that are drawn from (weight > 0)."""
        return {k: s for k, s in self.data.items() if s.weight > 0}

    def budget(self, processes: int = 1) -> Budget:
        """The run's length in samples and optimizer steps when trained by ``processes`` processes."""
        return Budget(self.max_samples, self.optim.warmup_samples, self.batch_size, self.grad_accum, processes)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["optim"]["betas"] = list(self.optim.betas)
        return data

    def save(self, directory: str | os.PathLike[str]) -> Path:
        path = Path(directory) / RECIPE_FILE
        atomic_write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path


@dataclass(frozen=True)
class Budget:
    """A recipe's training length for a number of processes: ``samples`` drawn in ``steps`` optimizer steps of
    ``samples_per_step`` (micro-batch x accumulation x processes); the last step may overrun ``samples`` by
    less than one step."""

    samples: int
    warmup_samples: int
    batch_size: int
    grad_accum: int
    processes: int

    @property
    def samples_per_step(self) -> int:
        return self.batch_size * self.grad_accum * self.processes

    @property
    def steps(self) -> int:
        return math.ceil(self.samples / self.samples_per_step)

    @property
    def warmup_steps(self) -> float:
        """The warmup in optimizer steps (fractional: the schedule is a function of the step)."""
        return self.warmup_samples / self.samples_per_step

    def describe(self) -> str:
        devices = f"{self.processes} process{'es' if self.processes > 1 else ''}"
        return (f"{self.samples:,} samples = {self.steps:,} optimizer steps x {self.samples_per_step} samples/step "
                f"(micro-batch {self.batch_size} x accumulation {self.grad_accum} x {devices}); warmup "
                f"{self.warmup_samples:,} samples ({self.warmup_steps:,.1f} steps)")


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


def recipe_from_dict(data: dict[str, Any], name: str = "") -> Recipe:
    """Validate a merged mapping into a :class:`Recipe`: every field by type and range, then what depends on
    other parts of emox (phase, layouts, task names)."""
    from emox_core.processing import LAYOUTS
    from emox_core.tasks import get_task

    recipe = build(Recipe, data, "")
    recipe.name = recipe.name or name
    get_phase(recipe.phase)
    for key, source in recipe.data.items():
        if source.layout not in LAYOUTS:
            raise EmoxError(f"recipe data.{key}.layout: {source.layout!r} is not one of {', '.join(LAYOUTS)}")
        if source.task is not None:
            try:
                source.task = get_task(source.task).name
            except EmoxError as exc:
                raise EmoxError(f"recipe data.{key}.task: {exc}") from None
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
    # The name as a user would pass it again (--recipe tiny/p2e-phase2, or the file's path): hints quote it.
    named = not Path(name_or_path).is_file()
    return recipe_from_dict(data, name_or_path.removesuffix(".yaml") if named else name_or_path)


def read_saved_recipe(directory: str | os.PathLike[str]) -> Recipe:
    """The resolved recipe written beside a run's outputs or checkpoints."""
    path = Path(directory) / RECIPE_FILE
    if not path.is_file():
        raise EmoxError(f"{path}: not found (is {directory} an emox training output or checkpoint?)")
    return recipe_from_dict(_upgrade_saved(_read_yaml(path)))


def _upgrade_saved(data: dict[str, Any]) -> dict[str, Any]:
    """A recipe.yaml written before the budget was counted in samples (``max_steps``, ``warmup_steps``) in
    today's keys, so older outputs still load (one process assumed)."""
    per_step = int(data.get("batch_size", 3)) * int(data.get("grad_accum", 4))
    if "max_steps" in data:
        data["max_samples"] = int(data.pop("max_steps")) * per_step
    optim = data.get("optim")
    if isinstance(optim, dict) and "warmup_steps" in optim:
        optim["warmup_samples"] = int(optim.pop("warmup_steps")) * per_step
    return data
