"""Batch inference over a manifest: left-padded batches, bad clips skipped, resume after a crash."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch

from emox_core.errors import EmoxError
from emox_core.inference import GenerationSettings, PredictionsFile, predict_manifest, validate_prediction
from tests.inference.conftest import MAX_NEW_TOKENS, read_jsonl, subprocess_env

SHORT = GenerationSettings(max_new_tokens=MAX_NEW_TOKENS)
GOOD_IDS = ["s1", "s2", "s3", "s4", "s5"]


def test_manifest_batch_then_rerun(model_dir: Path, manifest: Path) -> None:
    out = manifest.parent / "preds.jsonl"
    report = predict_manifest(model=str(model_dir), manifest=manifest, out_path=out, batch_size=2, settings=SHORT,
                              device="cpu")
    records = read_jsonl(out)
    assert sorted(r["id"] for r in records) == GOOD_IDS
    for record in records:
        validate_prediction(record)
        assert record["dataset"] == "synthetic"
    assert {r["id"]: r["media"]["missing"] for r in records}["s2"] == ["audio"]
    assert (report.total, report.written, report.skipped) == (6, 5, 0)
    assert [sample_id for sample_id, _ in report.failed] == ["bad"]
    assert report.failures_path is not None and "not a readable video" in report.failures_path.read_text()
    again = predict_manifest(model=str(model_dir), manifest=manifest.parent, out_path=out, batch_size=2,
                             settings=SHORT, device="cpu")  # a prepared folder works as the manifest too
    assert (again.written, again.skipped, len(again.failed)) == (0, 5, 1)
    assert len(read_jsonl(out)) == 5


def test_the_evaluation_call_signature(model_dir: Path, clips: dict[str, Path], tmp_path: Path) -> None:
    from emox_core.data.manifest import Sample, write_manifest

    path = tmp_path / "m.jsonl"
    write_manifest(path, [Sample(id="a", task="MSA", split="test", dataset="cmumosi", target="",
                                 media={"video": clips["short"].name, "audio": None})])
    (tmp_path / "stats.json").write_text(f'{{"data_root": "{clips["short"].parent}"}}')
    predict_manifest(model=str(model_dir), manifest=path, out_path=tmp_path / "raw-predictions.jsonl", batch_size=8)
    assert [r["id"] for r in read_jsonl(tmp_path / "raw-predictions.jsonl")] == ["a"]


KILLER = textwrap.dedent("""
    import os, signal, sys
    from emox_core.inference import GenerationSettings, predict_manifest

    def on_batch(report):
        if report.written >= 2:
            with open(sys.argv[3], "a") as handle:
                handle.write('{"id": "s9", "task": "MER", "predic')  # a write torn by the crash
            os.kill(os.getpid(), signal.SIGKILL)

    predict_manifest(model=sys.argv[1], manifest=sys.argv[2], out_path=sys.argv[3], batch_size=2, device="cpu",
                     settings=GenerationSettings(max_new_tokens=4), on_batch=on_batch)
""")


def test_killed_run_resumes_with_each_id_once(model_dir: Path, manifest: Path) -> None:
    out = manifest.parent / "preds.jsonl"
    killed = subprocess.run([sys.executable, "-c", KILLER, str(model_dir), str(manifest), str(out)],
                            capture_output=True, text=True, timeout=300, env=subprocess_env())
    assert killed.returncode == -9, killed.stderr
    before = out.read_text()
    finished = len(before.split("\n")) - 1  # complete lines; the last one is torn
    assert not before.endswith("\n") and 2 <= finished < 5
    report = predict_manifest(model=str(model_dir), manifest=manifest, out_path=out, batch_size=2, settings=SHORT,
                              device="cpu")
    ids = [r["id"] for r in read_jsonl(out)]
    assert sorted(ids) == GOOD_IDS and len(ids) == len(set(ids))
    assert (report.skipped, report.written) == (finished, 5 - finished)


def test_a_corrupt_line_in_the_middle_is_an_error(tmp_path: Path) -> None:
    out = tmp_path / "preds.jsonl"
    a, b = (json.dumps({"id": i, "task": "MER", "prediction": "happy"}) + "\n" for i in "ab")
    out.write_text(a + "not json\n" + b)
    with pytest.raises(EmoxError, match=r"preds.jsonl:2: not a prediction line"):
        PredictionsFile(out)
    out.write_text(a + "\n" + b + '{"id": "c", "pr')
    assert PredictionsFile(out).done == {"a", "b"}
    assert out.read_text() == a + "\n" + b


def test_left_padded_batch_matches_one_by_one(loaded: tuple[Any, Any], clips: dict[str, Path]) -> None:
    from emox_core.inference import clip_sample, extract_media
    from emox_core.samples import sample_to_example

    model, processor = loaded
    names = ("normal", "short", "no_audio")
    subtitles = ("Hi.", "This is a much longer subtitle, so the prompts differ in length.", "")
    examples = [sample_to_example(clip_sample(clips[n], "ERI", subtitle=s), processor,
                                  extract_media(clips[n], processor), with_target=False)
                for n, s in zip(names, subtitles, strict=True)]
    kwargs = GenerationSettings(max_new_tokens=MAX_NEW_TOKENS).generate_kwargs("ERI", processor)
    batched = model.generate(**processor(examples, padding_side="left"), **kwargs)
    for row, example in zip(batched, examples, strict=True):
        single = model.generate(**processor([example], padding_side="left"), **kwargs)[0]
        assert torch.equal(row[: len(single)], single)
