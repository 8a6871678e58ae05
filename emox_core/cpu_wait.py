"""How torch's CPU threads wait between operations: a choice for the whole process, made before torch loads.

torch's OpenMP threads (libgomp in the Linux wheels) either sleep as soon as an operation ends (``passive``) or
busy-wait for the next one for a few milliseconds first (``spin``: libgomp's default, about 300,000 spins).
Neither is right everywhere. Measured on this project's 2-core machine (the 2.2B model in bf16, ``predict_clip``
on one 6-s clip, 32 new tokens, separate processes in turn):

- alone on the machine: spin 6.67-7.08 s, passive 7.60-7.91 s (spin 1.14x faster; a decoding step 147 ms
  against 172 ms: a step is some 2,000 short operations, and a thread that slept takes a while to wake);
- beside one process busy on a core: spin 35.5-39.2 s, passive 12.8-13.4 s (passive about 3x faster: a spinning
  thread holds the core the other thread is waiting for). Training steps of ``emox demo`` were up to 6x
  slower with libgomp's default.

Fewer spins do not get both: 100,000 matched the default alone and took 30.2-31.2 s beside the busy process;
10,000 and 3,000 were 7.2 and 7.9 s alone, 15.7 and 13.9 s beside it. ``passive`` is the default (a slower
answer, never a collapse); ``spin`` is for a machine that runs nothing else (``docs/inference.md``). libgomp
reads the setting once, when torch loads it: :func:`set_cpu_wait` must run before ``import torch`` to have any effect.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

CPU_WAITS = ("passive", "spin")
# The OpenMP variables that decide it: the standard policy, and libgomp's spin count (which overrides it).
_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def cpu_wait_environment(wait: str | None, environ: MutableMapping[str, str]) -> dict[str, str]:
    """``environ`` with the OpenMP variables for ``wait``: ``passive`` (OMP_WAIT_POLICY=PASSIVE), ``spin``
    (neither variable: libgomp's default), or None: the user's own OMP_WAIT_POLICY / GOMP_SPINCOUNT if either is
    set, else passive."""
    if wait is not None and wait not in CPU_WAITS:
        raise ValueError(f"cpu wait {wait!r}: expected one of {', '.join(CPU_WAITS)}")
    env = dict(environ)
    if wait is None and any(name in env for name in _VARIABLES):
        return env
    for name in _VARIABLES:
        env.pop(name, None)
    if wait != "spin":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env


def set_cpu_wait(wait: str | None, environ: MutableMapping[str, str] = os.environ) -> None:
    """Apply :func:`cpu_wait_environment` to ``environ`` (this process's by default; before torch loads)."""
    wanted = cpu_wait_environment(wait, environ)
    for name in _VARIABLES:
        if name in wanted:
            environ[name] = wanted[name]
        else:
            environ.pop(name, None)


def describe_cpu_wait(environ: MutableMapping[str, str] = os.environ) -> str:
    """The wait ``environ`` sets, in words (for a benchmark's header)."""
    settings = [f"{name}={environ[name]}" for name in _VARIABLES if name in environ]
    if settings == ["OMP_WAIT_POLICY=PASSIVE"]:
        return "passive (OMP_WAIT_POLICY=PASSIVE)"
    return ", ".join(settings) if settings else "spin (libgomp's default)"
