"""The predictions record: one JSON object per clip, written by ``emox infer`` (a line of ``preds.jsonl``,
or the whole output of ``emox infer --json``) and read by ``emox eval --predictions``.

:data:`PREDICTION_SCHEMA` is a JSON Schema (draft 2020-12) so other tools can check our files;
:func:`validate_prediction` checks the same rules without a jsonschema dependency. Documented in
``docs/inference.md``; bump :data:`PREDICTION_SCHEMA_VERSION` on any incompatible change.
"""

from __future__ import annotations

import copy
from typing import Any

from emox_core.tasks import TASK_NAMES, task_names

PREDICTION_SCHEMA_VERSION = 1

_STRING_OR_NULL = {"type": ["string", "null"]}
PREDICTION_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://github.com/emox/emox/docs/inference.md#prediction-v1",
    "title": "emox prediction",
    "type": "object",
    "required": ["id", "task", "prediction", "label", "labels", "thinking", "reply", "dataset", "model",
                 "generation"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "task": {"enum": list(TASK_NAMES)},
        "prediction": {"type": "string"},
        "label": _STRING_OR_NULL,
        "labels": {"type": "array", "items": {"type": "string"}},
        "thinking": _STRING_OR_NULL,
        "reply": _STRING_OR_NULL,
        "dataset": _STRING_OR_NULL,
        "model": {"type": "string"},
        "generation": {"type": "object"},
        "media": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "missing": {"type": "array", "items": {"enum": ["video", "audio", "face"]}},
                "video_seconds": {"type": "number"},
                "audio_seconds": {"type": "number"},
            },
        },
        # Optional (emox infer on one clip, emox app): what the answer was based on (emox_core.inference.explain).
        "modalities": {
            "type": "object",
            "additionalProperties": False,
            "required": ["frames", "audio", "face", "fusion"],
            "properties": {name: {"type": "boolean"} for name in ("frames", "audio", "face", "fusion")},
        },
        "fusion_gate": {
            "type": ["array", "null"],
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["expert", "speech_layer", "vision_layer", "weight"],
                "properties": {
                    "expert": {"type": "integer", "minimum": 0},
                    "speech_layer": {"type": "integer", "minimum": 0},
                    "vision_layer": {"type": "integer", "minimum": 0},
                    "weight": {"type": "number", "minimum": 0, "maximum": 1},
                },
            },
        },
    },
}


def prediction_schema() -> dict[str, Any]:
    """:data:`PREDICTION_SCHEMA` with every task registered now (a task added by
    :func:`~emox_core.tasks.register_task` is a valid ``task``)."""
    schema = copy.deepcopy(PREDICTION_SCHEMA)
    schema["properties"]["task"]["enum"] = list(task_names())
    return schema


def validate_prediction(record: Any) -> None:
    """Raise ``ValueError`` naming the first field of ``record`` that breaks :func:`prediction_schema`."""
    _check(record, prediction_schema(), "prediction")


def _check(value: Any, schema: dict[str, Any], where: str) -> None:
    """The subset of JSON Schema that :data:`PREDICTION_SCHEMA` uses (type, enum, required, properties,
    additionalProperties, items, minLength, minimum, maximum)."""
    if "enum" in schema and value not in schema["enum"]:
        raise ValueError(f"{where}: {value!r} is not one of {schema['enum']}")
    types = schema.get("type")
    if types is not None:
        allowed = [types] if isinstance(types, str) else types
        if not any(_is_type(value, t) for t in allowed):
            raise ValueError(f"{where}: expected {' or '.join(allowed)}, got {type(value).__name__}")
    if isinstance(value, str) and len(value) < schema.get("minLength", 0):
        raise ValueError(f"{where}: must not be empty")
    low, high = schema.get("minimum"), schema.get("maximum")
    if _is_type(value, "number") and ((low is not None and value < low) or (high is not None and value > high)):
        raise ValueError(f"{where}: {value} is outside [{low}, {high}]")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            _check(item, schema["items"], f"{where}[{i}]")
    if isinstance(value, dict):
        for name in schema.get("required", ()):
            if name not in value:
                raise ValueError(f"{where}: field {name!r} is missing")
        properties = schema.get("properties", {})
        for name, item in value.items():
            if name in properties:
                _check(item, properties[name], f"{where}.{name}")
            elif schema.get("additionalProperties") is False:
                raise ValueError(f"{where}: unknown field {name!r}")


def _is_type(value: Any, name: str) -> bool:
    checks = {
        "string": lambda v: isinstance(v, str),
        "null": lambda v: v is None,
        "array": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
    }
    return checks[name](value)
