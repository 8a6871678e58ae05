"""Every file emox writes goes through here (atomic: temp file + rename), and every path a user
gives is checked here, so a crash never leaves a half-written file and a bad path gets a clear error.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from emox_core.errors import EmoxError


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Open a temp file beside ``path``; on success fsync and rename it over ``path``.

    On an exception the temp file is removed and ``path`` is left as it was. The file gets the mode a
    plain ``open`` would give it (0666 minus the umask; an existing file keeps its mode), not the temp
    file's private 0600, so a lab's shared cache or dataset folder stays readable by the group. An
    OSError that names no file (a full disk seen at fsync) is re-raised naming ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    binary = "b" in mode
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _mode_for(path))
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None and exc.errno is not None:
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


def current_umask() -> int:
    """The process umask, read without changing it where Linux shows it (``/proc/self/status``)."""
    with contextlib.suppress(OSError, ValueError, StopIteration), open("/proc/self/status", encoding="ascii") as status:
        return int(next(line for line in status if line.startswith("Umask:")).split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: the only portable read is a set-and-restore
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """The permission bits ``open()`` gives a new file: 0666 minus the umask (0644 by default)."""
    return 0o666 & ~current_umask()


def _mode_for(path: Path) -> int:
    """Keep the permission bits of the file being replaced; a new file gets :func:`new_file_mode`."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return new_file_mode()


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



def user_cache_dir() -> Path:
    """emox's cache folder: $EMOX_CACHE_DIR, else $XDG_CACHE_HOME/emox, else ~/.cache/emox."""
    if os.environ.get("EMOX_CACHE_DIR"):
        return Path(os.environ["EMOX_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "emox"

# The machine's errors, not the input's: disk full, quota, read-only or failing disk, too many open files,
# no memory, no permission. A batch job stops on them (rerunning later helps) instead of blaming one item.
ENVIRONMENT_ERRNOS = frozenset(
    getattr(errno, name) for name in (
        "ENOSPC", "EDQUOT", "EFBIG", "EROFS", "EIO", "EMFILE", "ENFILE", "ENOMEM", "EACCES", "EPERM", "ESTALE",
        "ETIMEDOUT", "EAGAIN", "EINTR",
    ) if hasattr(errno, name)
)
_DISK_FULL_ERRNOS = frozenset(getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EFBIG") if hasattr(errno, name))
# How libraries that hide the OSError (safetensors, torch.save) word a failed write.
_DISK_FULL_TEXT = ("No space left on device", "Disk quota exceeded", "file write failed")


def environment_error(exc: BaseException, where: str | os.PathLike[str] | None = None) -> EmoxError | None:
    """A one-line EmoxError for an error of the machine (see :data:`ENVIRONMENT_ERRNOS`), naming the file
    (else ``where``); None for anything else, which is a bug and keeps its traceback."""
    if isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS:
        name = exc.filename if exc.filename is not None else where
        reason = exc.strerror or os.strerror(exc.errno)
        full = exc.errno in _DISK_FULL_ERRNOS
    elif where is not None and any(text in str(exc) for text in _DISK_FULL_TEXT):
        name, full = where, True
        reason = f"write failed ({' '.join(str(exc).split())[-160:]})"
    else:
        return None
    prefix = f"{name}: " if name is not None else ""
    return EmoxError(f"{prefix}{reason}; {'free some space' if full else 'fix this'}, then rerun")
