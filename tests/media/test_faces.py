"""Face input: raw frames (official) or detector crops with FaceXFormer's +50 % margin; pluggable detectors."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from emox_core.errors import EmoxError
from emox_core.media.decode import load_clip
from emox_core.media.faces import HaarFaceDetector, expand_box, get_detector
from emox_core.media.settings import MediaSettings
from emox_core.media.synthesize import write_clip

skimage_data = pytest.importorskip("skimage.data")

CROP = MediaSettings(face_mode="crop")


@pytest.fixture(scope="module")
def face_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The astronaut photo (a real face) drifting sideways, 20 frames."""
    image = skimage_data.astronaut()
    frames = np.stack([np.roll(image, 2 * t, axis=1) for t in range(20)])
    return write_clip(tmp_path_factory.mktemp("faces") / "astronaut.mp4", frames, fps=10)


def test_haar_finds_the_astronaut_face() -> None:
    boxes = HaarFaceDetector().detect(skimage_data.astronaut())
    assert len(boxes) >= 1
    x0, y0, x1, y1 = boxes[0]
    assert 150 < x0 < 200 and 40 < y0 < 90 and 250 < x1 < 300 and 140 < y1 < 190


def test_haar_finds_nothing_in_a_flat_image() -> None:
    assert HaarFaceDetector().detect(np.full((240, 320, 3), 128, np.uint8)).shape == (0, 4)


def test_expand_box_adds_a_quarter_on_each_side_and_clips() -> None:
    assert expand_box(np.array([100, 100, 200, 140]), 0.5, 640, 480).tolist() == [75, 90, 225, 150]
    assert expand_box(np.array([0, 0, 40, 40]), 0.5, 50, 45).tolist() == [0, 0, 50, 45]


def test_crop_mode_returns_face_crops(face_clip: Path) -> None:
    clip = load_clip(face_clip, CROP)
    assert clip.faces is not None and clip.faces.shape == (8, 224, 224, 3)
    assert clip.face_detected.all() and clip.missing == ["audio"]
    x0, y0, x1, y1 = clip.face_boxes[0]
    assert (x1 - x0) > 120 and (y1 - y0) > 120  # ~95 px Haar box, +50 %
    assert not np.array_equal(clip.faces, clip.frames)


def test_crop_mode_without_a_face_reports_face_absent(media_dir: Path) -> None:
    clip = load_clip(media_dir / "good.mp4", CROP)
    assert clip.faces is None and clip.face_boxes is None and not clip.face_detected.any()
    assert clip.missing == ["face"] and clip.frames is not None


def test_a_plugged_in_detector_is_used(face_clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_detector.py").write_text(textwrap.dedent("""
        import numpy as np

        class FixedBox:
            def detect(self, image):
                return np.array([[10.0, 20.0, 110.0, 220.0]])

        def make():
            return FixedBox()
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    clip = load_clip(face_clip, MediaSettings(face_mode="crop", detector="my_detector:make"))
    assert clip.face_boxes.tolist() == [[0, 0, 135, 270]] * 8
    get_detector.cache_clear()
    sys.modules.pop("my_detector", None)


@pytest.mark.parametrize("spec", ["nonsense", "no_such_module_xyz:make", "json:nothing"])
def test_bad_detector_specs_are_user_errors(spec: str) -> None:
    with pytest.raises(EmoxError, match="face detector"):
        get_detector(spec)
