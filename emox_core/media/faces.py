"""Face input for crop mode: a pluggable detector and FaceXFormer-style crops.

The default detector is OpenCV's Haar cascade, whose weights ship inside opencv-python-headless<5,
so nothing is downloaded. A stronger detector plugs in through ``MediaSettings.detector =
"package.module:factory"`` (any callable returning an object with a ``detect`` method).
"""

from __future__ import annotations

import functools
import importlib
from typing import Protocol, runtime_checkable

import numpy as np

from emox_core.errors import EmoxError


@runtime_checkable
class FaceDetector(Protocol):
    """Finds faces in one RGB uint8 (H, W, 3) image."""

    def detect(self, image: np.ndarray) -> np.ndarray:
        """Boxes as float (K, 4) x0, y0, x1, y1 in image pixels, best first; (0, 4) when none."""
        ...


class HaarFaceDetector:
    """OpenCV's frontal-face Haar cascade; picks the largest face first.

    Detection runs on a copy whose longer side is at most ``max_side`` pixels: fact (environment-notes
    §9) the cascade finds the astronaut face at 512 px but gives extra false boxes at 224 px, and large
    frames only cost time.
    """

    def __init__(self, cascade: str = "haarcascade_frontalface_default.xml", max_side: int = 512,
                 min_neighbors: int = 5, min_face_fraction: float = 0.08) -> None:
        import cv2

        if not hasattr(cv2, "CascadeClassifier"):
            raise EmoxError(f"opencv {cv2.__version__}: no Haar cascades (OpenCV 5 dropped them); "
                            "install 'opencv-python-headless<5'")
        self._classifier = cv2.CascadeClassifier(cv2.data.haarcascades + cascade)
        if self._classifier.empty():
            raise EmoxError(f"{cv2.data.haarcascades + cascade}: cannot load the Haar cascade")
        self.max_side = max_side
        self.min_neighbors = min_neighbors
        self.min_face_fraction = min_face_fraction

    def detect(self, image: np.ndarray) -> np.ndarray:
        import cv2

        scale = min(1.0, self.max_side / max(image.shape[:2]))
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        min_side = max(16, int(self.min_face_fraction * min(gray.shape)))
        found = self._classifier.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=self.min_neighbors,
                                                  minSize=(min_side, min_side))
        if len(found) == 0:
            return np.zeros((0, 4), dtype=np.float32)
        boxes = np.asarray(found, dtype=np.float32)
        boxes[:, 2:] += boxes[:, :2]
        boxes /= scale
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        return boxes[np.argsort(-areas)]


@functools.lru_cache(maxsize=8)
def get_detector(spec: str) -> FaceDetector:
    """Build (once per process) the detector named by ``spec``: "haar" or "package.module:factory"."""
    if spec == "haar":
        return HaarFaceDetector()
    module_name, _, attr = spec.partition(":")
    if not attr:
        raise EmoxError(f"face detector {spec!r}: use 'haar' or 'package.module:factory'")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise EmoxError(f"face detector {spec!r}: cannot import ({exc})") from exc
    detector = factory()
    if not isinstance(detector, FaceDetector):
        raise EmoxError(f"face detector {spec!r}: the factory's result has no detect(image) method")
    return detector


def expand_box(box: np.ndarray, margin: float, width: int, height: int) -> np.ndarray:
    """Grow a box by ``margin`` of its size (half on each side) and clip it to the image.

    Fact (FaceXFormer inference.py, architecture-notes §1.4): its demo enlarges the detector box by
    50 %, 25 % on each side, with no landmark alignment.
    """
    x0, y0, x1, y1 = (float(v) for v in box[:4])
    dx, dy = (x1 - x0) * margin / 2, (y1 - y0) * margin / 2
    grown = np.array([x0 - dx, y0 - dy, x1 + dx, y1 + dy])
    grown = np.clip(np.round(grown), 0, [width, height, width, height]).astype(np.int32)
    grown[2:] = np.maximum(grown[2:], grown[:2] + 1)
    return grown


def crop_faces(
    frames: np.ndarray, detector: FaceDetector, margin: float, size: int
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray]:
    """Detect, enlarge, crop and resize (bicubic) the face in every frame.

    Frames without a detection reuse the box of the nearest frame with one, since a face moves little
    between samples. Returns (faces (T,size,size,3) uint8 | None, boxes (T,4) int32 | None, detected (T,)
    bool); faces and boxes are None when no frame has a face.
    """
    from PIL import Image

    height, width = frames.shape[1:3]
    found = [detector.detect(frame) for frame in frames]
    detected = np.array([len(boxes) > 0 for boxes in found])
    if not detected.any():
        return None, None, detected
    hits = np.flatnonzero(detected)
    nearest = [hits[np.argmin(np.abs(hits - t))] for t in range(len(frames))]
    boxes = np.stack([expand_box(found[hit][0], margin, width, height) for hit in nearest])
    faces = np.stack([
        np.asarray(Image.fromarray(frame[y0:y1, x0:x1]).resize((size, size), Image.Resampling.BICUBIC))
        for frame, (x0, y0, x1, y1) in zip(frames, boxes, strict=True)
    ])
    return faces, boxes, detected
