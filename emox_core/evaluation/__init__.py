"""Evaluation: one module per benchmark (:mod:`emox_core.evaluation.benchmarks`, found by
:mod:`~emox_core.evaluation.registry`), the shared pieces they use (emotion wheel, LLM judge backend with its
disk cache, readers, ground-truth and checkpoint discovery, the official checkpoint-range protocol) and the
report (table, metrics.json with provenance, charts).

Entry point: :func:`emox_core.evaluation.run.evaluate_benchmark` (what ``emox eval`` calls). Heavy libraries are
imported inside functions, so ``emox --help`` stays instant.
"""
