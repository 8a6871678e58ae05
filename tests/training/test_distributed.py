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


def test_a_run_leaves_no_process_group_behind_even_when_it_fails(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A gloo group left to the interpreter's exit can abort a finished torchrun worker (SIGABRT): run_training
    destroys the group it ran in, on success and on an error (here: the recipe's backbones are missing)."""
    import torch.distributed as dist

    from emox_core.training.prerequisites import MissingPrerequisites
    from emox_core.training.recipe import load_recipe
    from emox_core.training.trainer import run_training

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        with pytest.raises(MissingPrerequisites):
            run_training(load_recipe("p2e-phase2"), quiet=True)
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
