"""The official checkpoint-range protocol (Nano-EmoX inference_hybird.py get_ckpt3_candidates, evaluation-scoreonly.py
main_zeroshot_scores / search_for_result_root): expected values from those formulas."""

from __future__ import annotations

from pathlib import Path

import pytest

from emox_core.errors import EmoxError
from emox_core.evaluation import checkpoints as ckpts


@pytest.mark.parametrize(
    ("name", "number"),
    [
        ("checkpoint_000060_loss_0.480.npz", 60),  # official: int(name.split('_')[1])
        ("checkpoint_000005_loss_1.2-openset.npz", 5),
        ("checkpoint-1200.jsonl", 1200),  # emox train
        ("omniaffect_epochcheckpoint_000050_loss_0.297.csv", 50),  # official EMER csv: {arch}_epoch{ckpt}.csv
        ("minicpm-v-2_6_epoch0.csv", None),
        ("preds.jsonl", None),
    ],
)
def test_checkpoint_number(name, number):
    assert ckpts.checkpoint_number(name) == number


def test_run_group_of_official_emer_csvs():
    assert ckpts.run_group(Path("x/omniaffect_epochcheckpoint_000050_loss_0.297.csv")) == "omniaffect"
    assert ckpts.run_group(Path("x/qwen2-vl-7b_epoch0.csv")) == "qwen2-vl-7b_epoch0"
    assert ckpts.run_group(Path("run7/checkpoint_000060_loss_0.480.npz")) == "run7"


@pytest.mark.parametrize(
    ("spec", "skip", "numbers"),
    [
        ("30-60", 5, [30, 35, 40, 45, 50, 55, 60]),  # for e in range(30, 61): if e % 5 == 0
        ("31-60", 5, [35, 40, 45, 50, 55, 60]),  # the modulo, not a stride from the start
        ("40-60", 1, list(range(40, 61))),
        ("40,45, 50", 1, [40, 45, 50]),  # the scoring script's comma list
        ("last", 1, None),
    ],
)
def test_parse_range(spec, skip, numbers):
    assert ckpts.parse_range(spec, skip)[0] == numbers


@pytest.mark.parametrize(
    ("spec", "message"), [("60-30", "range is empty"), ("7-9", "multiple of 5"), ("x", "expected")]
)
def test_parse_range_errors(spec, message):
    with pytest.raises(EmoxError, match=message):
        ckpts.parse_range(spec, 5)


def _files(*numbers: int) -> list[ckpts.Checkpoint]:
    return [ckpts.Checkpoint(Path(f"checkpoint_{n:06d}_loss_0.1.npz"), n) for n in numbers]


def test_select():
    found = _files(60, 30, 45, 40, 35, 50, 55, 59)
    assert [c.number for c in ckpts.select(found, None)] == [30, 35, 40, 45, 50, 55, 59, 60]
    assert [c.number for c in ckpts.select(found, "30-60", 5)] == [30, 35, 40, 45, 50, 55, 60]
    assert [c.number for c in ckpts.select(found, "last")] == [60]
    with pytest.raises(EmoxError, match="no predictions for checkpoint 25"):  # the official assertion
        ckpts.select(found, "25-60", 5, "run")
    with pytest.raises(EmoxError, match="no checkpoint-numbered"):
        ckpts.select([ckpts.Checkpoint(Path("preds.jsonl"), None)], "30-60", 5)


def test_latest_run_by_timestamp(tmp_path):
    runs = [tmp_path / f"emercoarse_lz_{stamp}" for stamp in ("20250110100", "20250619185", "20250301000")]
    assert ckpts.latest_run(runs, tmp_path).name == "emercoarse_lz_20250619185"
    with pytest.raises(EmoxError, match="several runs"):
        ckpts.latest_run([tmp_path / "model_a", tmp_path / "model_b"], tmp_path)
