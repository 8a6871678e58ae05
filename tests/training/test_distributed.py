"""``torchrun --nproc_per_node 2`` (gloo on CPU) trains the tiny preset through the same ``emox train``, and
its checkpoints load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.training.conftest import tiny_overrides

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_torchrun_two_processes(corpus: Path, feature_dir: Path, tmp_path: Path) -> None:
    from emox_core.training.checkpoint import load_trained
    from emox_core.training.logs import read_train_log

    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "emox_cli.main", "train", "--recipe", "tiny/p2e-phase3", "--quiet",
           *tiny_overrides(corpus, feature_dir, out, max_samples=16, save_every=2)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    checkpoint = out / "checkpoint-2"
    assert {"rng_state_0.pth", "rng_state_1.pth", "sampler.json", "adapters.safetensors"} <= {
        p.name for p in checkpoint.iterdir()}
    # 16 samples = 2 steps of 2 processes x batch 2 x accumulation 2; rank 0 logs its half of each step
    assert [len(r["samples"]) for r in read_train_log(out)] == [4, 4]
    assert json.loads((checkpoint / "sampler.json").read_text())["num_samples"] == 2 * 2 * 2 * 2  # world 2
    for directory in (checkpoint, out):
        model, _, recipe = load_trained(directory)
        assert recipe.phase == "3" and model.config.use_lora
