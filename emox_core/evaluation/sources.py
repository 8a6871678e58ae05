"""Where the predictions and the ground truth of a run are, from what users pass as ``-p`` and ``-g``.

``-p``: a predictions file; a run folder (every checkpoint's file: official ``checkpoint_*.npz``, EMER
``*_epochcheckpoint_*.csv``, emox ``checkpoint-N.jsonl``); or the official ``output/`` tree
(``results-<benchmark>/<run>/``). ``-g``: the ground-truth file; the official data folder holding it; the raw
folder given to ``emox prepare``; or the folder ``emox prepare`` wrote (its ``stats.json`` names the raw folder).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from emox_core.errors import EmoxError
from emox_core.evaluation import checkpoints as ckpts
from emox_core.evaluation.base import Context, Group, Headline, Scored
from emox_core.evaluation.readers import OPENSET_SUFFIX, SENTIMENT_SUFFIX
from emox_core.fileio import require_dir

PREDICTION_SUFFIXES = (".jsonl", ".npz", ".csv")
NOT_PREDICTIONS = ("gt-eng.csv", "gt.csv", "stats.json")
GT_SEARCH_DEPTH = 3  # folders below -g searched for a ground-truth file by name


def prediction_files(folder: Path, suffixes: Sequence[str] = PREDICTION_SUFFIXES) -> list[Path]:
    """The predictions files directly in ``folder`` (official LLM-step caches and ground-truth csvs left out)."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file()
        and p.name.endswith(tuple(suffixes))
        and not p.name.endswith((OPENSET_SUFFIX, SENTIMENT_SUFFIX))
        and p.name not in NOT_PREDICTIONS
        and not p.name.startswith(".")
    )


def run_folder(path: Path, results_names: Sequence[str], suffixes: Sequence[str] = PREDICTION_SUFFIXES) -> Path:
    """The folder holding one run's files: ``path`` itself, or the run below ``results-<name>/`` of an official
    ``output/`` tree (the latest when several share a name, as Nano-EmoX picks it)."""
    for name in results_names:
        if (path / f"results-{name}").is_dir():
            path = path / f"results-{name}"
            break
    if prediction_files(path, suffixes):
        return path
    runs = sorted(
        d for d in path.iterdir() if d.is_dir() and not d.name.startswith(".") and prediction_files(d, suffixes)
    )
    if not runs:
        raise EmoxError(f"{path}: no predictions files ({', '.join(suffixes)}) here or in a run folder below")
    return ckpts.latest_run(runs, path)


def checkpoint_groups(
    ctx: Context, results_names: Sequence[str], suffixes: Sequence[str] = PREDICTION_SUFFIXES
) -> list[tuple[str, list[ckpts.Checkpoint]]]:
    """(run name, the checkpoints to score) for ``--predictions``, after ``--checkpoints``/``--skip``."""
    path = ctx.predictions
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = prediction_files(run_folder(path, results_names, suffixes), suffixes)
    else:
        raise EmoxError(f"{path}: predictions file or folder not found")
    groups: dict[str, list[ckpts.Checkpoint]] = {}
    for file in files:
        groups.setdefault(ckpts.run_group(file), []).append(ckpts.Checkpoint(file, ckpts.checkpoint_number(file.name)))
    return [(name, ckpts.select(found, ctx.checkpoints, ctx.skip, name)) for name, found in groups.items()]


def score_runs(
    ctx: Context,
    results_names: Sequence[str],
    main: str,
    headline: tuple[Headline, ...],
    score: Callable[[ckpts.Checkpoint], Scored],
) -> list[Group]:
    """One :class:`Group` per run of ``--predictions``, ``score`` applied to each of its selected checkpoints."""
    return [
        Group(name, name, main, headline, [score(ckpt) for ckpt in checkpoints])
        for name, checkpoints in checkpoint_groups(ctx, results_names)
    ]


def require_overlap(source: Path, predictions: Collection[str], ground_truth: Mapping[str, Any]) -> None:
    """One line when no prediction names a ground-truth sample (a wrong file, or ids of another naming)."""
    if not set(predictions) & set(ground_truth):
        example = next(iter(ground_truth))
        raise EmoxError(f"{source}: no prediction id matches the ground truth (e.g. {example!r})")


def ground_truth_roots(root: Path) -> list[Path]:
    """``root`` and, for a folder written by ``emox prepare``, the raw folder its ``stats.json`` names."""
    roots = [root]
    stats = root / "stats.json"
    if stats.is_file():
        try:
            data_root = Path(json.loads(stats.read_text(encoding="utf-8"))["data_root"])
        except (OSError, ValueError, KeyError, TypeError):
            data_root = None
        if data_root is not None and data_root.is_dir():
            roots.append(data_root)
    return roots


def find_ground_truth(ctx: Context, candidates: Sequence[str], what: str) -> Path:
    """The ground-truth file: ``-g`` itself, or the first of ``candidates`` (paths relative to ``-g`` or to the
    raw folder of a prepared one), else a file named like the first candidate up to three folders below ``-g``."""
    root = ctx.need_ground_truth(what)
    if root.is_file():
        return ctx.used("ground_truth", root)
    require_dir(root, "ground-truth file or folder")
    roots = ground_truth_roots(root)
    for base in roots:
        for rel in candidates:
            if (base / rel).is_file():
                return ctx.used("ground_truth", base / rel)
    name = Path(candidates[0]).name
    for base in roots:
        for depth in range(1, GT_SEARCH_DEPTH + 1):
            found = sorted(base.glob("*/" * depth + name))
            if found:
                return ctx.used("ground_truth", found[0])
    raise EmoxError(f"{root}: no {what} found (looked for {', '.join(candidates)})")
