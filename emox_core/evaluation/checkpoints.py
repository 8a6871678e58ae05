"""The official checkpoint-range protocol: which saved checkpoints are scored, and which one is reported.

Sources: waHAHJIAHAO/Nano-EmoX @ b08f985 ``inference_hybird.py`` ``get_ckpt3_candidates`` (``test_epochs=a-b``
with ``skip_epoch=s`` runs every epoch ``e`` in ``a..b`` with ``e % s == 0``; an epoch without a checkpoint is an
error) and ``evaluation-scoreonly.py`` / zeroQiaoba/AffectGPT @ fffca794 ``evaluation-scoreonly.py``
``main_zeroshot_scores`` (every ``*.npz`` of the run folder in sorted name order, the epoch read as
``int(name.split('_')[1])``, an optional comma list ``test_epochs``; the reported number is ``np.argmax`` of
the main metric, so the first maximum wins and a NaN counts as the maximum).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from emox_core.errors import EmoxError

_NUMBER = re.compile(r"checkpoint[-_]?0*(\d+)", re.IGNORECASE)
_RUN_STAMP = re.compile(r"^(.*?)(\d{11})$")


@dataclass(frozen=True)
class Checkpoint:
    """One predictions file of a run; ``number`` is the epoch/step in its name (None: not a checkpoint file)."""

    path: Path
    number: int | None

    @property
    def name(self) -> str:
        return self.path.name


def checkpoint_number(name: str) -> int | None:
    """``checkpoint_000060_loss_0.480.npz`` -> 60 (official), ``checkpoint-60.jsonl`` -> 60 (emox train),
    ``omniaffect_epochcheckpoint_000050_loss_0.297.csv`` -> 50 (official EMER csv); None without one."""
    match = _NUMBER.search(name)
    return int(match.group(1)) if match else None


def run_group(path: Path) -> str:
    """The run a file belongs to: its name with the checkpoint part cut (``omniaffect_epochcheckpoint_...`` ->
    ``omniaffect``), or its stem when it is not a checkpoint file."""
    match = _NUMBER.search(path.name)
    if match is None:
        return path.name.split(".", 1)[0]
    prefix = path.name[: match.start()].rstrip("_-")
    return prefix.removesuffix("epoch").rstrip("_-") or path.parent.name


def order(checkpoints: Sequence[Checkpoint]) -> list[Checkpoint]:
    """Numbered checkpoints by number (= the official sorted zero-padded names), then the others by name."""
    return sorted(checkpoints, key=lambda c: (c.number is None, c.number or 0, c.name))


def parse_range(spec: str, skip: int = 1) -> tuple[list[int] | None, str]:
    """``30-60`` (with ``skip``: the numbers in 30..60 divisible by it), ``40,45,50`` (exactly these), ``last``;
    returns (numbers or None for "last", a description for the report)."""
    if skip < 1:
        raise EmoxError(f"--skip {skip}: must be >= 1")
    text = spec.strip().lower()
    if text == "last":
        return None, "last"
    if re.fullmatch(r"\d+\s*-\s*\d+", text):
        start, end = (int(x) for x in text.split("-"))
        if start > end:
            raise EmoxError(f"--checkpoints {spec}: the range is empty (start > end)")
        numbers = [n for n in range(start, end + 1) if n % skip == 0]
        if not numbers:
            raise EmoxError(f"--checkpoints {spec} --skip {skip}: no number in the range is a multiple of {skip}")
        return numbers, f"{start}-{end}, every number divisible by {skip}"
    if re.fullmatch(r"\d+(\s*,\s*\d+)*", text):
        return [int(x) for x in text.split(",")], f"exactly {text.replace(' ', '')}"
    raise EmoxError(f"--checkpoints {spec!r}: expected a range like 30-60, a list like 40,45,50, or 'last'")


def select(checkpoints: Sequence[Checkpoint], spec: str | None, skip: int = 1, where: str = "") -> list[Checkpoint]:
    """The checkpoints to score: all of them without ``spec``; else the range/list/last of :func:`parse_range`.
    A number the range asks for that has no file is an error, as the official assertion."""
    ordered = order(checkpoints)
    if spec is None:
        return ordered
    numbers, _ = parse_range(spec, skip)
    numbered = [c for c in ordered if c.number is not None]
    label = f"{where}: " if where else ""
    if not numbered:
        names = ", ".join(c.name for c in ordered[:3])
        raise EmoxError(f"{label}--checkpoints {spec}: no checkpoint-numbered predictions file (found {names})")
    if numbers is None:
        return [numbered[-1]]
    by_number: dict[int, list[Checkpoint]] = {}
    for ckpt in numbered:
        by_number.setdefault(ckpt.number or 0, []).append(ckpt)
    missing = [n for n in numbers if n not in by_number]
    if missing:
        have = ", ".join(str(n) for n in by_number)
        raise EmoxError(f"{label}--checkpoints {spec}: no predictions for checkpoint {missing[0]} (found: {have})")
    doubled = next((n for n in numbers if len(by_number[n]) > 1), None)
    if doubled is not None:
        names = ", ".join(c.name for c in by_number[doubled])
        raise EmoxError(f"{label}checkpoint {doubled} has several predictions files ({names})")
    return [by_number[n][0] for n in numbers]


def latest_run(runs: Sequence[Path], where: Path) -> Path:
    """One run folder among several, as Nano-EmoX ``search_for_result_root`` picks it: the largest 11-digit
    timestamp suffix, when every folder shares the prefix; otherwise the user must name one."""
    if len(runs) == 1:
        return runs[0]
    stamps = [_RUN_STAMP.match(r.name) for r in runs]
    if all(stamps) and len({m.group(1) for m in stamps if m}) == 1:
        return max(runs, key=lambda r: int(_RUN_STAMP.match(r.name).group(2)))  # type: ignore[union-attr]
    names = ", ".join(r.name for r in sorted(runs)[:6])
    raise EmoxError(f"{where}: several runs ({names}); pass the folder of one run as --predictions")
