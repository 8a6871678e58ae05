"""The manifest format: round trip, versioning, clear errors, escapes refused, loading through datasets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emox_core.data.manifest import (
    SCHEMA_VERSION,
    Sample,
    load_manifest_dataset,
    read_manifest,
    write_manifest,
)
from emox_core.errors import EmoxError


def _sample(**changes: object) -> Sample:
    fields: dict = dict(
        id="d:clip1:MER", task="MER", split="train", dataset="d", media={"video": "video/clip1.mp4", "audio": None},
        target="The most likely label is sad.", subtitle="hi", prompt_fields={"candidate_labels": "sad, happy"},
        labels=["sad"], meta={"source_id": "clip1"},
    )
    fields.update(changes)
    return Sample(**fields)


def _erg() -> Sample:
    return _sample(id="d:c_1:ERG", task="ERG", history=[{"role": "speaker", "text": "a"}],
                   prompt_fields={"context": "c", "current_user_input": "q"}, labels=[], meta={"turn_id": "1"},
                   media={"video": "v/c.mp4", "audio": "a/c.wav"})


def test_round_trip_and_version_field(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    assert write_manifest(path, [_sample(), _erg()]) == 2
    first = json.loads(path.read_text().splitlines()[0])
    assert first["schema_version"] == SCHEMA_VERSION
    assert read_manifest(path) == [_sample(), _erg()]


@pytest.mark.parametrize(("line", "message"), [
    ({"schema_version": 2}, "schema_version 2 is not supported"),
    ({"schema_version": None}, "schema_version None is not supported"),
    ({"task": "XYZ"}, "task 'XYZ' is not one of"),
    ({"split": "dev"}, "split 'dev'"),
    ({"media": {"video": "/abs/clip.mp4", "audio": None}}, "must be relative to the data root"),
    ({"media": {"video": "../outside.mp4", "audio": None}}, "without '..'"),
    ({"media": {"video": None, "audio": None}}, "neither video nor audio"),
    ({"history": [{"role": "bot", "text": "x"}]}, "field 'history'"),
    ({"prompt_fields": {"foo": "x"}}, "unknown prompt field 'foo'"),
    ({"extra": 1}, "unknown field 'extra'"),
])
def test_bad_line_is_named_by_file_and_line(tmp_path: Path, line: dict, message: str) -> None:
    good = _sample().to_dict()
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(good) + "\n\n" + json.dumps({**_erg().to_dict(), **line}) + "\n")
    with pytest.raises(EmoxError) as err:
        read_manifest(path)
    assert str(err.value).startswith(f"{path}:3: ") and message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_field_and_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    record = _sample().to_dict()
    del record["target"]
    path.write_text(json.dumps(record) + "\n")
    with pytest.raises(EmoxError, match=r"m\.jsonl:1: .*'target'"):
        read_manifest(path)
    path.write_text("{not json\n")
    with pytest.raises(EmoxError, match=r"m\.jsonl:1: not valid JSON"):
        read_manifest(path)


def test_duplicate_ids_and_invalid_samples_are_not_written(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    with pytest.raises(EmoxError, match="duplicate sample id"):
        write_manifest(path, [_sample(), _sample()])
    with pytest.raises(EmoxError, match="must be relative"):
        write_manifest(path, [_sample(media={"video": "/home/lab00/x.mp4", "audio": None})])
    assert not path.exists()


def test_media_path_resolves_under_the_data_root(tmp_path: Path) -> None:
    assert _sample().media_path(tmp_path) == (tmp_path / "video" / "clip1.mp4").resolve()
    assert _sample().media_path(tmp_path, "audio") is None


def test_load_through_datasets(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    write_manifest(path, [_sample(), _erg()])
    ds = load_manifest_dataset(path, cache_dir=tmp_path / "cache")
    assert ds.num_rows == 2 and ds[1]["task"] == "ERG"
    assert ds[1]["prompt_fields"] == {"context": "c", "current_user_input": "q"}
    assert ds[0]["media"] == {"video": "video/clip1.mp4", "audio": None}
    assert ds[1]["history"] == [{"role": "speaker", "text": "a"}]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({**_sample().to_dict(), "schema_version": 9}) + "\n")
    with pytest.raises(EmoxError, match=r"bad\.jsonl:1: manifest schema_version 9"):
        load_manifest_dataset([path, bad], cache_dir=tmp_path / "cache")
