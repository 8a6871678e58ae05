"""``evaluate_benchmark``: read predictions and ground truth, run the protocol, write the report.

The CLI calls this and only prints. Every benchmark returns the same shape: ``metrics`` (paper units),
``rows`` (headline metric, ours, paper), ``samples`` (per-sample predictions and judgements) and ``settings``.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emox_core.errors import EmoxError
from emox_core.evaluation import paper_numbers, readers
from emox_core.evaluation.judge import ChatBackend, Settings, make_backend
from emox_core.fileio import atomic_open, require_dir, require_file, user_cache_dir

BENCHMARKS = ("mer-unibench", "emer", "mintrec", "mintrec2", "avamerg")


@dataclass
class EvalOptions:
    """Everything ``emox eval`` can be told; paths are checked where they are used."""

    predictions: Path | None = None
    ground_truth: Path | None = None
    wheels: Path | None = None
    subset: str | None = None
    judge: str | None = None
    judge_model: str | None = None
    judge_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 8
    timeout: float = 120.0
    retries: int = 4
    seed: int | None = None
    cache_dir: Path | None = None
    match: str = "exact"
    dist: str = "per-response"
    strict_scores: bool = False
    label_maps: Path | None = None
    out_dir: Path | None = None


def evaluate_benchmark(benchmark: str, options: EvalOptions) -> dict[str, Any]:
    """Score ``options.predictions`` on ``benchmark``; write metrics.json, predictions.jsonl, chart.png."""
    from emox_core.evaluation import report

    key = benchmark.lower().replace("_", "-")
    runners = {
        "mer-unibench": _mer_unibench,
        "emer": _emer,
        "mintrec": _intent,
        "mintrec2": _intent,
        "avamerg": _avamerg,
    }
    if key not in runners:
        raise EmoxError(f"unknown benchmark {benchmark!r}: choose one of {', '.join(BENCHMARKS)}")
    if options.predictions is None:
        raise EmoxError("--predictions: required (or --model CKPT --data DIR)")
    result = runners[key](key, options)
    result["benchmark"] = key
    for row in result["rows"]:
        row.setdefault("paper", paper_numbers.paper_value(key, row["key"]))
    if options.out_dir is not None:
        result["outputs"] = report.write_outputs(result, options.out_dir)
    return result


def predict_then_evaluate(
    benchmark: str,
    model: str,
    data: Path,
    options: EvalOptions,
    batch_size: int = 8,
) -> dict[str, Any]:
    """``emox eval --model CKPT --data DIR``: batched generation (``emox infer``'s code), then scoring."""
    from emox_core.inference import predict_manifest

    out_dir = options.out_dir or Path("eval-" + benchmark)
    out_dir.mkdir(parents=True, exist_ok=True)
    out_path = out_dir / "raw-predictions.jsonl"
    predict_manifest(model=model, manifest=data, out_path=out_path, batch_size=batch_size)
    options.predictions = out_path
    return evaluate_benchmark(benchmark, options)


def _backend(options: EvalOptions, default_model: str, settings: Settings) -> ChatBackend:
    if not options.judge:
        raise EmoxError("--judge: this step needs an LLM (an OpenAI-compatible URL, or hf:MODEL for a local model)")
    if options.seed is not None:
        settings = Settings(**{**settings.as_dict(), "seed": options.seed})
    cache = options.cache_dir or user_cache_dir() / "judge"
    return make_backend(
        options.judge,
        options.judge_model or default_model,
        settings,
        cache,
        options.judge_key_env,
        options.concurrency,
        options.timeout,
        options.retries,
    )


def _need(path: Path | None, flag: str, what: str) -> Path:
    if path is None:
        raise EmoxError(f"{flag}: required ({what})")
    return path


def _check_ids(gt: dict[str, Any], names: set[str], source: Path, allow_partial: bool) -> None:
    """One-line errors for predictions that do not match the ground truth."""
    common = len(names & set(gt))
    if common == 0:
        raise EmoxError(f"{source}: no prediction id matches the ground truth (e.g. {next(iter(gt))!r})")
    missing = [n for n in gt if n not in names]
    if missing and not allow_partial:
        raise EmoxError(
            f"{source}: {len(missing)} of {len(gt)} ground-truth ids have no prediction (first: {missing[0]!r})"
        )


# ----------------------------------------------------------------------------------------------- MER-UniBench
def _mer_unibench(key: str, options: EvalOptions) -> dict[str, Any]:
    from emox_core.evaluation import mer_unibench as mub
    from emox_core.evaluation.emotion_wheel import EmotionWheels

    jobs = _mer_jobs(options)
    wheels_needed = any(mub.get_subset(s).group != "dimension" for s in jobs)
    wheels = (
        EmotionWheels.load(_need(options.wheels, "--wheels", "folder with wheel1..5.xlsx, synonym.xlsx, format.csv"))
        if wheels_needed
        else None
    )
    backend: list[ChatBackend] = []  # built on first need, so a run on cached outputs needs no --judge

    def llm() -> ChatBackend:
        if not backend:
            backend.append(_backend(options, mub.EXTRACTOR_MODEL, mub.EXTRACTOR_SETTINGS))
        return backend[0]

    metrics: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    for subset_name, checkpoints in jobs.items():
        subset = mub.get_subset(subset_name)
        gt = mub.load_ground_truth(subset, _gt_file(subset, options.ground_truth))
        per_ckpt: dict[str, dict[str, Any]] = {}
        ckpt_data: dict[str, tuple[dict[str, str], dict[str, str] | None]] = {}
        for ckpt in checkpoints:
            preds = _subset_predictions(ckpt, subset_name)
            _check_ids(gt, set(preds.text), ckpt, allow_partial=False)
            calls = backend[0].calls if backend else 0
            opensets, sentiments = _opensets(subset, preds, gt, llm)
            if options.out_dir is not None and backend and backend[0].calls > calls:
                stem = ckpt.name.removesuffix(".npz").removesuffix(".jsonl")
                folder = options.out_dir / "intermediate" / f"results-{subset.name}"
                _write_official_npz(folder / f"{stem}{readers.OPENSET_SUFFIX}", opensets)
                if sentiments is not None:
                    _write_official_npz(folder / f"{stem}{readers.SENTIMENT_SUFFIX}", sentiments)
            per_ckpt[ckpt.name] = mub.score_subset(subset, gt, opensets, wheels, sentiments)
            ckpt_data[ckpt.name] = (opensets, sentiments)
        best = mub.best_checkpoint(per_ckpt)
        scores = per_ckpt[best]
        metrics[subset.name] = {
            **{k: 100 * v for k, v in scores.items() if isinstance(v, float)},
            "n": scores.get("n"),
            "per_wheel": scores.get("per_wheel"),
            "checkpoint": best,
            "checkpoints": {c: 100 * s["main"] for c, s in per_ckpt.items()},
            "best_of": len(per_ckpt),
        }
        rows.append(
            {
                "metric": subset.name + (f" (best of {len(per_ckpt)})" if len(per_ckpt) > 1 else ""),
                "key": subset.name,
                "ours": 100 * scores["main"],
                "affectgpt_paper": paper_numbers.MER_UNIBENCH_AFFECTGPT.get(subset.name),
            }
        )
        opensets, sentiments = ckpt_data[best]
        samples.extend(
            {
                "subset": subset.name,
                "checkpoint": best,
                "id": n,
                "ground_truth": gt[n],
                "openset": opensets.get(n),
                "sentiment": (sentiments or {}).get(n),
            }
            for n in gt
        )
    if len(rows) == len(mub.SUBSETS):
        mean = sum(r["ours"] for r in rows) / len(rows)
        metrics["mean"] = mean
        rows.append(
            {
                "metric": "mean",
                "key": "mean",
                "ours": mean,
                "affectgpt_paper": paper_numbers.MER_UNIBENCH_AFFECTGPT["mean"],
            }
        )
    return {
        "metrics": metrics,
        "rows": rows,
        "samples": samples,
        "unit": "percent",
        "settings": {
            "extractor": backend[0].describe() if backend else "not needed (label lists given)",
            "selection": "best checkpoint per set by its main metric (np.argmax, first max wins)",
        },
    }


def _write_official_npz(path: Path, name2item: dict[str, str]) -> None:
    """The LLM step's outputs in the official ``filenames`` / ``fileitems`` layout, so the official scripts (or
    a later ``emox eval``) can score exactly the same lists."""
    import numpy as np

    with atomic_open(path, "wb") as handle:
        np.savez_compressed(handle, filenames=list(name2item), fileitems=list(name2item.values()))


def _mer_jobs(options: EvalOptions) -> dict[str, list[Path]]:
    """subset -> checkpoint output files, from a file, a run folder, or the official ``output/`` tree."""
    from emox_core.evaluation import mer_unibench as mub

    path = options.predictions
    assert path is not None
    wanted = [mub.get_subset(s).name for s in options.subset.split(",")] if options.subset else None
    if path.is_dir():
        found: dict[str, list[Path]] = {}
        for results in sorted(path.glob("results-*")):
            try:
                name = mub.get_subset(results.name[len("results-") :]).name
            except EmoxError:
                continue  # results-avamerg, results-mintrec, ...: not MER-UniBench
            runs = sorted(d for d in results.iterdir() if d.is_dir()) or [results]
            found[name] = readers.checkpoint_outputs(runs[-1])  # the latest run folder, as Nano-EmoX picks it
        if not found:  # a run folder of one subset
            subset = wanted[0] if wanted else _subset_from_path(path)
            found = {subset: readers.checkpoint_outputs(path)}
        found = {s: f for s, f in found.items() if f and (wanted is None or s in wanted)}
        if not found:
            raise EmoxError(f"{path}: no checkpoint outputs (*.npz) for the requested MER-UniBench sets")
        return _in_table_order(found)
    require_file(path, "predictions file")
    if path.suffix == ".jsonl" and wanted is None:
        known = set()
        for dataset in set(readers.read_jsonl(path).dataset.values()):
            with contextlib.suppress(EmoxError):  # lines of other benchmarks may share the file
                known.add(mub.get_subset(dataset).name)
        if known:
            return _in_table_order({s: [path] for s in known})
    subsets = wanted or [_subset_from_path(path)]
    return _in_table_order({s: [path] for s in subsets})


def _in_table_order(jobs: dict[str, list[Path]]) -> dict[str, list[Path]]:
    """The paper's column order (MER2023 ... OV-MERD+)."""
    from emox_core.evaluation import mer_unibench as mub

    return {name: jobs[name] for name in mub.SUBSETS if name in jobs}


def _subset_from_path(path: Path) -> str:
    from emox_core.evaluation import mer_unibench as mub

    for part in reversed(path.resolve().parts):
        if part.startswith("results-"):
            return mub.get_subset(part[len("results-") :]).name
    raise EmoxError(f"{path}: cannot tell which MER-UniBench set this is; pass --subset")


def _subset_predictions(path: Path, subset: str) -> readers.Predictions:
    preds = readers.read_predictions(path)
    if preds.kind == "jsonl" and preds.dataset:
        from emox_core.evaluation import mer_unibench as mub

        preds = preds.subset({n for n, d in preds.dataset.items() if mub.get_subset(d).name == subset})
    return preds


def _opensets(
    subset: Any,
    preds: readers.Predictions,
    gt: dict[str, Any],
    llm: Any,
) -> tuple[dict[str, str], dict[str, str] | None]:
    """The ``-openset`` strings (and sentiments for MSA sets), skipping the LLM where labels are given."""
    from emox_core.evaluation import mer_unibench as mub

    names = [n for n in gt if n in preds.text]
    sentiments: dict[str, str] | None = None
    if preds.kind == "sentiment":
        return {}, {n: preds.text[n] for n in names}
    if preds.kind == "openset":
        opensets = {n: preds.text[n] for n in names}
    elif preds.kind == "jsonl" and all(n in preds.labels or n in preds.label for n in names):
        opensets = {n: "[" + ", ".join(preds.labels.get(n) or [preds.label[n]]) + "]" for n in names}
        if subset.group == "dimension" and all(preds.label.get(n, "").lower() in mub.SENTIMENT_VALUE for n in names):
            sentiments = {n: preds.label[n].lower() for n in names}
    else:
        cached = readers.sibling(preds.source, readers.OPENSET_SUFFIX) if preds.kind == "reason" else None
        if cached is not None:
            opensets = readers.read_npz(cached).text
        else:
            opensets = mub.extract_openset({n: preds.text[n] for n in names}, llm())
    if subset.group == "dimension" and sentiments is None:
        cached = readers.sibling(preds.source, readers.SENTIMENT_SUFFIX) if preds.kind != "jsonl" else None
        sentiments = (
            readers.read_npz(cached).text
            if cached is not None
            else mub.openset_to_sentiment({n: opensets[n] for n in names}, llm())
        )
    return opensets, sentiments


def _gt_file(subset: Any, root: Path | None) -> Path:
    """The subset's label file: ``--ground-truth`` itself, or found under it in the MER-UniBench packages
    (a sub-folder named like the set, e.g. ``MER2023-process/label-6way.npz``; for OV-MERD+ also a csv named
    ``ovlabel.csv`` / ``mer2025-ov.csv`` anywhere below)."""
    root = _need(root, "--ground-truth", "a label file, or the folder holding the MER-UniBench packages")
    if root.is_file():
        return root
    require_dir(root, "ground-truth folder")
    names = {subset.name, *subset.aliases}

    def norm(text: str) -> str:
        return "".join(ch for ch in text.lower() if ch.isalnum()).removesuffix("process")

    for candidate in sorted(root.rglob(subset.label_file)):
        if norm(candidate.parent.name) in names:
            return candidate
    if subset.group == "ovlabel":
        for candidate in sorted(root.rglob("*.csv")):
            if norm(candidate.stem) in {"ovlabel", "mer2025ov"} or norm(candidate.parent.name) in names:
                return candidate
    raise EmoxError(f"{root}: no {subset.label_file} for {subset.name} (looked in sub-folders named like it)")


# ----------------------------------------------------------------------------------------------------- EMER
def _emer(key: str, options: EvalOptions) -> dict[str, Any]:
    """One predictions file, or a folder of model CSVs scored side by side (as ``eval_ovmerd.py`` does with
    every ``*.csv`` but ``gt-eng.csv``; the way to rescore the EMER baselines with today's judge)."""
    from emox_core.evaluation import emer

    gt_path = require_file(_need(options.ground_truth, "--ground-truth", "EMER gt-eng.csv"), "EMER ground truth")
    gt = readers.read_csv_column(gt_path, ("reasons", "chi_reasons"))
    source = _need(options.predictions, "--predictions", "predictions")
    if source.is_dir():
        files = sorted(p for p in source.glob("*.csv") if p.name not in ("gt-eng.csv", "gt.csv"))
        if not files:
            raise EmoxError(f"{source}: no model CSV to score (every *.csv except gt-eng.csv / gt.csv)")
    else:
        files = [source]
    judge = _backend(options, emer.JUDGE_MODEL, emer.JUDGE_SETTINGS)
    metrics: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    for path in files:
        preds = readers.read_predictions(path)
        _check_ids(gt, set(preds.text), preds.source, allow_partial=True)
        clue = emer.clue_overlap(gt, preds.text, judge, options.strict_scores)
        label = emer.label_overlap(gt, preds.text, judge, options.strict_scores)
        model = path.stem
        metrics[model] = {
            "clue_overlap": clue["score"],
            "label_overlap": label["score"],
            "n": clue["n"],
            "n_unparsed": {"clue": clue["n_unparsed"], "label": label["n_unparsed"]},
        }
        suffix = f" [{model}]" if len(files) > 1 else ""
        rows += [
            {"metric": "Clue Overlap" + suffix, "key": "clue_overlap", "ours": clue["score"]},
            {"metric": "Label Overlap" + suffix, "key": "label_overlap", "ours": label["score"]},
        ]
        by_id = {s["id"]: s for s in label["samples"]}
        samples += [
            {
                "model": model,
                "id": s["id"],
                "prediction": preds.text[s["id"]],
                "clue_reply": s["reply"],
                "clue_score": s["score"],
                "label_reply": by_id[s["id"]]["reply"],
                "label_score": by_id[s["id"]]["score"],
                "gt_emotions": by_id[s["id"]]["gt_emotions"],
                "pred_emotions": by_id[s["id"]]["pred_emotions"],
            }
            for s in clue["samples"]
        ]
    if len(files) == 1:
        metrics = metrics[files[0].stem]
    return {
        "metrics": metrics,
        "rows": rows,
        "samples": samples,
        "unit": "judge score (0-10)",
        "settings": {"judge": judge.describe(), "parser": "strict" if options.strict_scores else "official"},
    }


# ------------------------------------------------------------------------------------------- MIntRec(2.0)
def _intent(key: str, options: EvalOptions) -> dict[str, Any]:
    from emox_core.evaluation import mintrec

    gt = readers.read_intent_annotations(_need(options.ground_truth, "--ground-truth", "test_*_ann.json"))
    preds = readers.read_predictions(_need(options.predictions, "--predictions", "predictions"))
    _check_ids(gt, set(preds.text), preds.source, allow_partial=True)
    texts = {n: t.strip() for n, t in preds.text.items()}
    scores = mintrec.intent_scores(gt, texts, mintrec.LABELS[key], options.match)
    samples = scores.pop("samples")
    rows = [
        {"metric": m.upper() if m != "accuracy" else "Acc", "key": m, "ours": scores[m]}
        for m in ("accuracy", "wf1", "wp")
    ]
    return {
        "metrics": scores,
        "rows": rows,
        "samples": samples,
        "unit": "percent",
        "settings": {"match": options.match},
    }


# -------------------------------------------------------------------------------------------------- AvaMERG
def _avamerg(key: str, options: EvalOptions) -> dict[str, Any]:
    from emox_core.evaluation import avamerg

    if options.label_maps is None:
        maps, maps_source = avamerg.LabelMaps.builtin(), "built-in (emox_core.data.labels)"
    else:
        maps, maps_source = avamerg.LabelMaps.load(options.label_maps), str(options.label_maps)
    gt = avamerg.load_test_json(_need(options.ground_truth, "--ground-truth", "AvaMERG v_test_v5_0.json"))
    preds = readers.read_predictions(_need(options.predictions, "--predictions", "predictions"))
    _check_ids(gt, set(preds.text), preds.source, allow_partial=True)
    scores = avamerg.emotion_scores(gt, preds.text, maps)
    samples = scores.pop("samples")
    for sample in samples:
        sample["response"] = preds.text[sample["id"]]
    scores["dist1"] = avamerg.distinct_n(preds.text.values(), 1, options.dist)
    scores["dist2"] = avamerg.distinct_n(preds.text.values(), 2, options.dist)
    scores["dist_mode"] = options.dist
    rows = [
        {"metric": label, "key": k, "ours": scores[k]}
        for label, k in (
            ("Acc", "accuracy"),
            ("Hit Rate", "hit_rate"),
            ("Dist-1", "dist1"),
            ("Dist-2", "dist2"),
        )
    ]
    return {
        "metrics": scores,
        "rows": rows,
        "samples": samples,
        "unit": "percent",
        "settings": {"dist": options.dist, "unmapped_coarse_labels": "count as a miss", "label_maps": maps_source},
    }


def headline(result: dict[str, Any]) -> dict[str, float | None]:
    """metric key -> our value, for ``--json`` (NaN becomes None so the output is strict JSON)."""
    return {
        r["key"]: (None if isinstance(r["ours"], float) and math.isnan(r["ours"]) else r["ours"])
        for r in result["rows"]
    }
