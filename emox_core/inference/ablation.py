"""Modality ablation at test time: the same question answered with every input, then without each one.

An input is removed exactly as the model treats a missing one (its placeholders zeroed and masked out of
attention, :meth:`~emox_core.modeling.modeling_nano_emox.NanoEmoXForConditionalGeneration.embed_inputs`):
frames, audio and face through ``modality_mask``; the fusion token by leaving out its encoder features. As in
the model, removing frames or audio also removes the fusion token (it needs both). :class:`WithoutModality`
wraps a model so that every ``generate`` call sees the input removed; it serves one clip (``emox infer
--ablate``) and whole benchmarks (``emox eval --model ... --ablate``) through the ordinary predict code.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from emox_core.errors import EmoxError
from emox_core.inference.explain import MASK_COLUMNS, modalities_seen
from emox_core.tasks import get_task

if TYPE_CHECKING:
    from emox_core.inference.predict import Prediction
    from emox_core.inference.runtime import GenerationSettings
    from emox_core.media.decode import ClipMedia
    from emox_core.modeling.modeling_nano_emox import NanoEmoXForConditionalGeneration
    from emox_core.processing import NanoEmoXProcessor

# What can be removed, in the order the table shows it.
ABLATIONS = ("audio", "frames", "face", "fusion")
_RAW_INPUTS = ("pixel_values", "input_values", "pixel_values_videos")
_FUSION_FEATURES = ("vision_fusion_features", "speech_fusion_features")


def removed_inputs(modality: str) -> list[str]:
    """The inputs the model loses when ``modality`` is removed (frames or audio take the fusion token along)."""
    if modality not in ABLATIONS:
        raise EmoxError(f"unknown modality {modality!r} (choose from {', '.join(ABLATIONS)})")
    return [modality, "fusion"] if modality in ("frames", "audio") else [modality]


class WithoutModality:
    """``model`` with one input removed from every ``generate`` call; everything else is the model's own
    (attributes are forwarded), so the predict functions take it wherever they take a loaded model."""

    def __init__(self, model: NanoEmoXForConditionalGeneration, modality: str) -> None:
        removed_inputs(modality)  # validates the name
        self.model = model
        self.modality = modality

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def ablated_inputs(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """The ``generate``/``forward`` keyword arguments with the input removed."""
        inputs = dict(inputs)
        if self.modality in MASK_COLUMNS:
            batch = inputs["input_ids"].shape[0]
            mask = inputs.get("modality_mask")
            mask = torch.ones(batch, 3, dtype=torch.bool, device=inputs["input_ids"].device) if mask is None \
                else mask.clone().bool()
            mask[:, MASK_COLUMNS[self.modality]] = False
            inputs["modality_mask"] = mask
            return inputs
        raw = [inputs.pop(name, None) for name in _RAW_INPUTS]
        if any(value is not None for value in raw):  # encode here, so the fusion features can be left out
            for name, value in self.model.encode_media(*raw).as_kwargs().items():
                inputs.setdefault(name, value)
        for name in _FUSION_FEATURES:
            inputs.pop(name, None)
        return inputs

    def generate(self, **inputs: Any) -> torch.Tensor:
        return self.model.generate(**self.ablated_inputs(inputs))


@dataclass
class AblationRow:
    """One condition: ``removed`` None is the reference run with every input. ``masked`` lists the inputs
    the model did not see; ``prediction`` is None when the condition equals the reference (the input was
    not there to remove); ``changed`` (label tasks) says whether the label(s) differ from the reference."""

    removed: str | None
    masked: list[str]
    prediction: Prediction | None
    changed: bool | None
    note: str = ""

    @property
    def condition(self) -> str:
        return "all inputs" if self.removed is None else f"without {self.removed}"

    def to_record(self) -> dict[str, Any]:
        """The row as ``emox infer --ablate --json`` prints it."""
        p = self.prediction
        return {"condition": self.condition, "removed": self.removed, "masked": self.masked,
                "prediction": None if p is None else p.prediction, "label": None if p is None else p.label,
                "labels": None if p is None else p.labels, "changed": self.changed, "note": self.note or None}


def ablate_clip(model: NanoEmoXForConditionalGeneration, processor: NanoEmoXProcessor,
                clip_path: str | os.PathLike[str], task: str, *, media: ClipMedia,
                settings: GenerationSettings | None = None, model_name: str = "", **options: Any
                ) -> list[AblationRow]:
    """Answer ``task`` about one clip with every input, then without each input the model saw (``options``:
    subtitle, history, labels, context as for :func:`~emox_core.inference.predict.predict_clip`)."""
    from emox_core.inference.predict import predict_clip

    seen = modalities_seen(model.config, processor, media)
    unseen = [name for name, on in seen.items() if not on]
    reference = predict_clip(model, processor, clip_path, task, settings=settings, media=media,
                             model_name=model_name, **options)
    rows = [AblationRow(None, unseen, reference, None)]
    for modality in ABLATIONS:
        if not seen[modality]:
            rows.append(AblationRow(modality, unseen, None, None, note=f"no {modality} input: same as all inputs"))
            continue
        masked = sorted(set(unseen) | {m for m in removed_inputs(modality) if seen[m]}, key=ABLATIONS.index)
        answer = predict_clip(WithoutModality(model, modality), processor, clip_path, task, settings=settings,
                              media=media, model_name=model_name, **options)
        changed = label_changed(reference, answer) if get_task(reference.task).kind.labelled else None
        rows.append(AblationRow(modality, masked, answer, changed))
    return rows


def label_changed(reference: Prediction, other: Prediction) -> bool:
    """Whether the parsed label (or label set) differs."""
    return sorted(reference.labels) != sorted(other.labels)


def table_rows(rows: Sequence[AblationRow], task: str) -> tuple[list[str], list[list[str]]]:
    """(headers, cells) of the ablation table, for the CLI, the app and the docs."""
    labelled = get_task(task).kind.labelled
    headers = ["condition", "masked inputs", "label" if labelled else "answer"] + (["changed"] if labelled else [])
    cells = []
    for row in rows:
        p = row.prediction
        if p is None:
            answer = f"({row.note})"
        elif labelled:
            answer = ", ".join(p.labels) or "(none of the candidates)"
        else:
            answer = " ".join(p.shown.split())
        line = [row.condition, ", ".join(row.masked) or "-", answer]
        if labelled:
            line.append("-" if row.changed is None else ("yes" if row.changed else "no"))
        cells.append(line)
    return headers, cells
