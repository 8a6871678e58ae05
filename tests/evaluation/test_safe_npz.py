"""Issue 13 §1: nothing in an npz a user gives us is ever run, and the official object-array files still load."""

from __future__ import annotations

import builtins
import os
from pathlib import Path

import numpy as np
import pytest

from emox_core.errors import EmoxError
from emox_core.safe_npz import load_npz

from .test_cli import _run


class _Call:
    """Pickles as ``func(*args)``: what a crafted npz uses to run code on ``np.load(allow_pickle=True)``."""

    def __init__(self, func, *args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _payloads(marker: Path) -> dict[str, object]:
    return {
        "os.system": _Call(os.system, f"touch {marker}"),
        "exec": _Call(builtins.exec, f"open({str(marker)!r}, 'w').write('pwned')"),
        "file write": _Call(builtins.open, str(marker), "w"),
        "nested in a record": {"s1": {"emo": _Call(os.system, f"touch {marker}"), "val": 1.0}},
    }


def _evil_npz(path: Path, key: str, payload: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{key: np.array(payload if isinstance(payload, dict) else {"s1": payload}, dtype=object)})
    return path


@pytest.mark.parametrize("kind", ["os.system", "exec", "file write", "nested in a record"])
def test_malicious_object_array_runs_nothing(tmp_path, kind):
    marker = tmp_path / "pwned"
    evil = _evil_npz(tmp_path / "evil.npz", "name2reason", _payloads(marker)[kind])
    with pytest.raises(EmoxError) as info:
        load_npz(evil)
    assert not marker.exists()
    message = str(info.value)
    assert message.startswith(f"{evil}: refused to read array 'name2reason'") and "\n" not in message


def test_malicious_files_through_every_user_path(anchors_dir, wheel_dir, tmp_path, capsys):
    """emox eval (predictions and labels of MER-UniBench, MIntRec predictions) and emox prepare (label package):
    one line, exit 1, nothing run."""
    marker = tmp_path / "pwned"
    payload = _payloads(marker)["os.system"]
    evil_preds = _evil_npz(tmp_path / "results-mer2023" / "checkpoint_000001.npz", "name2reason", payload)
    good_labels = tmp_path / "good" / "label-6way.npz"
    good_labels.parent.mkdir()
    np.savez(good_labels, test1_corpus=np.array({"s1": {"emo": "happy"}}, dtype=object))
    raw = tmp_path / "raw" / "mer2023-dataset-process"
    evil_labels = _evil_npz(raw / "label-6way.npz", "test1_corpus", {"s1": {"emo": payload}})
    ann = anchors_dir / "Nano-EmoX" / "data" / "MIntRec" / "test_MIntRec_ann.json"
    commands = [
        ["eval", "mer-unibench", "-p", str(evil_preds), "-g", str(good_labels), "--wheels", str(wheel_dir)],
        ["eval", "mer-unibench", "-p", str(evil_preds), "-g", str(evil_labels), "--wheels", str(wheel_dir)],
        ["eval", "mintrec", "-p", str(evil_preds), "-g", str(ann)],
        ["prepare", "mer2023", str(raw), str(tmp_path / "prepared")],
    ]
    for argv in commands:
        code, _, err = _run([*argv[:2], *argv[2:], *(["-o", str(tmp_path / "o")] if argv[0] == "eval" else [])],
                            capsys)
        assert code == 1 and err.count("\n") == 1 and "refused to read array" in err, (argv, err)
        assert not marker.exists()


def test_official_npz_files_load_as_numpy_reads_them(affectgpt_output):
    """Every official AffectGPT output (object-array name2reason, unicode filenames/fileitems) reads exactly as
    numpy's own loader reads it."""
    files = sorted(affectgpt_output.glob("results-*/*/*.npz"))
    assert len(files) == 9 * 2 + 4  # reason + openset per set, sentiment for the 4 MSA sets
    for path in files:
        ours = load_npz(path)
        with np.load(path, allow_pickle=True) as reference:
            assert sorted(ours) == sorted(reference.files)
            for key in reference.files:
                assert ours[key].dtype == reference[key].dtype
                assert ours[key].tolist() == reference[key].tolist()


def test_label_packages_with_numpy_scalars_load(tmp_path):
    corpus = {"a": {"emo": 1, "val": np.float64(0.5)}, "b": {"emo": "sad", "val": np.float32(-2.0), "x": [1, (2,)]}}
    path = tmp_path / "label.npz"
    np.savez_compressed(path, test_corpus=np.array(corpus, dtype=object), plain=np.arange(3))
    out = load_npz(path)
    assert out["test_corpus"].item() == corpus and out["plain"].tolist() == [0, 1, 2]


def test_not_an_npz_is_one_line(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    with pytest.raises(EmoxError, match="bad.npz: not a readable npz"):
        load_npz(bad)
    with pytest.raises(EmoxError, match="missing.npz: npz file not found"):
        load_npz(tmp_path / "missing.npz")
