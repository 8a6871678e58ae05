"""Every file emox writes goes through here (atomic: temp file + rename), and every path a user
gives is checked here, so a crash never leaves a half-written file and a bad path gets a clear error.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from emox_core.errors import EmoxError


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Open a temp file beside ``path``; on success fsync and rename it over ``path``.

    On an exception the temp file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    binary = "b" in mode
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_write_json(path: str | os.PathLike[str], obj: Any, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def require_file(path: str | os.PathLike[str], what: str = "file") -> Path:
    """Return ``path`` as a Path if it is an existing regular file, else raise a one-line EmoxError."""
    p = Path(path)
    if not p.exists():
        raise EmoxError(f"{p}: {what} not found")
    if not p.is_file():
        raise EmoxError(f"{p}: {what} is not a regular file")
    return p


def require_dir(path: str | os.PathLike[str], what: str = "directory") -> Path:
    p = Path(path)
    if not p.is_dir():
        raise EmoxError(f"{p}: {what} not found or not a directory")
    return p


def resolve_under(root: str | os.PathLike[str], relative: str, source: str = "") -> Path:
    """Resolve a path from a dataset file against ``root``, refusing absolute paths and ``..`` escapes.

    ``source`` names where the path came from (file and record) for the error message.
    """
    where = f"{source}: " if source else ""
    if not relative:
        raise EmoxError(f"{where}empty media path")
    if os.path.isabs(relative) or relative.startswith(("~", "\\")):
        raise EmoxError(f"{where}path {relative!r} is absolute; paths must be relative to the data root")
    root_resolved = Path(root).resolve()
    candidate = (root_resolved / relative).resolve()
    if candidate != root_resolved and root_resolved not in candidate.parents:
        raise EmoxError(f"{where}path {relative!r} escapes the data root {root_resolved}")
    return candidate
