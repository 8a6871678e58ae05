"""What a benchmark module declares, and what it is given when it runs.

A benchmark is one module under :mod:`emox_core.evaluation.benchmarks` holding one or more
:class:`Benchmark` objects in ``BENCHMARKS``: its options (with the value that reproduces the official code),
its driver, the paper's numbers and its protocol version. The driver turns a :class:`Context` into
:class:`Group` s (a row block: one MER-UniBench set, one EMER model, ...), each with one :class:`Scored` per
checkpoint; :mod:`emox_core.evaluation.run` picks the best and the last checkpoint, builds the rows and
writes the report, so no benchmark repeats that.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emox_core.errors import EmoxError
from emox_core.evaluation.checkpoints import Checkpoint
from emox_core.fileio import user_cache_dir

if TYPE_CHECKING:
    from emox_core.evaluation.judge import ChatBackend, Settings
    from emox_core.evaluation.readers import Predictions

_UNSET = object()


@dataclass(frozen=True)
class Option:
    """A benchmark option (``--match``, ``--wheels``...). ``official`` is the value that reproduces the official
    code; any other value is a deviation and is listed in the results. ``choices`` restrict the value."""

    name: str
    flag: str
    help: str
    default: Any = None
    type: type = str
    choices: tuple[str, ...] = ()
    official: Any = _UNSET

    @property
    def is_deviation_option(self) -> bool:
        return self.official is not _UNSET


NORMALIZE = Option(
    "normalize",
    "--normalize",
    "official: read predictions exactly as the official code does; lenient: strip the whitespace around a "
    "prediction first (MER-UniBench label lists and sentiments, MIntRec answers).",
    default="official",
    choices=("official", "lenient"),
    official="official",
)


@dataclass(frozen=True)
class Headline:
    """One table row of a group: the metric key, its label, the key of the paper's number, and the row key when
    the row stands for its group (a MER-UniBench set: ``mer2023``); else ``metric``, or ``run/metric`` when
    several runs are scored side by side."""

    metric: str
    label: str
    paper_key: str = ""
    row_key: str = ""


@dataclass
class Scored:
    """The scores of one checkpoint's predictions: ``metrics`` in the benchmark's unit (unrounded), ``raw`` the
    values exactly as the official code returns them (fractions for MER-UniBench; default: ``metrics``),
    coverage and samples."""

    checkpoint: Checkpoint
    metrics: dict[str, float]
    n_scored: int
    n_expected: int
    raw: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.raw:
            self.raw = dict(self.metrics)


@dataclass
class Group:
    """A block of rows scored on one run: every checkpoint of it, and the metric that picks the best one."""

    key: str
    label: str
    main: str
    headline: tuple[Headline, ...]
    scored: list[Scored]

    @property
    def best(self) -> Scored:
        """``np.argmax`` over checkpoints of the main metric: first maximum wins, NaN counts as the maximum."""
        import numpy as np

        return self.scored[int(np.argmax([s.metrics[self.main] for s in self.scored]))]

    @property
    def last(self) -> Scored:
        return self.scored[-1]


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: everything ``emox eval NAME`` needs to know about it, in one place."""

    name: str
    title: str
    protocol: str  # bumped whenever a change could move a number
    unit: str
    tasks: tuple[str, ...]  # the emox tasks whose JSONL lines it scores
    paper: Mapping[str, float]  # Nano-EmoX paper numbers by Headline.paper_key
    run: Callable[[Context], list[Group]]
    options: tuple[Option, ...] = ()
    references: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # other papers' rows
    summary: Callable[[list[Group]], list[dict[str, Any]]] | None = None  # extra rows (e.g. a mean)
    ground_truth_help: str = ""


@dataclass
class JudgeOptions:
    """How to reach the LLM of a judged step (``--judge`` and friends)."""

    url: str | None = None
    model: str | None = None
    key_env: str = "OPENAI_API_KEY"
    concurrency: int = 8
    timeout: float = 120.0
    retries: int = 4
    seed: int | None = None
    cache_dir: Path | None = None
    batch_size: int = 8
    progress: bool = True
    on_failure: str = "stop"


@dataclass
class Context:
    """Everything a driver may read: the paths, its option values, the checkpoint selection and the judge.

    It also collects what the report must say about how the result was made: warnings, the files read
    (hashed into the provenance) and the judges used.
    """

    benchmark: Benchmark
    predictions: Path
    ground_truth: Path | None
    values: dict[str, Any]
    checkpoints: str | None = None
    skip: int = 1
    judge: JudgeOptions = field(default_factory=JudgeOptions)
    out_dir: Path | None = None
    warnings: list[str] = field(default_factory=list)
    files: dict[str, list[Path]] = field(default_factory=lambda: {"predictions": [], "ground_truth": []})
    judges: list[dict[str, Any]] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)  # protocol settings a driver reports (tables used, ...)
    _backends: dict[tuple[str, Settings], ChatBackend] = field(default_factory=dict)

    def option(self, name: str) -> Any:
        return self.values[name]

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def need_ground_truth(self, what: str) -> Path:
        if self.ground_truth is None:
            raise EmoxError(f"--ground-truth: required ({what})")
        return self.ground_truth

    def used(self, kind: str, path: Path) -> Path:
        """Record a file the result depends on (its SHA-256 goes into the provenance)."""
        if path not in self.files[kind]:
            self.files[kind].append(path)
        return path

    def read_predictions(self, path: Path) -> Predictions:
        from emox_core.evaluation.readers import read_predictions

        return read_predictions(self.used("predictions", path), self.benchmark.tasks)

    def backend(self, default_model: str, settings: Settings, prompts: Mapping[str, str]) -> ChatBackend:
        """The LLM for a judged step (built once per model and settings); ``prompts`` are the templates it is
        asked with, hashed into the provenance."""
        from emox_core.evaluation.judge import Settings, make_backend

        judge = self.judge
        if not judge.url:
            raise EmoxError(
                f"--judge: {self.benchmark.name} needs an LLM for this step (an OpenAI-compatible URL such as "
                "http://127.0.0.1:8000/v1, or hf:MODEL for a local transformers model)"
            )
        if judge.seed is not None:
            settings = Settings(**{**settings.as_dict(), "seed": judge.seed})
        model = judge.model or default_model
        key = (model, settings)
        if key not in self._backends:
            cache = judge.cache_dir or user_cache_dir() / "judge"
            backend = make_backend(
                judge.url, model, settings, cache, judge.key_env, judge.concurrency, judge.timeout, judge.retries,
                batch_size=judge.batch_size, progress=judge.progress, on_failure=judge.on_failure,
            )
            self._backends[key] = backend
            digest = hashlib.sha256("\n\x00\n".join(prompts[k] for k in sorted(prompts)).encode("utf-8")).hexdigest()
            self.judges.append({"backend": backend, "prompts": sorted(prompts), "prompt_sha256": digest})
        return self._backends[key]


def need_option(value: Any, flag: str, what: str) -> Any:
    """A benchmark option that has no default and is needed now."""
    if value is None:
        raise EmoxError(f"{flag}: required ({what})")
    return value


def coverage_note(group_label: str, scored: Sequence[Scored]) -> list[str]:
    """Warnings for checkpoints that did not score every expected sample."""
    notes = []
    for item in scored:
        if item.n_scored < item.n_expected:
            where = f"{group_label} " if group_label else ""
            notes.append(
                f"{where}{item.checkpoint.name}: scored {item.n_scored} of {item.n_expected} ground-truth samples "
                f"({100 * item.n_scored / item.n_expected:.1f}% coverage)"
            )
    return notes
