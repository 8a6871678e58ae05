"""A run killed with SIGKILL after its first checkpoint and resumed continues exactly like an uninterrupted run
(same losses, same sampler order, same questions), a half-written checkpoint never counts, and a run killed
before its first checkpoint was complete is no dead end."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.training.conftest import tiny_overrides, write_task_manifest

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "emox_cli.main", "train", "--recipe", "tiny/p2e-phase3", "--quiet", *args]


@pytest.mark.slow
def test_sigkill_then_resume_matches_uninterrupted(corpus: Path, feature_dir: Path, tmp_path: Path) -> None:
    from emox_core.training.logs import read_train_log
    from emox_core.training.recipe import load_recipe
    from emox_core.training.trainer import run_training

    # a second source of OV-MER samples over the same clips: five training questions, drawn per sample
    ov = write_task_manifest(corpus, "OV-MER", "ov-mer.jsonl")
    extra = {"max_samples": 24, "save_every": 2, "save_total_limit": 5, "data.ov.manifest": str(ov),
             "data.ov.data_root": str(corpus), "data.ov.weight": 1}
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
    assert [r["questions"] for r in resumed] == [r["questions"] for r in straight]
    assert len({q for r in straight for q in r["questions"]}) > 1, "OV-MER draws ask several questions"
    assert [r["loss"] for r in resumed] == pytest.approx([r["loss"] for r in straight], rel=1e-5)
    assert [r["lr"] for r in resumed] == pytest.approx([r["lr"] for r in straight], rel=1e-9)
    assert not (killed_dir / ".staging").exists() or not any((killed_dir / ".staging").iterdir())


def _dead_end(finished: Path, target: Path) -> None:
    """What SIGKILL during the write of the first checkpoint leaves: the recipe, the log of the steps done
    (its last line cut short) and a half-written ``.staging/checkpoint-2``; built from a finished run's files."""
    from emox_core.training.logs import TRAIN_LOG

    target.mkdir()
    shutil.copy(finished / "recipe.yaml", target / "recipe.yaml")
    lines = (finished / TRAIN_LOG).read_text().splitlines(keepends=True)
    (target / TRAIN_LOG).write_text("".join(lines[:2]) + lines[2][:17])
    staged = target / ".staging" / "checkpoint-2"
    shutil.copytree(finished / "checkpoint-2", staged)
    for name in ("sampler.json", "trainer_state.json", "optimizer.pt"):
        (staged / name).unlink(missing_ok=True)


def test_killed_while_writing_the_first_checkpoint_is_no_dead_end(corpus: Path, feature_dir: Path,
                                                                 tmp_path: Path) -> None:
    from emox_core.training.logs import read_train_log
    from emox_core.training.recipe import load_recipe
    from emox_core.training.trainer import run_training

    extra = {"max_samples": 16, "save_every": 2, "save_total_limit": 5}
    straight = tmp_path / "straight"
    run_training(load_recipe("tiny/p2e-phase3", tiny_overrides(corpus, feature_dir, straight, **extra)), quiet=True)
    expected = read_train_log(straight)
    for resume in (True, False):  # --resume starts from scratch; so does a plain rerun
        out = tmp_path / f"dead-end-resume-{resume}"
        _dead_end(straight, out)
        run_training(load_recipe("tiny/p2e-phase3", tiny_overrides(corpus, feature_dir, out, **extra)),
                     resume=resume, quiet=True)
        log = read_train_log(out)
        assert [r["step"] for r in log] == [1, 2, 3, 4]
        assert [r["samples"] for r in log] == [r["samples"] for r in expected]
        assert [r["loss"] for r in log] == pytest.approx([r["loss"] for r in expected], rel=1e-5)
        assert (out / "adapters.safetensors").is_file() and (out / "checkpoint-4" / "sampler.json").is_file()
        assert not (out / ".staging").exists() or not any((out / ".staging").iterdir())


def test_resume_refusals(corpus: Path, feature_dir: Path, tmp_path: Path) -> None:
    from emox_core.errors import EmoxError
    from emox_core.training.recipe import load_recipe
    from emox_core.training.trainer import run_training

    recipe = load_recipe("tiny/p2e-phase3", tiny_overrides(corpus, feature_dir, tmp_path / "run"))
    run_training(recipe, quiet=True)
    with pytest.raises(EmoxError, match="already holds a run"):
        run_training(recipe, quiet=True)
    shutil.rmtree(tmp_path / "run" / "checkpoint-2")  # the final weights alone: nothing to continue from
    with pytest.raises(EmoxError, match="finished without checkpoints"):
        run_training(recipe, resume=True, quiet=True)
    with pytest.raises(EmoxError, match="already holds a run"):
        run_training(recipe, quiet=True)
    other = load_recipe("tiny/p2e-phase3", tiny_overrides(corpus, feature_dir, tmp_path / "other"))
    (tmp_path / "other" / "checkpoint-4").mkdir(parents=True)
    with pytest.raises(EmoxError, match="already holds a run"):
        run_training(other, quiet=True)
