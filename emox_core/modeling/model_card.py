"""The Hugging Face model card ``emox export`` writes beside the weights (``README.md``), so that
``huggingface-cli upload OWNER/NAME DIR`` publishes a model others can load and check.

Its YAML metadata is built with ``huggingface_hub``'s own :class:`~huggingface_hub.ModelCardData` (base models =
the backbones named by hub id, datasets of the training recipes, license, pipeline tag, ``model-index`` with the
``emox eval`` results) plus an ``emox`` block with the SHA-256 of every file; the text gives the P2E recipe of
each phase found in the run, the results with their protocol versions, and how to load and verify the files.
Everything is read from files (``recipe.yaml`` of each phase, ``metrics.json`` of ``emox eval``): nothing from
training or evaluation is imported here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from emox_core.errors import EmoxError
from emox_core.fileio import atomic_write_text
from emox_core.media.cache import sha256_file
from emox_core.modeling.configuration import NanoEmoXConfig

CARD_FILE = "README.md"
RECIPE_FILE = "recipe.yaml"  # written by emox train beside every phase output and checkpoint
METRICS_FILE = "metrics.json"  # written by emox eval
PIPELINE_TAG = "video-text-to-text"
TAGS = ["emox", "nano-emox", "multimodal", "affective-computing", "emotion-recognition", "video", "audio"]
DEFAULT_LICENSE = "mit"
_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")
_MAX_PHASES = 16
_RECIPE_FIELDS = ("phase", "trainable", "max_samples", "batch_size", "grad_accum", "precision", "seed")


def base_models(config: NanoEmoXConfig) -> list[str]:
    """The backbones named by hub id (vision, speech, face, text order); local paths and ``random`` are not."""
    found = []
    for kind in ("vision", "speech", "face", "text"):
        source = str(config.backbones.get(kind, ""))
        if _HUB_ID.fullmatch(source) and not Path(source).expanduser().exists() and source not in found:
            found.append(source)
    return found


def training_phases(source: str | Path) -> list[dict[str, Any]]:
    """The recipes of the run behind ``source``, first phase first: its own ``recipe.yaml``, then each
    ``model.init_from`` back (resolved as given, else beside ``source``'s run folder). Each entry is the recipe
    as saved plus ``directory`` (None when that phase's folder is not found: the chain stops there)."""
    phases: list[dict[str, Any]] = []
    directory: Path | None = Path(source)
    seen: set[Path] = set()
    while directory is not None and (directory / RECIPE_FILE).is_file() and len(phases) < _MAX_PHASES:
        seen.add(directory.resolve())
        try:
            recipe = yaml.safe_load((directory / RECIPE_FILE).read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError):
            raise EmoxError(f"{directory / RECIPE_FILE}: not a readable recipe") from None
        if not isinstance(recipe, dict):
            raise EmoxError(f"{directory / RECIPE_FILE}: not a recipe (expected a mapping)")
        phases.append({**recipe, "directory": str(directory)})
        previous = (recipe.get("model") or {}).get("init_from")
        directory = _phase_folder(previous, Path(source)) if previous else None
        if directory is not None and directory.resolve() in seen:
            break
    return phases[::-1]


def _phase_folder(init_from: str, source: Path) -> Path | None:
    """A previous phase's folder: as recorded (relative to where training ran), else a sibling of the run."""
    candidates = [Path(init_from)]
    run = source.parent if source.name.startswith("checkpoint-") else source
    candidates.append(run.parent / Path(init_from).name)
    return next((c for c in candidates if (c / RECIPE_FILE).is_file()), None)


def training_datasets(phases: Iterable[dict[str, Any]]) -> list[str]:
    """Dataset names of the recipes' data sources (the prepared folder's name, e.g. ``mer-caption-plus``;
    ``emox-synthetic`` for the synthetic corpus), sources with weight 0 left out."""
    names: list[str] = []
    for phase in phases:
        for key, data in (phase.get("data") or {}).items():
            if not isinstance(data, dict) or float(data.get("weight", 1) or 0) <= 0:
                continue
            if data.get("synthetic") is not None or key == "synthetic":
                name = "emox-synthetic"
            elif data.get("manifest"):
                name = Path(data["manifest"]).parent.name or key
            else:
                name = Path(data["data_root"]).name if data.get("data_root") else key
            if name not in names:
                names.append(name)
    return names


def find_results(source: str | Path, extra: Sequence[str | Path] = ()) -> list[tuple[Path, dict[str, Any]]]:
    """``emox eval`` outputs for this model: every ``metrics.json`` under ``source`` (not in checkpoints or in
    an ``ablation/`` folder, whose conditions the reference file lists) and every ``extra`` file or folder."""
    explicit = []
    for item in extra:
        path = Path(item)
        path = path / METRICS_FILE if path.is_dir() else path
        if not path.is_file():
            raise EmoxError(f"{item}: no {METRICS_FILE} of emox eval there")
        explicit.append(path)
    root = Path(source)
    found = [path for path in sorted(root.rglob(METRICS_FILE))
             if len(parts := path.relative_to(root).parts[:-1]) <= 3
             and not any(p == "ablation" or p.startswith(("checkpoint-", ".")) for p in parts)]
    results, seen = [], set()
    for path in [*explicit, *found]:
        if path.resolve() in seen:
            continue
        seen.add(path.resolve())
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise EmoxError(f"{path}: not a readable {METRICS_FILE}") from None
        if isinstance(result, dict) and {"benchmark", "protocol", "rows"} <= set(result):
            results.append((path, result))
        elif path in explicit:
            raise EmoxError(f"{path}: not a {METRICS_FILE} written by emox eval (no benchmark/protocol/rows)")
    return results


def file_hashes(directory: str | Path) -> dict[str, dict[str, Any]]:
    """Relative path -> ``{"sha256", "bytes"}`` of every file in ``directory`` but the card itself."""
    root = Path(directory)
    return {p.relative_to(root).as_posix(): {"sha256": sha256_file(p), "bytes": p.stat().st_size}
            for p in sorted(root.rglob("*")) if p.is_file() and p.relative_to(root).as_posix() != CARD_FILE}


def _eval_results(results: Sequence[tuple[Path, dict[str, Any]]]) -> list[Any]:
    from huggingface_hub import EvalResult

    out = []
    for _, result in results:
        emox_version = ((result.get("provenance") or {}).get("versions") or {}).get("emox")
        for row in result["rows"]:
            value = row.get("ours")
            if not isinstance(value, (int, float)) or value != value:  # NaN: nothing to publish
                continue
            out.append(EvalResult(
                task_type=PIPELINE_TAG, task_name=result.get("title", result["benchmark"]),
                dataset_type=result["benchmark"], dataset_name=result.get("title", result["benchmark"]),
                dataset_split="test", metric_type=row["key"], metric_name=row.get("metric", row["key"]),
                metric_value=float(value), metric_config=f"protocol {result['protocol']}",
                metric_args={"unit": result.get("unit"), "n": row.get("n"), "n_expected": row.get("n_expected"),
                             "emox": emox_version},
                verified=False))
    return out


def build_model_card(directory: str | Path, config: NanoEmoXConfig, source: str | Path, *,
                     evals: Sequence[str | Path] = (), license_id: str = DEFAULT_LICENSE, name: str | None = None
                     ) -> str:
    """The card's text for the model saved in ``directory`` (exported from ``source``)."""
    from huggingface_hub import ModelCardData

    import emox_core

    directory = Path(directory)
    name = name or directory.name
    phases = training_phases(source)
    results = find_results(source, evals)
    hashes = file_hashes(directory)
    data = ModelCardData(
        model_name=name, base_model=base_models(config) or None, datasets=training_datasets(phases) or None,
        license=license_id, pipeline_tag=PIPELINE_TAG, library_name="emox", tags=list(TAGS),
        eval_results=_eval_results(results) or None,
        emox={"version": emox_core.__version__, "files": hashes})
    body = _body(name, config, phases, results, hashes)
    return f"---\n{data.to_yaml()}\n---\n\n{body}"


def write_model_card(directory: str | Path, config: NanoEmoXConfig, source: str | Path, **options: Any) -> Path:
    """Write ``README.md`` into ``directory`` (see :func:`build_model_card`)."""
    path = Path(directory) / CARD_FILE
    atomic_write_text(path, build_model_card(directory, config, source, **options))
    return path


def verify_files(directory: str | Path) -> list[str]:
    """Check the files of a downloaded model against its card's ``emox.files`` hashes; returns the problems
    (a missing file, a different hash), empty when everything matches."""
    from huggingface_hub import ModelCard

    root = Path(directory)
    card = root / CARD_FILE
    if not card.is_file():
        raise EmoxError(f"{card}: no model card")
    listed = (ModelCard.load(card).data.to_dict().get("emox") or {}).get("files") or {}
    if not listed:
        raise EmoxError(f"{card}: the card lists no file hashes (not written by emox export)")
    problems = []
    for relative, expected in listed.items():
        path = root / relative
        if not path.is_file():
            problems.append(f"{relative}: missing")
        elif sha256_file(path) != expected["sha256"]:
            problems.append(f"{relative}: SHA-256 differs from the card")
    return problems


def _body(name: str, config: NanoEmoXConfig, phases: list[dict[str, Any]],
          results: Sequence[tuple[Path, dict[str, Any]]], hashes: dict[str, dict[str, Any]]) -> str:
    pairs = ", ".join(f"{s}/{v}" for s, v in zip(config.fusion_speech_layers, config.fusion_vision_layers, strict=True))
    lines = [
        f"# {name}", "",
        "A [Nano-EmoX](https://github.com/waHAHJIAHAO/Nano-EmoX) model (multimodal LLM for affective computing: "
        "MSA, MER, OV-MER, ERI, MIR, ERG), trained and exported with [emox](https://github.com/emox/emox). "
        "It reads 8 frames, the face input and 8 two-second audio segments of a clip, and a task prompt.", "",
        "## Use", "",
        "```bash",
        "pip install emox",
        "emox infer clip.mp4 --task MER --model OWNER/NAME        # or a local copy of this folder",
        "emox app --model OWNER/NAME                              # local web page (pip install 'emox[app]')",
        "```", "",
        "```python",
        "from huggingface_hub import snapshot_download",
        "from emox_core.modeling.loading import load_model",
        "from emox_core.modeling.model_card import verify_files",
        "",
        'directory = snapshot_download("OWNER/NAME")',
        "assert verify_files(directory) == []      # every file matches the SHA-256 listed in this card",
        "model, processor = load_model(directory)  # NanoEmoXForConditionalGeneration.from_pretrained + processor",
        "```", "",
        "## Model", "",
        "| part | source |", "|---|---|",
        *[f"| {kind} | `{config.backbones.get(kind, '(built from config)')}` |"
          for kind in ("vision", "speech", "face", "text")],
        "",
        f"Fusion experts (speech layer / vision layer): {pairs}; LoRA merged into the language model. "
        "The base models keep their own licenses.", "",
        "## Training (P2E)", "",
    ]
    lines += _phase_lines(phases)
    lines += ["", "## Evaluation (`emox eval`)", ""]
    lines += _result_lines(results)
    lines += ["", "## Files", "", "| file | bytes | SHA-256 |", "|---|---:|---|",
              *[f"| `{path}` | {info['bytes']} | `{info['sha256']}` |" for path, info in hashes.items()], ""]
    return "\n".join(lines)


def _phase_lines(phases: list[dict[str, Any]]) -> list[str]:
    if not phases:
        return ["No emox training recipe was found beside the exported model (converted or built elsewhere)."]
    lines = []
    for recipe in phases:
        optim = recipe.get("optim") or {}
        data = recipe.get("data") or {}
        lines += [f"### Phase {recipe.get('phase', '?')}" + (f": {recipe['name']}" if recipe.get("name") else ""), ""]
        lines += [f"- {key}: `{recipe[key]}`" for key in _RECIPE_FIELDS if key in recipe]
        if optim:
            lines.append("- optimizer: " + ", ".join(f"{k} `{v}`" for k, v in optim.items()))
        if data:
            sources = [f"{k} ({d.get('weight', 1)}, {d.get('task') or 'all'})" for k, d in data.items()
                       if isinstance(d, dict)]
            lines.append("- data (mixture weight, task): " + "; ".join(sources))
        lines += ["", "<details><summary>recipe.yaml</summary>", "", "```yaml",
                  yaml.safe_dump({k: v for k, v in recipe.items() if k != "directory"}, sort_keys=False).rstrip(),
                  "```", "", "</details>", ""]
    return lines


def _result_lines(results: Sequence[tuple[Path, dict[str, Any]]]) -> list[str]:
    if not results:
        return ["No `emox eval` results were found for this run (`emox export --eval DIR` adds them)."]
    lines = ["| benchmark | protocol | metric | value | unit | samples | emox |", "|---|---|---|---:|---|---|---|"]
    for _, result in results:
        version = ((result.get("provenance") or {}).get("versions") or {}).get("emox", "")
        for row in result["rows"]:
            value = row.get("ours")
            shown = f"{value:.2f}" if isinstance(value, (int, float)) and value == value else "n/a"
            samples = f"{row['n']}/{row['n_expected']}" if "n" in row else ""
            lines.append(f"| {result['benchmark']} | {result['protocol']} | {row.get('metric', row['key'])} | "
                         f"{shown} | {result.get('unit', '')} | {samples} | {version} |")
        for condition, values in ((result.get("ablation") or {}).get("conditions") or {}).items():
            shown = ", ".join(f"{k} {v:.2f}" for k, v in values["metrics"].items() if isinstance(v, (int, float)))
            lines.append(f"| {result['benchmark']} {condition} | {result['protocol']} | (test-time modality "
                         f"ablation) | {shown} | {result.get('unit', '')} | | {version} |")
    return lines
