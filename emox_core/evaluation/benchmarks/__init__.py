"""One module per benchmark; each holds its ``BENCHMARKS`` (see :class:`emox_core.evaluation.base.Benchmark`).

Adding a benchmark is adding a module here (and its tests): :mod:`emox_core.evaluation.registry` finds it, and
``emox eval`` takes its name, options and help from it.
"""
