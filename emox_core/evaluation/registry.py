"""Every benchmark ``emox eval`` knows, found in :mod:`emox_core.evaluation.benchmarks` (one module each)."""

from __future__ import annotations

import functools
import importlib
import pkgutil

from emox_core.errors import EmoxError
from emox_core.evaluation import benchmarks as _package
from emox_core.evaluation.base import Benchmark, Option


@functools.cache
def benchmarks() -> dict[str, Benchmark]:
    """name -> benchmark, from every module of the benchmarks package (modules import nothing heavy)."""
    found: dict[str, Benchmark] = {}
    for info in sorted(pkgutil.iter_modules(_package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{_package.__name__}.{info.name}")
        for bench in getattr(module, "BENCHMARKS", ()):
            if bench.name in found:
                raise RuntimeError(f"benchmark {bench.name!r} is defined twice")
            found[bench.name] = bench
    return found


def get(name: str) -> Benchmark:
    key = name.strip().lower().replace("_", "-")
    table = benchmarks()
    if key not in table:
        raise EmoxError(f"unknown benchmark {name!r}: choose one of {', '.join(table)}")
    return table[key]


@functools.cache
def options() -> dict[str, tuple[Option, tuple[str, ...]]]:
    """Every benchmark option by name, with the benchmarks that take it. An option two benchmarks share must be
    the same object (define it once, as :data:`~emox_core.evaluation.base.NORMALIZE`)."""
    merged: dict[str, tuple[Option, tuple[str, ...]]] = {}
    for bench in benchmarks().values():
        for option in bench.options:
            if option.name in merged and merged[option.name][0] != option:
                raise RuntimeError(f"option {option.flag} is defined differently by two benchmarks")
            users = merged.get(option.name, (option, ()))[1]
            merged[option.name] = (option, (*users, bench.name))
    return merged
