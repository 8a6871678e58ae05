"""The ``evaluate`` modules give the same numbers as the pure functions, offline."""

from __future__ import annotations

import pytest

from emox_core.evaluation.evaluate_metrics import make_metric


def test_evaluate_modules(wheel_dir):
    intent = make_metric("mintrec")
    assert intent.compute(predictions=["Inform", "Praise"], references=["Inform", "Thank"])["accuracy"] == 50.0
    senti = make_metric("mer-sentiment").compute(predictions=["positive", "neutral"], references=[1.0, -2.0])
    assert senti["waf"] == 1.0
    hits = make_metric("mer-hit-rate").compute(
        predictions=["[joyful]", "[]"], references=["happy", "sad"], wheels_dir=str(wheel_dir)
    )
    assert hits["hit_rate"] == pytest.approx(0.5)
    dist = make_metric("avamerg-dist").compute(predictions=["a b a b", "c d"])
    assert dist["dist1"] == 75.0
