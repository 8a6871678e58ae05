"""``--cpu-wait``: the OpenMP variables it sets, and that torch's OpenMP runtime reads them in a real ``emox`` run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from emox_core.cpu_wait import cpu_wait_environment, describe_cpu_wait, set_cpu_wait

REPO = Path(__file__).resolve().parents[1]


def test_each_wait_sets_the_openmp_variables() -> None:
    assert cpu_wait_environment(None, {"PATH": "/bin"}) == {"PATH": "/bin", "OMP_WAIT_POLICY": "PASSIVE"}
    assert cpu_wait_environment("spin", {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "0"}) == {}
    assert cpu_wait_environment("passive", {"GOMP_SPINCOUNT": "300000"}) == {"OMP_WAIT_POLICY": "PASSIVE"}
    for yours in ({"OMP_WAIT_POLICY": "ACTIVE"}, {"GOMP_SPINCOUNT": "1000"}):  # no option: the user's own
        assert cpu_wait_environment(None, yours) == yours
    with pytest.raises(ValueError, match="'fast': expected one of passive, spin"):
        cpu_wait_environment("fast", {})


def test_set_cpu_wait_changes_only_the_openmp_variables() -> None:
    environ = {"HOME": "/root", "OMP_WAIT_POLICY": "ACTIVE", "GOMP_SPINCOUNT": "10"}
    set_cpu_wait("passive", environ)
    assert environ == {"HOME": "/root", "OMP_WAIT_POLICY": "PASSIVE"}
    assert describe_cpu_wait(environ) == "passive (OMP_WAIT_POLICY=PASSIVE)"
    set_cpu_wait("spin", environ)
    assert environ == {"HOME": "/root"}
    assert describe_cpu_wait(environ) == "spin (libgomp's default)"
    assert describe_cpu_wait({"GOMP_SPINCOUNT": "10"}) == "GOMP_SPINCOUNT=10"


def _spin_count_torch_reads(*options: str) -> str:
    """libgomp's spin count as it prints it at start (OMP_DISPLAY_ENV) in an ``emox ... info`` process."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(OMP_DISPLAY_ENV="VERBOSE", HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, "-m", "emox_cli.main", *options, "info"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=True)
    found = re.search(r"GOMP_SPINCOUNT = '(\d+)'", done.stdout + done.stderr)
    if found is None:
        pytest.skip("torch's OpenMP runtime is not libgomp (no GOMP_SPINCOUNT among its settings)")
    return found.group(1)


def test_torch_threads_wait_as_the_option_says_in_a_real_run() -> None:
    assert _spin_count_torch_reads() == "0"  # passive: the default
    assert int(_spin_count_torch_reads("--cpu-wait", "spin")) > 0  # libgomp's default spinning
    assert _spin_count_torch_reads("--cpu-wait", "passive") == "0"
