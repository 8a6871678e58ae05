"""Files and processes (issue 13): atomic writes honour the umask, one writer per output, errors of the
machine are one line."""

from __future__ import annotations

import errno
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from emox_core.errors import EmoxError
from emox_core.fileio import atomic_write_bytes, atomic_write_text, environment_error
from emox_core.locking import exclusive

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def umask() -> Iterator[None]:
    saved = os.umask(0o022)
    yield
    os.umask(saved)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_writes_get_the_mode_open_would_give(tmp_path: Path, umask: None, mask: int, mode: int) -> None:
    os.umask(mask)
    atomic_write_text(tmp_path / "recipe.yaml", "a: 1\n")
    atomic_write_bytes(tmp_path / "cache" / "entry.npz", b"x")
    with open(tmp_path / "plain.txt", "w") as handle:  # what every other program does
        handle.write("x")
    for name in ("recipe.yaml", "cache/entry.npz", "plain.txt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name


def test_replacing_a_file_keeps_its_mode(tmp_path: Path, umask: None) -> None:
    target = tmp_path / "manifest-train.jsonl"
    target.write_text("old\n")
    target.chmod(0o640)
    atomic_write_text(target, "new\n")
    assert target.read_text() == "new\n" and stat.S_IMODE(target.stat().st_mode) == 0o640


def test_a_write_failing_at_fsync_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(_: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as caught:
        atomic_write_text(tmp_path / "stats.json", "{}")
    assert caught.value.filename == str(tmp_path / "stats.json") and caught.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []  # no temp file left behind


HOLDER = textwrap.dedent("""
    import sys, time
    from emox_core.locking import exclusive
    with exclusive(sys.argv[1], "test output", directory=sys.argv[2] == "dir"):
        print("held", flush=True)
        time.sleep(120)
""")


def hold_lock(target: Path, directory: bool = False) -> subprocess.Popen[str]:
    """Another process holding ``target``'s lock (as a running emox would); returns once it holds it."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(target), "dir" if directory else "file"],
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_writer_is_refused_naming_the_holder(tmp_path: Path) -> None:
    holder = hold_lock(tmp_path / "preds.jsonl")
    try:
        with pytest.raises(EmoxError) as caught, exclusive(tmp_path / "preds.jsonl", "predictions file"):
            pass
        message = str(caught.value)
        assert f"pid {holder.pid} on host {socket.gethostname()}" in message and "\n" not in message
        assert message.startswith(f"{tmp_path / 'preds.jsonl'}: predictions file is in use by another emox process")
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    holder = hold_lock(tmp_path / "run", directory=True)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with exclusive(tmp_path / "run", "training output dir", directory=True):
        assert (tmp_path / "run" / ".emox.lock").exists()


def test_environment_errors_are_one_line_and_bugs_are_not_hidden(tmp_path: Path) -> None:
    full = environment_error(OSError(errno.ENOSPC, "No space left on device", "/data/out/model.safetensors"))
    assert str(full) == "/data/out/model.safetensors: No space left on device; free some space, then rerun"
    unnamed = environment_error(OSError(errno.EDQUOT, "Disk quota exceeded"), "runs/p3")
    assert str(unnamed).startswith("runs/p3: Disk quota exceeded")
    hidden = RuntimeError("Error while serializing: IoError(Os { code: 28, kind: StorageFull, "
                          "message: \"No space left on device\" })")  # how safetensors reports it
    assert str(environment_error(hidden, "runs/p3")).startswith("runs/p3: write failed (")
    assert environment_error(FileNotFoundError(errno.ENOENT, "No such file", "x")) is None  # a bug: traceback
    assert environment_error(ValueError("bad")) is None


def test_cli_prints_a_full_disk_as_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A command that writes (here a dataset manifest) on a full disk: one line naming the file, exit 1."""
    from emox_cli.main import main

    root = tmp_path / "raw"
    (root / "AudioWAV").mkdir(parents=True)
    from emox_core.media.synthesize import synthetic_waveform, write_wav

    write_wav(root / "AudioWAV" / "1001_DFA_ANG_XX.wav", synthetic_waveform(0.2))

    def full(_: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(SystemExit) as caught:
        main(["prepare", "crema-d", str(root), str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert caught.value.code == 1
    assert err.startswith("emox: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert "manifest-" in err and "No space left on device; free some space, then rerun" in err
