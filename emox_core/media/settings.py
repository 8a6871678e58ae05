"""The preprocessing settings of a clip, and the fingerprint that keys the media cache.

Every number that changes the extracted arrays lives here, so two runs with equal settings read a
clip identically and a change of settings can never return stale cached arrays.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Literal

from emox_core.errors import EmoxError

# Bump when the extraction code changes what it returns for the same settings (invalidates caches).
EXTRACTION_VERSION = 1

FaceMode = Literal["raw", "crop"]


@dataclasses.dataclass(frozen=True)
class MediaSettings:
    """What the model reads from a clip.

    The defaults are the official Nano-EmoX input: 8 uniform frames resized to 224x224, 16 kHz mono
    audio cut into 8 segments of 2 s, and the raw full frames as face input (``face_mode="raw"``, no
    detector). ``face_mode="crop"`` is FaceXFormer's own preprocessing: a detected face box enlarged by
    ``face_margin`` (0.5 = +50 %), cropped from the full-resolution frame, resized to 224 (bicubic).
    """

    frames: int = 8
    image_size: int = 224
    sample_rate: int = 16000
    audio_segments: int = 8
    segment_seconds: float = 2.0
    face_mode: FaceMode = "raw"
    face_margin: float = 0.5
    detector: str = "haar"

    def __post_init__(self) -> None:
        if self.frames < 1 or self.image_size < 16 or self.sample_rate < 1000:
            raise EmoxError(f"media settings: frames={self.frames}, image_size={self.image_size}, "
                            f"sample_rate={self.sample_rate} out of range")
        if self.audio_segments < 1 or self.segment_seconds <= 0:
            raise EmoxError(f"media settings: audio_segments={self.audio_segments}, "
                            f"segment_seconds={self.segment_seconds} out of range")
        if self.face_mode not in ("raw", "crop"):
            raise EmoxError(f"media settings: face_mode must be 'raw' or 'crop', got {self.face_mode!r}")
        if self.face_margin < 0:
            raise EmoxError(f"media settings: face_margin must be >= 0, got {self.face_margin}")

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    def fingerprint(self) -> str:
        """A short stable hash of every field plus the extraction version (part of each cache key).

        The detector only matters in crop mode, so raw-mode caches survive a detector change.
        """
        fields = self.to_dict()
        if self.face_mode == "raw":
            fields.pop("detector")
            fields.pop("face_margin")
        blob = json.dumps({"v": EXTRACTION_VERSION, **fields}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


# The official input; every other default of these numbers (model config, processor settings, CLI flags) is read
# from here.
DEFAULT_MEDIA = MediaSettings()
