"""One writer per output: an inter-process lock on a training output dir, a predictions file, the media
cache index.

The lock is an OS file lock (:mod:`filelock`: ``flock`` on Unix), so the kernel drops it when its holder
dies, even by ``kill -9``: there is never a stale lock to delete by hand. Beside it the holder leaves a small
``.owner`` note (pid, host, start time, command) that a refused second process quotes in its one-line error.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from emox_core.errors import EmoxError
from emox_core.fileio import atomic_write_json, new_file_mode

DIR_LOCK_NAME = ".emox.lock"


def lock_path_for(target: str | os.PathLike[str], directory: bool = False) -> Path:
    """Where the lock of ``target`` lives: ``DIR/.emox.lock`` for a directory, ``.NAME.lock`` beside a file."""
    target = Path(target)
    return target / DIR_LOCK_NAME if directory else target.with_name(f".{target.name}.lock")


def _owner_path(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + ".owner")


def describe_holder(lock_path: str | os.PathLike[str]) -> str:
    """Who holds the lock, from its owner note ("emox (pid 4242 on host gpu1, since ...: emox train ...)")."""
    try:
        owner = json.loads(_owner_path(Path(lock_path)).read_text(encoding="utf-8"))
        return (f"another emox process (pid {owner['pid']} on host {owner['host']}, since {owner['since']}: "
                f"{owner['command']})")
    except (OSError, ValueError, KeyError, TypeError):
        return "another emox process"  # the holder has not written its note yet


@contextlib.contextmanager
def exclusive(target: str | os.PathLike[str], what: str, *, directory: bool = False, wait_s: float = 0.0,
              hint: str = "") -> Iterator[None]:
    """Hold the inter-process lock of ``target`` (a file, or with ``directory`` a folder, created if
    missing) for the block.

    ``wait_s=0``: a second process is refused at once with a one-line EmoxError naming the holder
    (``what`` says what is locked, ``hint`` what to do); ``wait_s>0``: it waits that long first.
    """
    from filelock import FileLock, Timeout

    target = Path(target)
    lock_path = lock_path_for(target, directory)
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise EmoxError(f"{lock_path.parent}: exists and is not a directory") from None
    lock = FileLock(lock_path, mode=new_file_mode())
    try:
        lock.acquire(timeout=wait_s)
    except Timeout:
        waited = f" (waited {wait_s:.0f} s)" if wait_s else ""
        raise EmoxError(f"{target}: {what} is in use by {describe_holder(lock_path)}{waited}{hint}") from None
    owner = _owner_path(lock_path)
    try:
        with contextlib.suppress(OSError):  # the note is a courtesy; a full disk must not block the work
            atomic_write_json(owner, {
                "pid": os.getpid(), "host": socket.gethostname(),
                "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:200],
            }, indent=None)
        yield
    finally:
        with contextlib.suppress(OSError):
            owner.unlink()
        lock.release()
