"""Evaluation: one module per official protocol (emotion wheel, MER-UniBench, EMER, MIntRec, AvaMERG), the LLM
judge/extractor backend with its disk cache, readers for the official formats, and the report.

Entry point: :func:`emox_core.evaluation.run.evaluate_benchmark` (what ``emox eval`` calls). Modules are
imported lazily by the CLI so ``emox --help`` stays instant.
"""
