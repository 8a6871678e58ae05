"""A run killed with SIGKILL after its first checkpoint and resumed continues exactly like an uninterrupted run
(same losses, same sampler order), and a half-written checkpoint never counts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.training.conftest import tiny_overrides

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "emox_cli.main", "train", "--recipe", "tiny/p2e-phase3", "--quiet", *args]


@pytest.mark.slow
def test_sigkill_then_resume_matches_uninterrupted(corpus: Path, feature_dir: Path, tmp_path: Path) -> None:
    from emox_core.training.logs import read_train_log
    from emox_core.training.recipe import load_recipe
    from emox_core.training.trainer import run_training

    extra = {"max_steps": 6, "save_every": 2, "save_total_limit": 5}
    killed_dir = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(_cli(*tiny_overrides(corpus, feature_dir, killed_dir, **extra)), cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while not (killed_dir / "checkpoint-2").is_dir():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.time() < deadline, "no checkpoint within 240 s"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed_dir / "checkpoint-6").exists(), "the run finished before it could be killed"
    assert not (killed_dir / "adapters.safetensors").exists()

    done = subprocess.run(_cli("--resume", *tiny_overrides(corpus, feature_dir, killed_dir, **extra)), cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]

    straight_dir = tmp_path / "straight"
    run_training(load_recipe("tiny/p2e-phase3", tiny_overrides(corpus, feature_dir, straight_dir, **extra)),
                 quiet=True)
    resumed, straight = read_train_log(killed_dir), read_train_log(straight_dir)
    assert [r["step"] for r in resumed] == [r["step"] for r in straight] == list(range(1, 7))
    assert [r["samples"] for r in resumed] == [r["samples"] for r in straight]
    assert [r["loss"] for r in resumed] == pytest.approx([r["loss"] for r in straight], rel=1e-5)
    assert [r["lr"] for r in resumed] == pytest.approx([r["lr"] for r in straight], rel=1e-9)
    assert not (killed_dir / ".staging").exists() or not any((killed_dir / ".staging").iterdir())


def test_resume_refusals(corpus: Path, feature_dir: Path, tmp_path: Path) -> None:
    from emox_core.errors import EmoxError
    from emox_core.training.recipe import load_recipe
    from emox_core.training.trainer import run_training

    recipe = load_recipe("tiny/p2e-phase3", tiny_overrides(corpus, feature_dir, tmp_path / "run"))
    with pytest.raises(EmoxError, match="no checkpoint"):
        run_training(recipe, resume=True, quiet=True)
    (tmp_path / "run" / "checkpoint-4").mkdir(parents=True)
    with pytest.raises(EmoxError, match="already holds a run"):
        run_training(recipe, quiet=True)
