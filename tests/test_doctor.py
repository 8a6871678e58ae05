"""``emox doctor`` (issue 16 §3): one line per check with ok/warn/fail, exit 1 when a check fails; backbones found
in the hub cache or a local folder with their sizes, offline variables, broken tools and a full disk reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emox_core import doctor
from tests.conftest import run_emox


def _by_name(checks: list[doctor.Check]) -> dict[str, doctor.Check]:
    return {check.name: check for check in checks}


def test_the_tiny_preset_is_ready_on_this_machine(tmp_path: Path) -> None:
    checks = _by_name(doctor.run_checks("tiny", media_cache=tmp_path / "media", feature_cache=tmp_path / "f"))
    for name in ("emox", "torch", "ffmpeg (imageio-ffmpeg)", "decord (video frames)", "face detector (OpenCV Haar)",
                 "backbone vision (tiny)", "backbone text (tiny)", "Hugging Face hub", "free disk: media cache",
                 "free disk: feature cache"):
        assert checks[name].status in ("ok", "warn"), checks[name]
    assert "seeded random weights" in checks["backbone face (tiny)"].detail
    assert checks["ffmpeg (imageio-ffmpeg)"].detail.startswith("ffmpeg version")
    assert not doctor.failed(list(checks.values()))


def test_backbones_from_the_hub_cache_a_local_folder_or_missing(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    hub = tmp_path / "hub"
    snapshot = hub / "models--org--clip" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (snapshot / "model.safetensors").write_bytes(b"\0" * 3_000_000)
    (hub / "models--org--clip" / "refs").mkdir()
    (hub / "models--org--clip" / "refs" / "main").write_text("abc123")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    local = tmp_path / "hubert"
    local.mkdir()
    (local / "config.json").write_text("{}")
    (local / "model.safetensors").write_bytes(b"\0" * 2_000_000)
    checks = _by_name(doctor.run_checks("nano-emox-2b", {"vision": "org/clip", "speech": str(local)},
                                        media_cache=tmp_path))
    vision, speech, text = (checks[f"backbone {n} (nano-emox-2b)"] for n in ("vision", "speech", "text"))
    assert vision.status == "ok" and "hub cache" in vision.detail and vision.detail.endswith("), 3.0 MB")
    assert speech.status == "ok" and speech.detail == f"{local}: local directory, 2.0 MB"
    assert text.status == "fail" and "Qwen/Qwen2.5-1.5B-Instruct: not in the hub cache, and the hub is offline" \
        in text.detail
    assert doctor.failed(list(checks.values()))
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    online = _by_name(doctor.run_checks("nano-emox-2b", media_cache=tmp_path))
    assert online["backbone text (nano-emox-2b)"].status == "warn"  # downloaded on first use
    assert "online" in online["Hugging Face hub"].detail


def test_a_broken_tool_and_a_full_disk_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    def broken() -> str:
        raise RuntimeError("no ffmpeg binary for this platform\nmore")

    monkeypatch.setattr("emox_core.media.decode.ffmpeg_exe", broken)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**12, 10**12 - 10**8, 10**8))
    checks = _by_name(doctor.run_checks("tiny", media_cache=tmp_path))
    assert checks["ffmpeg (imageio-ffmpeg)"] == doctor.Check("ffmpeg (imageio-ffmpeg)", "fail",
                                                             "RuntimeError: no ffmpeg binary for this platform")
    disk = checks["free disk: media cache"]
    assert disk.status == "fail" and disk.detail == f"100.0 MB free for {tmp_path}"


def test_the_cli_prints_a_table_or_json_and_exits_1_on_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    assert run_emox("doctor", "--preset", "tiny", "--media-cache", tmp_path) == 0
    out = capsys.readouterr().out
    assert "emox doctor" in out and "backbone speech (tiny)" in out and "fail" not in out
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert run_emox("doctor", "--json", "--backbone", f"text={tmp_path / 'nowhere'}", "--media-cache", tmp_path) == 1
    report = json.loads(capsys.readouterr().out)
    text = next(c for c in report["checks"] if c["name"] == "backbone text (nano-emox-2b)")
    assert report["ok"] is False and text == {"name": "backbone text (nano-emox-2b)", "status": "fail",
                                              "detail": f"{tmp_path / 'nowhere'}: no such file or directory"}
    assert run_emox("doctor", "--backbone", "ears=x") == 1
    assert "--backbone 'ears=x'" in capsys.readouterr().err


def test_a_recipe_names_the_preset_and_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_emox("doctor", "--recipe", "tiny/p2e-phase3", "--json") == 0
    names = [c["name"] for c in json.loads(capsys.readouterr().out)["checks"]]
    assert "backbone text (tiny)" in names and "free disk: feature cache" in names
