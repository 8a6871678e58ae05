"""``emox train`` checks everything a recipe needs before it builds the model (issue 16 §2): backbones offline,
every manifest and its clips, the previous phase's output, free disk; one table of what is missing, each with the
command that creates it, exit 1. And one warning line when the clips a run reads are not in the media cache for
its model's settings (issue 16 §6)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from emox_core.training.prerequisites import check_prerequisites, media_cache_gaps
from emox_core.training.recipe import load_recipe
from tests.conftest import run_emox
from tests.training.conftest import tiny_overrides


def _missing(recipe_name: str, *overrides: str) -> dict[str, tuple[str, str]]:
    return {m.what: (m.problem, m.fix) for m in check_prerequisites(load_recipe(recipe_name, list(overrides)))}


def test_the_real_phase_2_on_a_fresh_machine_lists_everything_with_its_command(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    missing = _missing("p2e-phase2")
    assert list(missing) == ["backbone vision", "backbone speech", "backbone face", "backbone text",
                             "model.init_from", "data.mintrec", "data.mintrec2"]
    assert missing["backbone text"] == (
        "Qwen/Qwen2.5-1.5B-Instruct: not in the hub cache, and the hub is offline",
        "hf download Qwen/Qwen2.5-1.5B-Instruct (with the hub on), or model.backbones.text=DIR")
    assert missing["backbone face"][1].startswith("hf download kartiknarayan/facexformer ckpts/model.pt")
    assert missing["model.init_from"] == ("runs/p2e-phase1-visual: no adapters.safetensors (the previous "
                                          "phase's output)", "emox train --phase 1.2")
    assert missing["data.mintrec"] == ("data/mintrec/manifest-train.jsonl: manifest not found",
                                       "emox prepare mintrec RAW data/mintrec")
    assert missing["data.mintrec2"][1] == "emox prepare mintrec2 RAW data/mintrec2"


def test_local_backbones_clips_and_a_named_previous_recipe(corpus: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert _missing("tiny/p2e-phase2", f"data.synthetic.data_root={corpus}", "data.synthetic.synthetic=null") == {
        "model.init_from": ("runs/tiny/phase1-visual: no adapters.safetensors (the previous phase's output)",
                            "emox train --recipe tiny/p2e-phase1-visual")}
    (tmp_path / "moved").mkdir()
    shutil.copy(corpus / "manifest.jsonl", tmp_path / "moved" / "manifest.jsonl")  # clips left behind
    missing = _missing("tiny/p2e-phase1-speech", f"data.synthetic.data_root={tmp_path / 'moved'}",
                       "data.synthetic.synthetic=null", f"model.backbones.text={tmp_path / 'no-lm'}")
    assert missing["backbone text"] == (f"{tmp_path / 'no-lm'}: no such file or directory", "model.backbones.text=DIR")
    problem, fix = missing["data.synthetic clips"]
    assert problem.startswith(f"48 of 48 media files missing under {tmp_path / 'moved'} (e.g. ")
    assert fix == "data.synthetic.data_root=DIR (the RAW_DIR given to emox prepare)"


def test_ready_recipe_and_a_full_disk(corpus: Path, feature_dir: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = load_recipe("tiny/p2e-phase3", tiny_overrides(corpus, feature_dir, tmp_path / "run"))
    assert check_prerequisites(recipe) == []
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    (disk,) = check_prerequisites(recipe)
    assert disk.what == "disk" and disk.problem.startswith("0 MB free under ") and "save_total_limit=1" in disk.fix


def test_the_cli_prints_one_table_and_builds_nothing(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    def no_build(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was built before the prerequisites were checked")

    monkeypatch.setattr("emox_core.training.trainer.build_recipe_model", no_build)
    monkeypatch.setenv("COLUMNS", "200")
    output = tmp_path / "run"
    code = run_emox("train", "--recipe", "tiny/p2e-phase2", f"output_dir={output}",
                    f"model.init_from={tmp_path / 'phase1'}", f"data.synthetic.data_root={tmp_path / 'none'}",
                    "data.synthetic.synthetic=null")
    err = capsys.readouterr().err
    assert code == 1 and not output.exists()
    assert "missing before training can start" in err and "Traceback" not in err
    assert "model.init_from" in err and "data.synthetic" in err and "manifest not found" in err
    assert err.count("emox: error:") == 1 and "nothing was built or written" in err


def test_the_media_cache_warning_counts_clips_missing_for_the_models_settings(corpus: Path, tmp_path: Path) -> None:
    from emox_core.media.prepare import jobs_from_folder, prepare_media
    from emox_core.training.prerequisites import recipe_media_settings

    recipe = load_recipe("tiny/p2e-phase3", [f"data.synthetic.data_root={corpus}", "data.synthetic.synthetic=null",
                                             f"media_cache={tmp_path / 'media'}", "feature_cache=null"])
    settings = recipe_media_settings(recipe)
    assert (settings.frames, settings.image_size) == (8, 32)  # the tiny model's, not the official 224
    jobs = jobs_from_folder(corpus / "clips")
    prepare_media(jobs[:40], tmp_path / "media", settings.__class__(frames=4, image_size=32), workers=1,
                  progress=False)
    gaps = media_cache_gaps(recipe)
    assert gaps is not None and gaps.startswith(f"48 of the 48 clips this run reads are not in the media cache "
                                                f"{tmp_path / 'media'} for this model's settings (8 frames, 32 px")
    assert ", 40 of them cached with other media settings:" in gaps and "--recipe tiny/p2e-phase3" in gaps
    prepare_media(jobs[:45], tmp_path / "media", settings, workers=1, progress=False)
    assert media_cache_gaps(recipe).startswith("3 of the 48 clips")  # type: ignore[union-attr]
    prepare_media(jobs, tmp_path / "media", settings, workers=1, progress=False)
    assert media_cache_gaps(recipe) is None
