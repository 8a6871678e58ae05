"""``emox infer --out`` never damages a file emox did not write, and has one writer at a time (issue 13)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from emox_core.errors import EmoxError
from emox_core.inference import PredictionsFile
from tests.inference.conftest import MAX_NEW_TOKENS, read_jsonl
from tests.inference.test_cli import emox
from tests.test_reliability import hold_lock


def _infer(model_dir: Path, manifest: Path, out: Path) -> int:
    return emox("infer", "--manifest", manifest, "--out", out, "--model", model_dir, "--device", "cpu",
                "--max-new-tokens", MAX_NEW_TOKENS, "--no-progress")


@pytest.mark.parametrize("content", [b"remember to buy milk", b"notes\nmore notes", b'{"id": "x"}\n',
                                     b'{"id": "a", "task": "MER", "target": "happy"}\n'])
def test_an_out_file_emox_did_not_write_is_refused_untouched(model_dir: Path, manifest: Path, content: bytes,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = manifest.parent / "notes.txt"
    out.write_bytes(content)
    assert _infer(model_dir, manifest, out) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"emox: error: {out}") and err.count("\n") == 1 and "choose another --out" in err
    assert out.read_bytes() == content


def test_out_equal_to_the_input_manifest_is_refused(model_dir: Path, manifest: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    before = manifest.read_bytes()
    assert _infer(model_dir, manifest, manifest) == 1
    assert "--out is the input manifest" in capsys.readouterr().err
    assert manifest.read_bytes() == before


def test_a_second_infer_into_the_same_out_is_refused(model_dir: Path, manifest: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = manifest.parent / "preds.jsonl"
    holder = hold_lock(out)  # an `emox infer --out preds.jsonl` already running
    try:
        code = _infer(model_dir, manifest, out)
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert f"{out}: predictions file is in use by another emox process (pid {holder.pid} on host " \
           f"{socket.gethostname()}" in err
    assert not out.exists()
    assert _infer(model_dir, manifest, out) == 0  # once it has finished, the file is ours
    assert len(read_jsonl(out)) == 5


def test_a_failures_file_emox_did_not_write_is_refused(model_dir: Path, manifest: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    mine = manifest.parent / "preds.failures.json"
    mine.write_text('{"my": "settings"}\n')
    assert _infer(model_dir, manifest, manifest.parent / "preds.jsonl") == 1
    assert "not an emox failures list" in capsys.readouterr().err
    assert json.loads(mine.read_text()) == {"my": "settings"}


def test_only_the_start_of_a_record_counts_as_a_torn_line(tmp_path: Path) -> None:
    out = tmp_path / "preds.jsonl"
    line = '{"id": "a", "task": "MER", "prediction": "happy"}\n'
    for torn in ("{", '{"id', '{"id": "b", "task": "M'):
        out.write_text(line + torn)
        assert PredictionsFile(out).done == {"a"} and out.read_text() == line
    out.write_text(line + "hello")
    with pytest.raises(EmoxError, match="not an emox predictions file"):
        PredictionsFile(out)
    assert out.read_text() == line + "hello"
