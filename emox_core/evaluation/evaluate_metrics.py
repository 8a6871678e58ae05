"""The protocols that Hugging Face ``evaluate`` can express, as in-process ``evaluate.Metric`` modules.

They wrap the pure functions of this package (no second implementation) and load nothing from a hub:
``make_metric("mintrec")`` builds the module locally. ``evaluate`` costs seconds to import, so it is imported
only here, lazily.

Not expressed as modules, and why:
* EMER Clue/Label Overlap: each score needs several LLM judge calls; a Metric's ``compute`` has no place for a
  backend, a cache or retries, so it stays :mod:`emox_core.evaluation.emer`.
* The MER-UniBench LLM step (free text -> label list -> sentiment): same reason. The modules below take the
  label lists / sentiment words that step produces.
"""

from __future__ import annotations

from typing import Any

from emox_core.errors import EmoxError

_CITATION = "Nano-EmoX (CVPR 2026); AffectGPT (ICML 2025); MIntRec (MM 2022); E3RG (MM 2025)"
METRICS = ("mintrec", "mintrec2", "mer-sentiment", "mer-hit-rate", "ov-emotion-wheel", "avamerg-dist")


def make_metric(name: str) -> Any:
    """An ``evaluate.Metric`` for one protocol (see :data:`METRICS`)."""
    import datasets
    import evaluate

    from emox_core.evaluation import avamerg, mer_unibench, mintrec
    from emox_core.evaluation.emotion_wheel import EmotionWheels, hit_rate, overlap_prf

    text_pair = datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")})

    def indexed(predictions: list[str], references: list[Any]) -> tuple[dict[str, Any], dict[str, str]]:
        return ({str(i): r for i, r in enumerate(references)}, {str(i): p for i, p in enumerate(predictions)})

    class _Metric(evaluate.Metric):
        features = text_pair
        description = ""

        def _info(self) -> Any:
            return evaluate.MetricInfo(
                description=self.description,
                citation=_CITATION,
                inputs_description="predictions and references",
                features=self.features,
            )

    class Intent(_Metric):
        description = "MIntRec/MIntRec2.0 Acc, weighted F1, weighted precision (exact or MMLA matching)"

        def _compute(self, predictions: list[str], references: list[str], mode: str = "exact") -> dict[str, Any]:
            gt, pred = indexed(predictions, references)
            out = mintrec.intent_scores(gt, pred, mintrec.LABELS[name], mode)
            return {k: out[k] for k in ("accuracy", "wf1", "wp")}

    class Sentiment(_Metric):
        description = "MER-UniBench sentiment WAF/accuracy (gt valence vs positive/negative/neutral word)"
        features = datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("float64")})

        def _compute(self, predictions: list[str], references: list[float]) -> dict[str, Any]:
            gt, pred = indexed(predictions, references)
            out = mer_unibench.sentiment_scores(gt, pred)
            return {"waf": out["waf"], "accuracy": out["accuracy"]}

    class Wheel(_Metric):
        description = "MER-UniBench emotion-wheel hit rate / OV precision-recall-F (label lists as strings)"

        def _compute(self, predictions: list[str], references: list[str], wheels_dir: str = "") -> dict[str, Any]:
            if not wheels_dir:
                raise EmoxError("wheels_dir: the folder with wheel1..5.xlsx, synonym.xlsx, format.csv is required")
            gt, pred = indexed(predictions, references)
            wheels = EmotionWheels.load(wheels_dir)
            out = hit_rate(gt, pred, wheels) if name == "mer-hit-rate" else overlap_prf(gt, pred, wheels)
            return {k: v for k, v in out.items() if k != "per_wheel"}

    class Distinct(_Metric):
        description = "AvaMERG Dist-1/Dist-2 (per-response as Nano-EmoX/E3RG, or corpus-level as Li et al.)"
        features = datasets.Features({"predictions": datasets.Value("string")})

        def _compute(self, predictions: list[str], mode: str = "per-response") -> dict[str, Any]:
            return {
                "dist1": avamerg.distinct_n(predictions, 1, mode),
                "dist2": avamerg.distinct_n(predictions, 2, mode),
            }

    classes = {
        "mintrec": Intent,
        "mintrec2": Intent,
        "mer-sentiment": Sentiment,
        "mer-hit-rate": Wheel,
        "ov-emotion-wheel": Wheel,
        "avamerg-dist": Distinct,
    }
    if name not in classes:
        raise EmoxError(f"unknown metric {name!r}: choose one of {', '.join(METRICS)}")
    return classes[name]()
