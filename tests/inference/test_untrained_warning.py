"""A model whose adapters were never trained says so (issue 16 §1): ``emox infer`` and ``emox eval --model`` print
one warning line for a fresh build (full or adapters directory), none for a training output, a conversion or an
export of a trained model (the export carries the record into its config)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from emox_core.modeling.loading import build_preset_model, export_model, save_model
from emox_core.modeling.training_record import CONFIG_KEY, training_record, untrained_warning
from tests.conftest import run_emox


@pytest.fixture(scope="module")
def tiny() -> tuple[object, object]:
    torch.manual_seed(0)
    return build_preset_model("tiny")


def test_fresh_builds_carry_no_record(tiny: tuple[object, object], tmp_path: Path) -> None:
    model, processor = tiny
    full = save_model(model, processor, tmp_path / "full")
    adapters = save_model(model, processor, tmp_path / "adapters", adapters_only=True)
    for directory in (full, adapters):
        assert training_record(directory) is None
        warning = untrained_warning(directory)
        assert warning is not None and warning.startswith(f"{directory}: its adapters were never trained")
        assert "\n" not in warning
    assert untrained_warning(tmp_path / "full", name="my-model").startswith("my-model: ")  # type: ignore[union-attr]
    assert untrained_warning(tmp_path) is None  # not a model directory (e.g. a run holding checkpoint-N folders)


def test_training_conversion_and_export_records(tiny: tuple[object, object], tmp_path: Path) -> None:
    model, processor = tiny
    trained = save_model(model, processor, tmp_path / "phase3", adapters_only=True, phase="3")  # as emox train
    converted = save_model(model, processor, tmp_path / "conv", adapters_only=True, converted_from="best.pth")
    assert training_record(trained) == "trained in phase 3" and untrained_warning(trained) is None
    assert training_record(converted) == "converted from best.pth"
    exported = export_model(trained, tmp_path / "export")
    assert training_record(exported) == "trained in phase 3"
    assert '"' + CONFIG_KEY + '": "trained in phase 3"' in (exported / "config.json").read_text()
    assert training_record(export_model(tmp_path / "conv", tmp_path / "export2")) == "converted from best.pth"


def test_infer_and_eval_print_one_warning_line(model_dir: Path, clips: dict[str, Path], tiny: tuple[object, object],
                                               tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    args = ("infer", clips["normal"], "--task", "MER", "--max-new-tokens", "2", "--no-stream", "--model")
    assert run_emox(*args, model_dir) == 0
    lines = capfd.readouterr().err.splitlines()
    warning = [line for line in lines if "never trained" in line]
    # one whole line (not wrapped): besides it, stderr has only the line on what the answer was based on
    assert len(warning) == 1 and warning[0].startswith("warning: ") and warning[0].endswith("can do today)"), lines
    assert len(lines) == 2 and lines[1].startswith("inputs: "), lines
    model, processor = tiny
    trained = save_model(model, processor, tmp_path / "trained", adapters_only=True, phase="3")
    assert run_emox(*args, trained) == 0
    assert "never trained" not in capfd.readouterr().err
    run_emox("eval", "mintrec", "--model", model_dir, "--data", tmp_path / "absent.jsonl")
    assert capfd.readouterr().err.count("never trained") == 1
