"""``emox info`` from configs alone, and the CLI's one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from emox_core.modeling.presets import nano_emox_2b_config
from emox_core.modeling.summary import count_parameters


def test_nano_emox_2b_counts_match_the_backbone_configs() -> None:
    rows = {r.attribute: r for r in count_parameters(nano_emox_2b_config())}
    assert rows["vision_tower"].parameters == 303_179_776  # CLIP ViT-L/14 vision tower
    assert rows["speech_tower"].parameters == 315_438_720  # HuBERT-Large
    assert rows["language_model"].parameters == 1_543_714_304  # Qwen2.5-1.5B, tied embeddings
    assert rows["lora"].parameters == 18_464_768  # r=16 on 7 projections x 28 layers
    assert rows["face_tower"].parameters - 86_743_224 == 492_544 + 262_144  # Swin-B + linear_c + linear_fuse
    total = sum(r.parameters for r in rows.values())
    assert 2.2e9 <= total <= 2.35e9
    assert rows["lora"].trainable_by_phase == {"1.1": 0, "1.2": 0, "2": 0, "3": 18_464_768}


def _emox(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "emox_cli.main", *args], capture_output=True, text=True,
                          timeout=120)


def test_info_prints_the_table() -> None:
    result = _emox("info", "--preset", "nano-emox-2b")
    assert result.returncode == 0, result.stderr
    assert "language model" in result.stdout and "2.319 B" in result.stdout


@pytest.mark.parametrize(("args", "code"), [(("info", "--bogus"), 2), (("info", "--preset", "huge"), 1),
                                            (("frobnicate",), 2)])
def test_bad_arguments_give_one_line_errors(args: tuple[str, ...], code: int) -> None:
    result = _emox(*args)
    assert result.returncode == code
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("emox: error:")
    assert "Traceback" not in result.stderr
