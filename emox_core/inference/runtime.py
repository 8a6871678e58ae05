"""What inference runs on and how it decodes: device and dtype choice, model loading (a directory or a
hub id), generation settings (greedy by default) and a token streamer that shows only the answer."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from emox_core.errors import EmoxError
from emox_core.processing import ANSWER_END
from emox_core.tasks import get_task

if TYPE_CHECKING:
    from emox_core.modeling.modeling_nano_emox import NanoEmoXForConditionalGeneration
    from emox_core.processing import NanoEmoXProcessor

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding settings; the default is greedy (deterministic). ``max_new_tokens=None`` uses the task's
    default (``Task.max_new_tokens``, :mod:`emox_core.tasks`). Every value is passed to ``generate``
    explicitly, so nothing is inherited from a checkpoint's ``generation_config.json`` (Qwen2.5-Instruct's
    samples with top_k=20)."""

    max_new_tokens: int | None = None
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0
    num_beams: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        checks = (
            ("--max-new-tokens", self.max_new_tokens is None or self.max_new_tokens >= 1, "must be >= 1"),
            ("--temperature", self.temperature > 0, "must be > 0"),
            ("--top-p", 0 < self.top_p <= 1, "must be in (0, 1]"),
            ("--top-k", self.top_k >= 0, "must be >= 0 (0 = off)"),
            ("--repetition-penalty", self.repetition_penalty > 0, "must be > 0"),
            ("--num-beams", self.num_beams >= 1, "must be >= 1"),
        )
        for flag, ok, problem in checks:
            if not ok:
                raise EmoxError(f"{flag}: {problem}")

    def max_tokens(self, task: str) -> int:
        return self.max_new_tokens or get_task(task).max_new_tokens

    def as_dict(self, task: str) -> dict[str, Any]:
        """What the predictions file records under ``generation`` (the effective values for ``task``)."""
        return {**asdict(self), "max_new_tokens": self.max_tokens(task)}

    def generate_kwargs(self, task: str, processor: NanoEmoXProcessor) -> dict[str, Any]:
        """Keyword arguments for ``model.generate``: stop at eos or the ``###`` answer terminator."""
        tokenizer = processor.tokenizer
        kwargs: dict[str, Any] = {
            "max_new_tokens": self.max_tokens(task), "do_sample": self.do_sample, "num_beams": self.num_beams,
            "repetition_penalty": self.repetition_penalty, "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id, "stop_strings": [ANSWER_END], "tokenizer": tokenizer,
        }
        if self.do_sample:
            kwargs.update(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k)
        else:  # neutral values, so a checkpoint's sampling defaults cannot leak in (and no warnings)
            kwargs.update(temperature=None, top_p=None, top_k=None)
        return kwargs


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` = the first CUDA GPU, else Apple MPS, else CPU; ``cpu``, ``cuda``, ``cuda:N``, ``mps``."""
    spec = spec.strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise EmoxError(f"--device: unknown device {spec!r} (auto, cpu, cuda, cuda:N, mps)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise EmoxError(f"--device {spec}: no CUDA GPU is available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise EmoxError(f"--device {spec}: only {torch.cuda.device_count()} CUDA GPU(s)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise EmoxError(f"--device {spec}: MPS is not available")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise EmoxError(f"--device: unsupported device type {device.type!r}")
    return device


def resolve_dtype(spec: str, device: torch.device) -> torch.dtype:
    """``auto`` = bf16 on a GPU that supports it, else fp16 on a GPU, float32 on CPU/MPS."""
    spec = spec.strip().lower()
    if spec == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    aliases = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "half": "float16"}
    name = aliases.get(spec, spec)
    if name not in DTYPES:
        raise EmoxError(f"--dtype: unknown dtype {spec!r} (auto, float32, bfloat16, float16)")
    if name == "bfloat16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise EmoxError("--dtype bfloat16: this GPU does not support bf16; use float16")
    return DTYPES[name]


def load_for_inference(source: str | Path, device: str = "auto", dtype: str = "auto"
                       ) -> tuple[NanoEmoXForConditionalGeneration, NanoEmoXProcessor]:
    """Load a saved model onto ``device`` in ``dtype``: any directory :func:`~emox_core.modeling.loading.load_model`
    reads (full, adapters, an ``emox train`` phase output or checkpoint, ``emox convert official``'s output), or
    a hub id holding one. The model is prepared for inference (``prepare_for_inference``: LoRA merged into the
    LM weights as ``emox export`` does, the towers' Linears fused on CPU): the same answers, faster."""
    from emox_core.modeling.loading import load_model

    target = resolve_device(device)
    model, processor = load_model(model_directory(source), dtype=resolve_dtype(dtype, target))
    # moved first: prepared on the device it runs on (a moved parameter would leave its projection group)
    return model.to(target).prepare_for_inference(), processor


def model_directory(source: str | Path) -> Path:
    """A local directory as is; ``owner/name`` that is not one is a hub id, downloaded into the Hugging Face
    cache (offline: a one-line error)."""
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if path.exists() or not re.fullmatch(r"[\w.-]+/[\w.-]+", str(source)):
        raise EmoxError(f"{path}: model directory not found")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(str(source)))
    except Exception as exc:  # noqa: BLE001 - hub errors vary (offline, missing repo, auth)
        raise EmoxError(f"--model {source}: not a local directory and not downloadable from the hub "
                        f"({type(exc).__name__})") from None


_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL)


def visible_answer(text: str, hide_thinking: bool, final: bool) -> str:
    """The part of the generated ``text`` to show: up to ``###``, without ``<think>`` blocks if asked.

    While generating (``final=False``) a tail that may still become ``###`` or ``<think>`` is held back,
    so what has been shown never needs to be taken back.
    """
    text = text.split(ANSWER_END, 1)[0]
    if hide_thinking:
        text = _THINK_BLOCK.sub("", text)
        text = text.split("<think>", 1)[0]
    if not final:
        for marker in ((ANSWER_END, "<think>") if hide_thinking else (ANSWER_END,)):
            for k in range(len(marker) - 1, 0, -1):
                if text.endswith(marker[:k]):
                    text = text[:-k]
                    break
    return text.lstrip()


def answer_streamer(processor: NanoEmoXProcessor, on_text: Callable[[str], None], hide_thinking: bool = False
                    ) -> Any:
    """A transformers streamer (batch size 1) that calls ``on_text`` with each new piece of the visible
    answer (see :func:`visible_answer`) as tokens are generated."""
    from transformers import TextStreamer

    class AnswerStreamer(TextStreamer):
        def __init__(self) -> None:
            super().__init__(processor.tokenizer, skip_prompt=True, skip_special_tokens=True)
            self.raw = ""
            self.shown = ""

        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            self.raw += text
            visible = visible_answer(self.raw, hide_thinking, final=stream_end)
            if visible.startswith(self.shown) and len(visible) > len(self.shown):
                on_text(visible[len(self.shown):])
                self.shown = visible

    return AnswerStreamer()
