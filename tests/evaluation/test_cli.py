"""``emox eval`` through the real CLI entry point: --json output and one-line errors with a non-zero exit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emox_cli.main import main


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run the CLI in-process; (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
        raise SystemExit(0)
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


@pytest.fixture()
def mintrec_files(anchors_dir, tmp_path) -> tuple[Path, Path]:
    ann = anchors_dir / "Nano-EmoX" / "data" / "MIntRec" / "test_MIntRec_ann.json"
    records = json.loads(ann.read_text())
    preds = tmp_path / "p.jsonl"
    preds.write_text(
        "".join(
            json.dumps({"id": Path(r["videos"][0]).stem, "task": "MIR", "prediction": r["messages"][1]["content"]})
            + "\n"
            for r in records
        )
    )
    return ann, preds


def test_help_comes_from_the_registry(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    code, out, _ = _run(["eval", "--help"], capsys)
    text = " ".join(out.split())
    assert code == 0
    for name in ("mer-unibench", "emer", "mintrec", "mintrec2", "avamerg", "--checkpoints", "--skip"):
        assert name in text
    assert "mintrec, mintrec2: Label matching" in text  # the option's help names the benchmarks that take it


def test_json_output(mintrec_files, tmp_path, capsys):
    ann, preds = mintrec_files
    code, out, _ = _run(
        [
            "eval",
            "mintrec",
            "--predictions",
            str(preds),
            "--ground-truth",
            str(ann),
            "--out",
            str(tmp_path / "o"),
            "--json",
        ],
        capsys,
    )
    assert code == 0
    assert json.loads(out) == {"accuracy": 100.0, "wf1": 100.0, "wp": 100.0}
    assert (tmp_path / "o" / "metrics.json").is_file()


def test_rich_table(mintrec_files, tmp_path, capsys):
    ann, preds = mintrec_files
    code, out, _ = _run(["eval", "mintrec", "-p", str(preds), "-g", str(ann), "-o", str(tmp_path / "o")], capsys)
    assert code == 0 and "58.17" in out and "chart" in out and "445/445" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["eval", "nope", "-p", "x.jsonl"], "unknown benchmark"),
        (["eval", "mintrec", "-p", "{tmp}/missing.jsonl", "-g", "{ann}"], "not found"),
        (["eval", "mintrec", "-p", "{tmp}/bad.csv", "-g", "{ann}"], "expected columns"),
        (["eval", "mintrec", "-p", "{tmp}/other.jsonl", "-g", "{ann}"], "no prediction id matches"),
        (["eval", "mintrec", "-p", "{tmp}/broken.jsonl", "-g", "{ann}"], "not a JSON object"),
        (["eval", "emer", "-p", "{tmp}/other.jsonl", "-g", "{tmp}/bad.csv"], "expected columns"),
        (["eval", "mer-unibench", "-p", "{tmp}/other.jsonl", "-g", "{tmp}/bad.csv"], "pass --subset"),
        (["eval", "mintrec", "--model", "{tmp}/nomodel", "--data", "{tmp}"], "without manifest-test.jsonl"),
        (["eval", "mintrec", "-p", "{tmp}/other.jsonl", "-g", "{ann}", "--wheels", "{tmp}"],
         "--wheels: not an option of mintrec (only mer-unibench)"),
        (["eval", "mintrec", "-p", "{tmp}/other.jsonl", "-g", "{ann}", "--match", "fuzzy"],
         "--match 'fuzzy': choose one of exact, lenient"),
        (["eval", "mintrec", "-p", "{tmp}/other.jsonl", "-g", "{ann}", "--checkpoints", "60-30"], "range is empty"),
        (["eval", "emer", "-p", "{tmp}/emer.jsonl", "-g", "{emer_gt}", "--judge", "hf:emox-test/not-cached-model"],
         "cannot load the model"),
    ],
)
def test_failure_modes_are_one_line(args, message, anchors_dir, tmp_path, capsys):
    ann = anchors_dir / "Nano-EmoX" / "data" / "MIntRec" / "test_MIntRec_ann.json"
    (tmp_path / "bad.csv").write_text("foo,bar\n1,2\n")
    (tmp_path / "other.jsonl").write_text('{"id": "zzz", "prediction": "Inform"}\n')
    (tmp_path / "broken.jsonl").write_text("{not json\n")
    (tmp_path / "emer.jsonl").write_text('{"id": "sample_00000648", "task": "ERI", "prediction": "angry"}\n')
    emer_gt = anchors_dir / "Nano-EmoX" / "data" / "EMER" / "gt-eng.csv"
    argv = [a.format(tmp=tmp_path, ann=ann, emer_gt=emer_gt) for a in args]
    code, _, err = _run(argv, capsys)
    assert code != 0
    assert err.count("\n") == 1 and message in err, err


def test_emer_folder_of_models_through_a_judge(anchors_dir, tmp_path, capsys):
    """Nano-EmoX's released EMER outputs (3 epochs) scored side by side via a loopback judge, then rescored
    from the cache without a single request."""
    from .fake_openai import FakeOpenAI

    folder = anchors_dir / "Nano-EmoX" / "output" / "ov-merd-eval" / "nano_emox"
    gt = anchors_dir / "Nano-EmoX" / "data" / "EMER" / "gt-eng.csv"

    def reply(prompt: str) -> str:
        return "愤怒" if "视频描述" in prompt else "'预测分数'：7；'原因'：..."

    argv = [
        "eval",
        "emer",
        "-p",
        str(folder),
        "-g",
        str(gt),
        "--cache-dir",
        str(tmp_path / "cache"),
        "-o",
        str(tmp_path / "o"),
        "--json",
    ]
    with FakeOpenAI(reply, max_requests=5000) as server:
        code, out, _ = _run([*argv, "--judge", server.url], capsys)
        first = len(server.bodies)
        code2, out2, _ = _run([*argv, "--judge", server.url], capsys)
        assert len(server.bodies) == first  # second run: all from the cache
    assert code == code2 == 0 and out == out2
    saved = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert [c["n"] for c in saved["groups"][0]["checkpoints"]] == [100, 100, 100]
    assert all(c["metrics"]["clue_overlap"] == 7.0 for c in saved["groups"][0]["checkpoints"])
    assert saved["rows"][0]["metric"] == "Clue Overlap (best of 3)"
    # per model 100 clue + 100 summary calls; the 100 gt summaries are shared, and every label-overlap prompt
    # is the same ("愤怒" vs "愤怒") so it is asked once
    assert first == 3 * 200 + 100 + 1
    judge = saved["provenance"]["judges"][0]
    assert judge["endpoint"] == server.url and judge["model"] == "gpt-3.5-turbo-0125"
    assert judge["cache_hits"] == judge["prompts_answered"] == 3 * 400  # the second run: all from the cache


def test_partial_coverage_is_a_warning(anchors_dir, tmp_path, capsys):
    """EMER scored on 1 of 100 samples: the official script does it silently, emox says so."""
    from .fake_openai import FakeOpenAI

    gt = anchors_dir / "Nano-EmoX" / "data" / "EMER" / "gt-eng.csv"
    preds = tmp_path / "p.jsonl"
    preds.write_text('{"id": "emer:sample_00000648:ERI", "dataset": "emer", "task": "ERI", "prediction": "angry"}\n')
    with FakeOpenAI(lambda p: "'预测分数'：5") as server:
        code, out, err = _run(["eval", "emer", "-p", str(preds), "-g", str(gt), "--judge", server.url, "--cache-dir",
                               str(tmp_path / "c"), "-o", str(tmp_path / "o"), "--json"], capsys)
    assert code == 0 and json.loads(out) == {"clue_overlap": 5.0, "label_overlap": 5.0}
    assert err == "emox: warning: p.jsonl: scored 1 of 100 ground-truth samples (1.0% coverage)\n"
    saved = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert saved["rows"][0]["n"] == 1 and saved["rows"][0]["n_expected"] == 100
    assert saved["warnings"] == [err.removeprefix("emox: warning: ").strip()]


def test_metrics_json_says_how_the_result_was_made(mintrec_files, tmp_path, capsys):
    import hashlib

    import emox_core

    ann, preds = mintrec_files
    code, _, _ = _run(["eval", "mintrec", "-p", str(preds), "-g", str(ann), "-o", str(tmp_path / "o")], capsys)
    assert code == 0
    saved = json.loads((tmp_path / "o" / "metrics.json").read_text())
    prov = saved["provenance"]
    assert prov["protocol"] == saved["protocol"] == "nano-emox-b08f985/2"
    assert prov["versions"]["emox"] == emox_core.__version__ and prov["versions"]["scikit-learn"]
    for kind, path in (("predictions", preds), ("ground_truth", ann)):
        (entry,) = prov["files"][kind]
        assert entry == {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    assert saved["unit"] == "percent"
    assert saved["settings"]["options"] == {"--match": "exact", "--normalize": "official"}
    assert saved["rows"][0]["n"] == saved["rows"][0]["n_expected"] == 445
