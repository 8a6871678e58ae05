"""The prepare report counts the clips whose dataset wav is missing (issue 10 §5): the model then hears the
video's own track, while the official loaders read the dataset's 16 kHz wav."""

from __future__ import annotations

from pathlib import Path

import pytest

from emox_core.data.common import AUDIO_FALLBACK
from emox_core.data.registry import prepare


def _mer_caption_plus(root: Path, put_media) -> None:
    root.mkdir()
    (root / "track2_train_mercaptionplus.csv").write_text("name,openset\na,[happy]\nb,[sad]\nc,[]\n")
    (root / "track3_train_mercaptionplus.csv").write_text("name,reason\na,Smiles.\nb,Frowns.\nc,Calm.\n")
    put_media(root, "video/video/a.mp4", "video/video/b.mp4", "video/video/c.mp4", "audio/a.wav")


def test_clips_without_their_wav_are_counted_once(tmp_path: Path, put_media) -> None:
    _mer_caption_plus(tmp_path / "raw", put_media)
    report = prepare("mer-caption-plus", tmp_path / "raw", tmp_path / "out")
    assert report.stats[AUDIO_FALLBACK] == 2  # b and c, each feeding OV-MER and ERI
    assert f"{AUDIO_FALLBACK}: 2 item(s) (first: b (in audio))" in report.warnings


def test_the_cli_report_says_so(tmp_path: Path, put_media, capsys: pytest.CaptureFixture[str]) -> None:
    from emox_cli.main import main

    _mer_caption_plus(tmp_path / "raw", put_media)
    main(["prepare", "mer-caption-plus", str(tmp_path / "raw"), str(tmp_path / "out")])
    out = " ".join(capsys.readouterr().out.split())
    assert "audio from the video's track, the dataset's wav not found" in out


def test_datasets_without_wavs_report_nothing(tmp_path: Path, put_media) -> None:
    root = tmp_path / "CAER"
    put_media(root, "train/Happy/0001.avi", "test/Sad/0002.avi")
    report = prepare("caer", root, tmp_path / "out")
    assert AUDIO_FALLBACK not in report.stats


def test_avamerg_says_the_video_track_is_used_not_that_the_clip_has_no_audio(
        tmp_path: Path, put_media, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 16 §4: a turn whose wav is missing is heard through its video's own track (the sample keeps its
    audio), so the report says that, not "kept without audio"."""
    import json

    from emox_cli.main import main

    root = tmp_path / "AvaMERG"
    root.mkdir()
    profile = {"age": "young", "gender": "female", "timbre": "mid", "ID": 11}
    conversation = {"conversation_id": "00042", "speaker_profile": profile, "listener_profile": {**profile, "ID": 4},
                    "turns": [{"turn_id": "0", "context": "A storm.", "response": "Are you safe?",
                               "dialogue_history": [{"index": 0, "role": "speaker", "utterance": "I'm scared."}]}]}
    (root / "train.json").write_text(json.dumps([conversation]))
    put_media(root, "video_v5_0/dia00042utt0_11.mp4")  # no audio_v5_0/dia00042utt0_11.wav
    main(["prepare", "avamerg", str(root), str(tmp_path / "out")])
    out = " ".join(capsys.readouterr().out.split())
    assert f"{AUDIO_FALLBACK}: 1 item(s) (first: dia00042utt0_*.wav)" in out
    assert "without audio" not in out
