"""Inference: ``emox infer`` on one raw clip, a manifest or a folder of clips, and the predictions JSONL
that ``emox eval --predictions`` reads (documented in ``docs/inference.md``)."""

from emox_core.inference.predict import (
    BatchReport,
    Prediction,
    PredictionsFile,
    clip_sample,
    extract_media,
    predict_clip,
    predict_folder,
    predict_manifest,
    predict_samples,
    read_history,
)
from emox_core.inference.runtime import (
    GenerationSettings,
    answer_streamer,
    load_for_inference,
    resolve_device,
    resolve_dtype,
)
from emox_core.inference.schema import PREDICTION_SCHEMA, validate_prediction

__all__ = [
    "PREDICTION_SCHEMA",
    "BatchReport",
    "GenerationSettings",
    "Prediction",
    "PredictionsFile",
    "answer_streamer",
    "clip_sample",
    "extract_media",
    "load_for_inference",
    "predict_clip",
    "predict_folder",
    "predict_manifest",
    "predict_samples",
    "read_history",
    "resolve_device",
    "resolve_dtype",
    "validate_prediction",
]
