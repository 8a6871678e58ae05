"""One run per training output dir, and a full disk during training is one line (issue 13)."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

import pytest

from tests.test_reliability import hold_lock
from tests.training.conftest import tiny_overrides


def _train(*overrides: str) -> int:
    from emox_cli.main import main

    try:
        main(["train", "--recipe", "tiny/p2e-phase3", "--quiet", *overrides])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_a_second_run_into_the_same_output_dir_is_refused(corpus: Path, feature_dir: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "run"
    holder = hold_lock(output, directory=True)  # an `emox train` already writing there
    try:
        code = _train(*tiny_overrides(corpus, feature_dir, output))
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    assert f"{output}: training output dir is in use by another emox process (pid {holder.pid} on host " \
           f"{socket.gethostname()}" in err
    assert not (output / "train_log.jsonl").exists() and not (output / "recipe.yaml").exists()


def test_disk_full_during_training_is_one_line(corpus: Path, feature_dir: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "run"
    real_fsync = os.fsync

    def full_output_volume(fd: int) -> None:  # writes into the output dir hit a full disk
        if os.readlink(f"/proc/self/fd/{fd}").startswith(str(output)):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full_output_volume)
    code = _train(*tiny_overrides(corpus, feature_dir, output))
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"emox: error: {output}/") and "No space left on device; free some space" in err
