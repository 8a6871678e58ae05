"""NanoEmoXProcessor: prompt building, placeholder expansion, tokenisation with target masking, CLIP frame
normalisation, face-input preparation and HuBERT audio segmentation — everything between decoded media
and the model's tensors. Training, evaluation and inference all go through it.

Prompt layouts are the official ones, verbatim (waHAHJIAHAO/Nano-EmoX @ b08f985
``datasets/datasets/base_dataset.py:685-779``, ``avamerg_dataset.py:198-205``): the AffectGPT
``###Human: ... ###Assistant: `` frame, modality sentences in the order fusion, audio, face, frames, then
the subtitle (or dialogue history) and the question. The sequence is ``<|im_start|> prompt target ### <|im_end|>``
with the loss on ``target ### <|im_end|>`` only. A disabled branch's sentence is left out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.nn import functional as F
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from emox_core.errors import EmoxError
from emox_core.fileio import atomic_write_json
from emox_core.media.settings import DEFAULT_MEDIA
from emox_core.modeling.configuration import (
    AUDIO_TOKEN,
    FACE_TOKEN,
    FEATURE_SOURCES,
    FRAME_TOKEN,
    FUSION_TOKEN,
    PLACEHOLDER_TOKENS,
    NanoEmoXConfig,
)
from emox_core.tasks import get_task

if TYPE_CHECKING:
    from emox_core.media.settings import MediaSettings

PROCESSOR_FILE = "processor_config.json"
IGNORE_INDEX = -100
ANSWER_END = "###"

# CLIP (openai) and ImageNet normalisation constants (transformers.image_utils OPENAI_CLIP_* / IMAGENET_*).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_SENTENCES = {
    FUSION_TOKEN: "The audio and video merged info is: <Multi>{}</Multi>. ",
    AUDIO_TOKEN: "The audio content is as follows: <Audio>{}</Audio>. ",
    FACE_TOKEN: "Meanwhile, We uniformly extract facial informations from video: <Video>{}</Video>. ",
    FRAME_TOKEN: "Meanwhile, we uniformly sample raw frames from the video: <Video>{}</Video>. ",
}
_ASK = "Now, please answer my question based on all the provided information. {question} ###Assistant: "
LAYOUTS: dict[str, dict[str, Any]] = {
    # multiface_audio_face_frame_text: phases 2-3 and all inference
    "multimodal": {"prefix": "###Human: ", "order": (FUSION_TOKEN, AUDIO_TOKEN, FACE_TOKEN, FRAME_TOKEN),
                   "context": "The subtitle of this video is: <Subtitle>{subtitle}</Subtitle>. ", "ask": _ASK},
    # audio_text: phase 1.1 (official: no "###Human: " prefix)
    "audio_text": {"prefix": "", "order": (AUDIO_TOKEN,),
                   "context": "The subtitle of this video is: <Subtitle>{subtitle}</Subtitle>. ", "ask": _ASK},
    # face_frame: phase 1.2 (frames first, no subtitle)
    "face_frame": {"prefix": "###Human: ", "order": (FRAME_TOKEN, FACE_TOKEN), "context": "", "ask": _ASK,
                   "sentences": {FRAME_TOKEN: "We uniformly sample raw frames from the video: <Video>{}</Video>. "}},
    # AvaMERG (ERG and its MER samples)
    "dialogue": {"prefix": "###Human: ", "order": (FUSION_TOKEN, AUDIO_TOKEN, FACE_TOKEN, FRAME_TOKEN),
                 "context": "The dialogue history is:<Dialogue History>{history}</Dialogue History>. "
                            "Now here is the dialogue context:\n. ",
                 "ask": "{question} ###Assistant: "},
}


@dataclass
class ProcessorSettings:
    """The numbers the processor needs; taken from :class:`NanoEmoXConfig` and saved beside the tokenizer."""

    num_frames: int = DEFAULT_MEDIA.frames
    image_size: int = DEFAULT_MEDIA.image_size
    face_input: str = "raw"
    sampling_rate: int = DEFAULT_MEDIA.sample_rate
    audio_segments: int = DEFAULT_MEDIA.audio_segments
    audio_segment_samples: int = round(DEFAULT_MEDIA.segment_seconds * DEFAULT_MEDIA.sample_rate)
    token_counts: dict[str, int] = field(default_factory=dict)
    prompt_style: str = "official"
    max_length: int = 1024
    # HuBERT input normalisation: "clip" (jointly over the clip's segments, official) or "segment".
    audio_normalization: str = "clip"

    @classmethod
    def from_config(cls, config: NanoEmoXConfig) -> ProcessorSettings:
        return cls(num_frames=config.num_frames, image_size=config.image_size, face_input=config.face_input,
                   sampling_rate=config.sampling_rate, audio_segments=config.audio_segments,
                   audio_segment_samples=config.audio_segment_samples, token_counts=dict(config.token_counts),
                   prompt_style=config.prompt_style, max_length=config.max_sequence_length,
                   audio_normalization=config.audio_normalization)

    def __post_init__(self) -> None:
        allowed = FEATURE_SOURCES["audio_normalization"]
        if self.audio_normalization not in allowed:
            raise EmoxError(f"processor audio_normalization={self.audio_normalization!r}; choose one of "
                            f"{', '.join(allowed)}")


@dataclass
class Example:
    """One model input before batching: the prompt text (unexpanded placeholders), optional target,
    decoded media (``None`` = modality absent)."""

    prompt: str
    target: str | None = None
    frames: np.ndarray | None = None  # (T, H, W, 3) uint8 RGB
    audio: np.ndarray | None = None  # (N,) float32 at settings.sampling_rate
    faces: np.ndarray | None = None  # (T, H, W, 3) uint8 face crops; None -> the frames are used


class NanoEmoXProcessor:
    """Tokenizer + frame/face/audio preparation + prompt layout, configured by :class:`ProcessorSettings`."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, settings: ProcessorSettings) -> None:
        unknown = (None, tokenizer.unk_token_id)
        missing = [t for t in PLACEHOLDER_TOKENS if tokenizer.convert_tokens_to_ids(t) in unknown]
        if missing:
            raise EmoxError(f"tokenizer lacks the placeholder tokens {missing}; use add_placeholder_tokens()")
        self.tokenizer = tokenizer
        self.settings = settings
        self.placeholder_ids = {t: tokenizer.convert_tokens_to_ids(t) for t in PLACEHOLDER_TOKENS}

    # ------------------------------------------------------------------ prompts
    def build_prompt(self, task: str, *, layout: str = "multimodal", subtitle: str = "",
                     history: Sequence[dict[str, str]] | str | None = None, labels: Sequence[str] | str | None = None,
                     question: str | None = None, variant: int = 0, **fields: str) -> str:
        """The full prompt for ``task`` with single (unexpanded) placeholders for the enabled branches."""
        if layout not in LAYOUTS:
            raise EmoxError(f"unknown prompt layout {layout!r}: choose one of {', '.join(LAYOUTS)}")
        spec = LAYOUTS[layout]
        if question is None:
            question = get_task(task).question(labels, variant=variant, prompt_style=self.settings.prompt_style,
                                               **fields)
        sentences = {**_SENTENCES, **spec.get("sentences", {})}
        parts = [spec["prefix"]]
        parts += [sentences[t].format(t) for t in spec["order"] if self.settings.token_counts.get(t)]
        history_text = format_history(history)
        parts.append(spec["context"].format(subtitle=subtitle or "", history=history_text))
        parts.append(spec["ask"].format(question=question))
        return "".join(parts)

    def expand_placeholders(self, prompt: str) -> str:
        """Repeat each placeholder to the number of tokens its branch produces (the processor's job, not the
        model's, so the model never parses text)."""
        for token in PLACEHOLDER_TOKENS:
            count = prompt.count(token)
            if count > 1:
                raise EmoxError(f"prompt has {count} {token} placeholders; write each at most once")
            n = self.settings.token_counts.get(token, 0)
            if count and not n:
                raise EmoxError(f"prompt has {token} but that branch is disabled in this model")
            prompt = prompt.replace(token, token * n)
        return prompt

    # ------------------------------------------------------------------ media
    def frames_to_pixel_values(self, frames: np.ndarray) -> torch.Tensor:
        """(T, H, W, 3) uint8 -> (T, 3, S, S) CLIP-normalised float (a bicubic resize if not S x S)."""
        x = self._resize(frames)
        mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
        return (x / 255.0 - mean) / std

    def faces_to_pixel_values(self, faces: np.ndarray) -> torch.Tensor:
        """Face-encoder input: ``raw`` = 0-255 floats as the official code feeds FaceXFormer; ``imagenet`` =
        FaceXFormer's own ImageNet normalisation (use with face crops)."""
        x = self._resize(faces)
        if self.settings.face_input == "raw":
            return x
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        return (x / 255.0 - mean) / std

    def _resize(self, frames: np.ndarray) -> torch.Tensor:
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise EmoxError(f"frames must be (T, H, W, 3) RGB, got shape {tuple(frames.shape)}")
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
        size = self.settings.image_size
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 255)
        t = self.settings.num_frames
        if x.shape[0] != t:  # uniform re-sampling to the configured frame count (start of each segment)
            index = np.floor(np.arange(t) * x.shape[0] / t).astype(int)
            x = x[index]
        return x

    def audio_to_input_values(self, waveform: np.ndarray) -> torch.Tensor:
        """16 kHz mono waveform -> (S, L) HuBERT inputs: the official segment sampling
        (:func:`emox_core.media.segment_waveform`), then HuBERT's feature-extractor normalisation
        ``(x - mean) / sqrt(var + 1e-7)``.

        ``audio_normalization="clip"`` (default) takes mean and variance over all S segments of the clip
        together: the official code hands the extractor the segments as one 2-D tensor, which it treats as
        one signal (official-code-notes §1.3; exactly its inference path, batch 1). ``"segment"`` normalises
        each 2-s segment on its own, which makes a quiet segment as loud as speech.
        """
        from emox_core.media.decode import segment_waveform

        clips = segment_waveform(waveform, self.media_settings())
        axis = None if self.settings.audio_normalization == "clip" else 1
        mean, var = clips.mean(axis=axis, keepdims=True), clips.var(axis=axis, keepdims=True)
        return torch.from_numpy((clips - mean) / np.sqrt(var + 1e-7))

    def media_settings(self) -> MediaSettings:
        """The media extraction settings this processor's model expects (the cache key includes them)."""
        return media_settings_for(self.settings)

    # ------------------------------------------------------------------ batching
    def __call__(self, examples: Sequence[Example], padding_side: str = "right") -> dict[str, torch.Tensor]:
        """Tokenise and batch. With targets: labels are -100 except on ``target ### <eos>``. Without targets
        (generation) the sequence ends with the prompt; use ``padding_side="left"``."""
        tok = self.tokenizer
        rows: list[list[int]] = []
        label_rows: list[list[int]] = []
        for ex in examples:
            ids, labels = self.token_ids(ex)
            if len(ids) > self.settings.max_length:
                raise EmoxError(
                    f"sample of {len(ids)} tokens exceeds max_length {self.settings.max_length} "
                    "(shorten the subtitle/history or raise max_length)")
            rows.append(ids)
            label_rows.append(labels)
        width = max(len(r) for r in rows)
        pad = tok.pad_token_id
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        labels_t = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
        for i, (ids, labels) in enumerate(zip(rows, label_rows, strict=True)):
            sl = slice(width - len(ids), width) if padding_side == "left" else slice(0, len(ids))
            input_ids[i, sl] = torch.tensor(ids)
            attention[i, sl] = 1
            labels_t[i, sl] = torch.tensor(labels)
        batch: dict[str, torch.Tensor] = {"input_ids": input_ids, "attention_mask": attention}
        if any(ex.target is not None for ex in examples):
            batch["labels"] = labels_t
        batch.update(self.media_tensors(examples))
        return batch

    def token_ids(self, example: Example) -> tuple[list[int], list[int]]:
        """(input ids, labels) of one example: ``<bos> prompt [target ### <eos>]``, labels -100 on the prompt."""
        tok = self.tokenizer
        prompt_ids = [tok.bos_token_id] + tok(self.expand_placeholders(example.prompt),
                                              add_special_tokens=False).input_ids
        if example.target is None:
            return prompt_ids, [IGNORE_INDEX] * len(prompt_ids)
        target_ids = tok(example.target + ANSWER_END, add_special_tokens=False).input_ids + [tok.eos_token_id]
        return prompt_ids + target_ids, [IGNORE_INDEX] * len(prompt_ids) + target_ids

    def fits(self, example: Example) -> bool:
        """Whether the example's token sequence is within ``max_length`` (the official loader skips the
        samples that are not and draws others)."""
        return len(self.token_ids(example)[0]) <= self.settings.max_length

    def media_tensors(self, examples: Sequence[Example]) -> dict[str, torch.Tensor]:
        """Stack frames/audio/faces; an absent modality becomes zeros with ``modality_mask`` False."""
        s = self.settings
        n = len(examples)
        mask = torch.zeros(n, 3, dtype=torch.bool)
        out: dict[str, torch.Tensor] = {}
        want_frames = bool(s.token_counts.get(FRAME_TOKEN) or s.token_counts.get(FUSION_TOKEN))
        want_audio = bool(s.token_counts.get(AUDIO_TOKEN) or s.token_counts.get(FUSION_TOKEN))
        want_face = bool(s.token_counts.get(FACE_TOKEN))
        if want_frames and any(ex.frames is not None for ex in examples):
            blank = torch.zeros(s.num_frames, 3, s.image_size, s.image_size)
            out["pixel_values"] = torch.stack([
                self.frames_to_pixel_values(ex.frames) if ex.frames is not None else blank for ex in examples])
            mask[:, 0] = torch.tensor([ex.frames is not None for ex in examples])
        if want_audio and any(ex.audio is not None for ex in examples):
            blank = torch.zeros(s.audio_segments, s.audio_segment_samples)
            out["input_values"] = torch.stack([
                self.audio_to_input_values(ex.audio) if ex.audio is not None else blank for ex in examples])
            mask[:, 1] = torch.tensor([ex.audio is not None for ex in examples])
        if want_face and any(ex.faces is not None or ex.frames is not None for ex in examples):
            blank = torch.zeros(s.num_frames, 3, s.image_size, s.image_size)
            face_inputs = [ex.faces if ex.faces is not None else ex.frames for ex in examples]
            out["pixel_values_videos"] = torch.stack([
                self.faces_to_pixel_values(f) if f is not None else blank for f in face_inputs])
            mask[:, 2] = torch.tensor([f is not None for f in face_inputs])
        out["modality_mask"] = mask
        return out

    def decode(self, token_ids: torch.Tensor | Sequence[int]) -> str:
        """Generated ids -> answer text, cut at the ``###`` answer terminator."""
        text = self.tokenizer.decode(token_ids, skip_special_tokens=True)
        return text.split(ANSWER_END, 1)[0].strip()

    # ------------------------------------------------------------------ persistence
    def save_pretrained(self, directory: str | Path) -> None:
        directory = Path(directory)
        self.tokenizer.save_pretrained(directory)
        atomic_write_json(directory / PROCESSOR_FILE, {"processor_class": type(self).__name__, **asdict(self.settings)})

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> NanoEmoXProcessor:
        directory = Path(directory)
        settings_file = directory / PROCESSOR_FILE
        if not settings_file.is_file():
            raise EmoxError(f"{settings_file}: processor settings not found (not an emox model directory?)")
        data = json.loads(settings_file.read_text())
        data.pop("processor_class", None)
        tokenizer = AutoTokenizer.from_pretrained(str(directory))
        return cls(tokenizer, ProcessorSettings(**data))


def format_history(history: Sequence[dict[str, str]] | str | None) -> str:
    """Dialogue turns -> ``"role: text"`` lines (the official training format; its test-time path passed a
    Python list repr instead, a train/test mismatch we do not copy)."""
    if history is None:
        return ""
    if isinstance(history, str):
        return history.strip()
    return "\n".join(f"{turn['role']}: {turn['text']}" for turn in history).strip()


def media_settings_for(settings: ProcessorSettings) -> MediaSettings:
    """The media extraction settings a model with these processor settings reads (frames, size, audio
    segmentation, raw or cropped face input)."""
    from emox_core.media.settings import MediaSettings

    return MediaSettings(frames=settings.num_frames, image_size=settings.image_size,
                         sample_rate=settings.sampling_rate, audio_segments=settings.audio_segments,
                         segment_seconds=settings.audio_segment_samples / settings.sampling_rate,
                         face_mode="raw" if settings.face_input == "raw" else "crop")


def saved_media_settings(directory: str | Path) -> MediaSettings:
    """The media settings of a saved model directory: from its processor settings, else (an ``emox convert
    official`` output has none) from its config."""
    directory = Path(directory)
    if (directory / PROCESSOR_FILE).is_file():
        data = json.loads((directory / PROCESSOR_FILE).read_text(encoding="utf-8"))
        data.pop("processor_class", None)
        return media_settings_for(ProcessorSettings(**data))
    if not (directory / "config.json").is_file():
        raise EmoxError(f"{directory}: not an emox model directory (no {PROCESSOR_FILE} or config.json)")
    return media_settings_for(ProcessorSettings.from_config(NanoEmoXConfig.from_pretrained(str(directory))))
