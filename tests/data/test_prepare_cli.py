"""``emox prepare DATASET RAW_DIR OUT_DIR``: statistics printed, user errors as one line with exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from emox_cli.main import main
from emox_core.data.registry import ADAPTERS

from .helpers import write_json


def _mintrec_tree(root: Path, put_media) -> Path:
    write_json(root / "test_MIntRec_ann.json", [
        {"messages": [{"role": "user", "content": "thanks a lot"}, {"role": "assistant", "content": "Thank"}],
         "videos": ["/home/lab00/hjh/dataset/MIntRec/video/S01_E01_1.mp4"]}])
    put_media(root, "video/S01_E01_1.mp4")
    return root


def test_prepare_prints_statistics(tmp_path: Path, put_media, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    raw = _mintrec_tree(tmp_path / "MIntRec", put_media)
    main(["prepare", "mintrec", str(raw), str(tmp_path / "out"), "--split", "test"])
    out = capsys.readouterr().out
    assert "mintrec:" in out and "│ test  │   1 │" in out and "Thank" in out
    assert "expected 445 mintrec items (official size), found 1" in out
    assert (tmp_path / "out" / "manifest-test.jsonl").is_file() and (tmp_path / "out" / "stats.json").is_file()


def test_schema_error_exits_1_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_json(tmp_path / "raw" / "train.json", [{"conversation_id": "00001", "turns": "oops"}])
    with pytest.raises(SystemExit) as exc:
        main(["prepare", "avamerg", str(tmp_path / "raw"), str(tmp_path / "out")])
    assert exc.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("emox: error: ") and "conversation #0 (id 00001): field 'turns' must be a list" in err
    assert "\n" not in err


def test_every_dataset_and_media_have_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    main(["prepare", "--help"])
    out = capsys.readouterr().out
    for name in (*ADAPTERS, "media"):
        assert name in out
