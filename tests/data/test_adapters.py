"""Every non-AvaMERG adapter on a small tree shaped like its real download."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from emox_core.data.manifest import read_manifest
from emox_core.data.registry import ADAPTERS, get_adapter, prepare
from emox_core.errors import EmoxError
from emox_core.tasks import CAER_FERV39K_LABELS, MINTREC2_CANDIDATE_STRING

from .helpers import write_json, write_npz


def _messages(user: str, label: str, key: str, path: str) -> dict:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": label}], key: [path]}


def _run(name: str, root: Path, out: Path, **kwargs: object):
    report = prepare(name, root, out, **kwargs)
    return report, {split: read_manifest(path) for split, path in report.manifests.items()}


def test_registry_names() -> None:
    assert list(ADAPTERS) == [
        "avamerg", "mer-caption-plus", "merr-fine", "emer", "mintrec", "mintrec2", "crema-d", "m3ed", "caer", "ferv39k",
        "mer2023", "mer2024", "meld", "iemocap", "mosi", "mosei", "sims", "simsv2", "ov-merd-plus",
    ]
    with pytest.raises(EmoxError, match="unknown dataset 'nope'"):
        get_adapter("nope")


# --- MIntRec / MIntRec2.0 ---------------------------------------------------------------------------------

def test_mintrec_official_json(anchors_dir: Path, tmp_path: Path, put_media) -> None:
    root = tmp_path / "MIntRec"
    for name in ("train_MIntRec_ann.json", "test_MIntRec_ann.json"):
        root.mkdir(exist_ok=True)
        shutil.copyfile(anchors_dir / "Nano-EmoX" / name, root / name)
    put_media(root, "video/S05_E16_329.mp4", "video/S06_E06_589.mp4", "video/S06_E02_25.mp4",
              "video/S05_E16_219.mp4", "video/S05_E19_506.mp4", "video/S05_E10_325.mp4",
              "video/S06_E04_70.mp4", "video/S05_E18_121.mp4", "video/S04_E13_377.mp4", "video/S05_E07_525.mp4",
              "audio/S05_E16_329.wav")
    report, manifests = _run("mintrec", root, tmp_path / "out")
    train, test = manifests["train"], manifests["test"]
    assert [s.meta["source_id"] for s in test] == ["S06_E04_70", "S05_E18_121", "S04_E13_377", "S05_E07_525"]
    first = train[0]
    assert first.task == "MIR" and first.target == "Inform" and first.labels == ["Inform"]
    assert first.subtitle == "apparently, teens are drinking the slushie stuff inside of these for the alcohol."
    assert first.media == {"video": "video/S05_E16_329.mp4", "audio": "audio/S05_E16_329.wav"}
    assert first.prompt_fields["candidate_labels"].startswith("complain, praise, apologise")
    assert "train: expected 1779 mintrec items (official size), found 6" in report.warnings
    assert "test: expected 445 mintrec items (official size), found 4" in report.warnings


def test_mintrec2_official_json(anchors_dir: Path, tmp_path: Path, put_media) -> None:
    root = tmp_path / "MIntRec2"
    root.mkdir()
    shutil.copyfile(anchors_dir / "Nano-EmoX" / "test_MIntRec2_ann.json", root / "test_MIntRec2_ann.json")
    put_media(root, *(f"video/dia15_utt{u}.mp4" for u in (0, 1, 3, 4)))
    report, manifests = _run("mintrec2", root, tmp_path / "out", split="test")
    assert [s.target for s in manifests["test"]] == ["Thank", "Praise", "Confirm", "Agree"]
    assert manifests["test"][0].prompt_fields == {"candidate_labels": MINTREC2_CANDIDATE_STRING}
    assert report.labels["test"] == {"Thank": 1, "Praise": 1, "Confirm": 1, "Agree": 1}


def test_mintrec_canonical_tsv_and_unknown_intent(tmp_path: Path, put_media) -> None:
    root = tmp_path / "MIntRec"
    root.mkdir()
    (root / "train.tsv").write_text("season\tepisode\tclip\ttext\tlabel\nS05\tE16\t329\thello there\tGreet\n"
                                    "S05\tE16\t330\tmissing clip\tThank\n")
    (root / "dev.tsv").write_text("season\tepisode\tclip\ttext\tlabel\nS01\tE01\t1\tsorry\tApologise\n")
    put_media(root, "video/S05_E16_329.mp4", "video/S01_E01_1.mp4")
    report, manifests = _run("mintrec", root, tmp_path / "out")
    assert set(manifests) == {"train", "valid"}
    assert manifests["train"][0].id == "mintrec:S05_E16_329:MIR" and manifests["valid"][0].target == "Apologise"
    assert any("video not found" in w and "S05_E16_330" in w for w in report.warnings)
    (root / "test.tsv").write_text("season\tepisode\tclip\ttext\tlabel\nS01\tE01\t2\thm\tDance\n")
    with pytest.raises(EmoxError, match=r"test\.tsv: row 2: label 'Dance' is not in the official vocabulary"):
        prepare("mintrec", root, tmp_path / "out2", split="test")


def test_mintrec2_canonical_skips_out_of_scope(tmp_path: Path, put_media) -> None:
    root = tmp_path / "MIntRec2.0"
    (root / "in-scope").mkdir(parents=True)
    (root / "in-scope" / "train.tsv").write_text(
        "Dialogue_id\tUtterance_id\tText\tLabel\n0\t0\twelcome emma\tIntroduce\n0\t1\twhat?\tUNK\n"
        "0\t2\tcan you help me\tAsk for help\n")
    put_media(root, "video/dia0_utt0.mp4", "video/dia0_utt1.mp4", "video/dia0_utt2.mp4")
    _, manifests = _run("mintrec2", root, tmp_path / "out")
    assert [s.target for s in manifests["train"]] == ["Introduce", "Ask for help"]


# --- CREMA-D / M3ED (audio, phase 1.1) -------------------------------------------------------------------

def test_crema_d_official_json(anchors_dir: Path, tmp_path: Path, put_media) -> None:
    root = tmp_path / "crema_d"
    root.mkdir()
    shutil.copyfile(anchors_dir / "Nano-EmoX" / "crema_d_annotations.json", root / "crema_d_annotations.json")
    put_media(root, *(f"audio/{c}_1001_DFA_{k}_XX.wav" for c, k in
                      (("Anger", "ANG"), ("Disgust", "DIS"), ("Fear", "FEA"), ("Happy", "HAP"), ("Neutral", "NEU"),
                       ("Sad", "SAD"))))
    report, manifests = _run("crema-d", root, tmp_path / "out")
    first = manifests["train"][0]
    assert first.media == {"video": None, "audio": "audio/Anger_1001_DFA_ANG_XX.wav"}
    assert first.target == "The most likely label is anger." and first.task == "MER"
    assert first.prompt_fields == {"candidate_labels": "anger, disgust, fear, happy, neutral, sad"}
    assert "train: expected 7442 crema-d items (official size), found 6" in report.warnings


def test_crema_d_canonical_audiowav(tmp_path: Path, put_media) -> None:
    root = tmp_path / "CREMA-D"
    put_media(root, "AudioWAV/1001_DFA_HAP_XX.wav", "AudioWAV/1002_IEO_SAD_HI.wav")
    _, manifests = _run("crema-d", root, tmp_path / "out")
    assert [(s.meta["source_id"], s.labels) for s in manifests["train"]] == [
        ("1001_DFA_HAP_XX", ["happy"]), ("1002_IEO_SAD_HI", ["sad"])]
    put_media(root, "AudioWAV/1003_XYZ_BAD_XX.wav")
    with pytest.raises(EmoxError, match="1003_XYZ_BAD_XX.wav: expected"):
        prepare("crema-d", root, tmp_path / "out")


def test_m3ed_messages_json_and_canonical(tmp_path: Path, put_media) -> None:
    root = tmp_path / "M3ED"
    write_json(root / "m3ed_annotaton.json", [_messages("你好", "Happy", "audios", "/home/lab00/m3ed/A_anjia_1_1.wav")])
    put_media(root, "audio/A_anjia_1_1.wav")
    _, manifests = _run("m3ed", root, tmp_path / "out")
    sample = manifests["train"][0]
    assert sample.target == "The character's emotional state is Happy."
    assert sample.prompt_fields == {"question": "[Recognition] Please recognize the character's most likely "
                                                "emotional state."}
    canon = tmp_path / "M3ED-canonical"
    write_json(canon / "annotation.json", {"anjia": {"anjia_1": {"Dialog": {
        "anjia_1_1": {"Text": "t1", "Speaker": "A", "EmoAnnotation": {"final_main_emo": "Sad"}},
        "anjia_1_2": {"Text": "t2", "Speaker": "B", "EmoAnnotation": {"final_main_emo": "Neutral"}}}}}})
    (canon / "splitInfo").mkdir()
    for split in ("train", "val", "test"):
        (canon / "splitInfo" / f"movie_list_{split}.txt").write_text("anjia\n" if split == "test" else "")
    put_media(canon, "audio/A_anjia_1_1.wav", "audio/B_anjia_1_2.wav")
    report, manifests = _run("m3ed", canon, tmp_path / "out2", split="test")
    assert [s.target for s in manifests["test"]] == ["The character's emotional state is sad.",
                                                     "The character's emotional state is neutral."]


# --- CAER / FERV39K (visual, phase 1.2) --------------------------------------------------------------------

def test_caer_folders(tmp_path: Path, put_media) -> None:
    root = tmp_path / "CAER"
    put_media(root, "train/Anger/0001.avi", "train/Surprise/0001.avi", "test/Happy/0007.avi",
              "validation/Sad/0002.avi")
    report, manifests = _run("caer", root, tmp_path / "out")
    assert [(s.meta["source_id"], s.target) for s in manifests["train"]] == [
        ("train/Anger/0001", "The most likely label is anger."),
        ("train/Surprise/0001", "The most likely label is surprise.")]
    assert manifests["test"][0].media["video"] == "test/Happy/0007.avi"
    assert manifests["valid"][0].labels == ["sad"]
    assert manifests["test"][0].prompt_fields == {"candidate_labels": ", ".join(CAER_FERV39K_LABELS)}


def test_caer_ferv39k_merged_official_json(tmp_path: Path, put_media) -> None:
    root = tmp_path / "caer_ferv39k"
    write_json(root / "caer_ferv39k_ann.json", [_messages("", "fear", "videos", "/home/lab00/x/clip9.avi")])
    put_media(root, "video/clip9.avi")
    _, manifests = _run("caer", root, tmp_path / "out")
    assert manifests["train"][0].target == "The most likely label is fear."


def test_ferv39k_split_csv_with_frame_folders(tmp_path: Path) -> None:
    root = tmp_path / "FERV39k"
    (root / "4_setups" / "All_scenes").mkdir(parents=True)
    (root / "4_setups" / "All_scenes" / "train_All.csv").write_text("Action/Angry/0001 Angry\nAction/Sad/0010 Sad\n")
    (root / "4_setups" / "All_scenes" / "test_All.csv").write_text("Action/Happy/0003 Happy\n")
    for clip in ("Action/Angry/0001", "Action/Sad/0010", "Action/Happy/0003"):
        (root / "2_ClipsforFaceCrop" / clip).mkdir(parents=True)
        (root / "2_ClipsforFaceCrop" / clip / "1.jpg").write_bytes(b"\xff\xd8")
    _, manifests = _run("ferv39k", root, tmp_path / "out")
    assert [(s.media["video"], s.labels) for s in manifests["train"]] == [
        ("2_ClipsforFaceCrop/Action/Angry/0001", ["anger"]), ("2_ClipsforFaceCrop/Action/Sad/0010", ["sad"])]
    (root / "4_setups" / "All_scenes" / "test_All.csv").write_text("../../etc/passwd Happy\n")
    with pytest.raises(EmoxError, match="escapes the data root"):
        prepare("ferv39k", root, tmp_path / "out", split="test")


# --- MERR-Fine / MER-Caption+ (phase 3) ----------------------------------------------------------------------

def test_merr_fine_official_json(anchors_dir: Path, tmp_path: Path, put_media) -> None:
    root = tmp_path / "MER2023"
    root.mkdir()
    shutil.copyfile(anchors_dir / "Nano-EmoX" / "MERR_fine_grained.json", root / "MERR_fine_grained.json")
    put_media(root, "test3/sample_00000023.mp4", "test3/sample_00000046.avi", "audio/sample_00000023.wav",
              "test3/sample_00000047.mp4", "test3/sample_00000054.mp4", "test3/sample_00000069.mp4")
    report, manifests = _run("merr-fine", root, tmp_path / "out")
    first, second = manifests["train"][:2]
    assert first.task == "ERI" and first.target.startswith("In the video, a bald man displays a furrowed brow")
    assert first.labels == ["angry"] and first.subtitle == "I was originally trying to be quiet."
    assert first.media == {"video": "test3/sample_00000023.mp4", "audio": "audio/sample_00000023.wav"}
    assert second.media["video"] == "test3/sample_00000046.avi"
    assert report.labels["train"] == {"angry": 4, "surprise": 1}


def test_emer_test_set(anchors_dir: Path, tmp_path: Path, put_media) -> None:
    root = tmp_path / "MER2023"
    (root / "EMER").mkdir(parents=True)
    shutil.copyfile(anchors_dir / "Nano-EmoX" / "data" / "EMER" / "gt-eng.csv", root / "EMER" / "gt-eng.csv")
    put_media(root, "video/sample_00000648.avi", "video/sample_00000680.mp4")
    report, manifests = _run("emer", root, tmp_path / "out")
    first = manifests["test"][0]
    assert first.task == "ERI" and first.labels == ["angry"] and first.media["video"] == "video/sample_00000648.avi"
    assert first.target.startswith("In the video, he roared") and first.subtitle.startswith("Don't talk to me")
    assert any("skipped, video not found: 98 item(s)" in w for w in report.warnings)


def test_mer_caption_plus_gives_ov_and_eri(tmp_path: Path, put_media) -> None:
    root = tmp_path / "MER2025"
    root.mkdir()
    (root / "track2_train_mercaptionplus.csv").write_text(
        "name,openset\nsample_a,\"['worried', 'sad']\"\nsample_b,[]\n")
    (root / "track3_train_mercaptionplus.csv").write_text(
        "name,reason\nsample_a,\"He frowns, so he is worried.\"\nsample_b,Calm face.\n")
    (root / "subtitle_chieng.csv").write_text("name,chinese,english\nsample_a,你好,Hello.\nsample_b,,\n")
    put_media(root, "video/video/sample_a.mp4", "audio/sample_a.wav", "video/video/sample_b.mp4")
    report, manifests = _run("mer-caption-plus", root, tmp_path / "out")
    by_id = {s.id: s for s in manifests["train"]}
    assert by_id["mer-caption-plus:sample_a:OV-MER"].target == "The character's emotional state is worried, sad."
    assert by_id["mer-caption-plus:sample_b:OV-MER"].target == "The character's emotional state is neutral."
    eri = by_id["mer-caption-plus:sample_a:ERI"]
    assert eri.target == "He frowns, so he is worried." and eri.labels == ["worried", "sad"]
    assert eri.subtitle == "Hello." and eri.media["audio"] == "audio/sample_a.wav"
    assert report.samples == {"train": {"ERI": 2, "OV-MER": 2}}
    assert "train: expected 31327 mer-caption-plus items (official size), found 2" in report.warnings


# --- MER-UniBench test sets -----------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "transcripts", "size"), [
    ("mer2023", "transcription-engchi-polish.csv", 411), ("mer2024", "transcription_merge.csv", 1169)])
def test_mer2023_mer2024_discrete_labels(tmp_path: Path, put_media, name: str, transcripts: str, size: int) -> None:
    root = tmp_path / f"{name}-process"
    write_npz(root / "label-6way.npz", test1_corpus={"sample_1": {"emo": "worried", "val": -1.0},
                                                     "sample_2": {"emo": "happy", "val": 2.0}},
              train_corpus={"sample_9": {"emo": "sad"}})
    (root / transcripts).write_text("name,chinese,english\nsample_1,嗯,Hmm.\n")
    put_media(root, "video/sample_1.mp4", "audio/sample_1.wav", "video/sample_2.avi")
    report, manifests = _run(name, root, tmp_path / "out")
    assert list(manifests) == ["test"]
    first, second = manifests["test"]
    assert first.target == "The most likely label is worried." and first.subtitle == "Hmm."
    assert first.prompt_fields == {"candidate_labels": "neutral, angry, happy, sad, worried, surprise"}
    assert second.media == {"video": "video/sample_2.avi", "audio": None}
    assert f"test: expected {size} {name} items (official size), found 2" in report.warnings


def test_meld_and_iemocap_index_labels(tmp_path: Path, put_media) -> None:
    meld = tmp_path / "meld-process"
    write_npz(meld / "label.npz", test_corpus={"dia0_utt0": {"emo": 1, "val": 0}, "dia0_utt1": {"emo": 3}})
    put_media(meld, "subvideo/dia0_utt0.mp4", "subvideo/dia0_utt1.mp4")
    _, manifests = _run("meld", meld, tmp_path / "out")
    assert [s.labels for s in manifests["test"]] == [["joy"], ["neutral"]]
    iemocap = tmp_path / "iemocap-process"
    write_npz(iemocap / "label_4way.npz", whole_corpus={"Ses05F_impro01_F000": {"emo": 3},
                                                        "Ses01F_impro01_F000": {"emo": 0}})
    put_media(iemocap, "subvideo-tgt/Ses05F_impro01_F000.avi", "subvideo-tgt/Ses01F_impro01_F000.avi")
    report, manifests = _run("iemocap", iemocap, tmp_path / "out2")
    assert [(s.meta["source_id"], s.labels) for s in manifests["test"]] == [("Ses05F_impro01_F000", ["anger"])]
    write_npz(meld / "label.npz", test_corpus={"dia0_utt0": {"emo": 11}})
    with pytest.raises(EmoxError, match=r"label\.npz: test_corpus\['dia0_utt0'\]: label 11"):
        prepare("meld", meld, tmp_path / "out3")


@pytest.mark.parametrize("name", ["mosi", "mosei", "sims", "simsv2"])
def test_sentiment_sets(tmp_path: Path, put_media, name: str) -> None:
    root = tmp_path / name
    write_npz(root / "label.npz", test_corpus={"c1": {"val": 1.4}, "c2": {"val": -0.2}, "c3": {"val": 0.0}})
    folder = {"mosi": "subvideo", "mosei": "subvideo_new", "sims": "video", "simsv2": "video_new"}[name]
    put_media(root, *(f"{folder}/c{i}.mp4" for i in (1, 2, 3)))
    _, manifests = _run(name, root, tmp_path / "out")
    assert [(s.task, s.labels, s.meta["valence"]) for s in manifests["test"]] == [
        ("MSA", ["positive"], 1.4), ("MSA", ["negative"], -0.2), ("MSA", ["neutral"], 0.0)]
    assert manifests["test"][0].target == "The most likely label is positive."


def test_ov_merd_plus(tmp_path: Path, put_media) -> None:
    root = tmp_path / "MER2025"
    root.mkdir()
    (root / "mer2025-ov.csv").write_text("name,openset\nsample_x,\"[happy, relieved]\"\n")
    put_media(root, "video/video/sample_x.mp4")
    report, manifests = _run("ov-merd-plus", root, tmp_path / "out")
    assert manifests["test"][0].labels == ["happy", "relieved"] and manifests["test"][0].task == "OV-MER"
    assert "test: expected 532 ov-merd-plus items (official size), found 1" in report.warnings


def test_missing_label_key_is_a_clear_error(tmp_path: Path) -> None:
    write_npz(tmp_path / "label-6way.npz", train_corpus={})
    with pytest.raises(EmoxError, match="key 'test1_corpus' not found"):
        prepare("mer2024", tmp_path, tmp_path / "out")


# --- shared checks ------------------------------------------------------------------------------------------

def test_sha256_list_mismatch_is_a_warning_with_numbers(tmp_path: Path, put_media) -> None:
    root = tmp_path / "CREMA-D"
    put_media(root, "AudioWAV/1001_DFA_HAP_XX.wav")
    good = hashlib.sha256((root / "AudioWAV/1001_DFA_HAP_XX.wav").read_bytes()).hexdigest()
    sums = tmp_path / "SHA256SUMS"
    sums.write_text(f"{good}  AudioWAV/1001_DFA_HAP_XX.wav\n{'0' * 64}  AudioWAV/1001_DFA_HAP_XX.wav\n"
                    f"{'1' * 64} *AudioWAV/gone.wav\n")
    report = prepare("crema-d", root, tmp_path / "out", verify_sha256=sums)
    assert any(w.startswith("SHA-256 mismatch for 1 of 3 files (first: AudioWAV/1001_DFA_HAP_XX.wav") for w in
               report.warnings)
    assert any("names 1 of 3 files that are missing (first: AudioWAV/gone.wav)" in w for w in report.warnings)
    sums.write_text(f"{good}  ../outside.wav\n")
    with pytest.raises(EmoxError, match="escapes the data root"):
        prepare("crema-d", root, tmp_path / "out", verify_sha256=sums)


def test_split_errors(tmp_path: Path) -> None:
    write_json(tmp_path / "bare" / "test_MIntRec_ann.json", [_messages("hi", "Greet", "videos", "/x/S01_E01_1.mp4")])
    with pytest.raises(EmoxError, match=r"no mintrec samples found \(skipped, video not found: 1 item\(s\)"):
        prepare("mintrec", tmp_path / "bare", tmp_path / "out")
    tmp_path.joinpath("raw").mkdir()
    with pytest.raises(EmoxError, match="no annotation file found for any of train, valid, test"):
        prepare("mintrec", tmp_path / "raw", tmp_path / "out")
    with pytest.raises(EmoxError, match="split 'dev' is not available"):
        prepare("mintrec", tmp_path / "raw", tmp_path / "out", split="dev")
    with pytest.raises(EmoxError, match="raw dataset directory not found"):
        prepare("mintrec", tmp_path / "nope", tmp_path / "out")


def test_official_absolute_paths_use_only_the_basename(tmp_path: Path, put_media) -> None:
    root = tmp_path / "MIntRec"
    write_json(root / "test_MIntRec_ann.json",
               [_messages("hi", "Greet", "videos", "/home/lab00/hjh/dataset/MIntRec/video/S01_E01_1.mp4"),
                _messages("x", "Greet", "videos", "../../../../etc/S01_E01_2.mp4")])
    put_media(root, "video/S01_E01_1.mp4", "video/S01_E01_2.mp4")
    _, manifests = _run("mintrec", root, tmp_path / "out")
    assert [s.media["video"] for s in manifests["test"]] == ["video/S01_E01_1.mp4", "video/S01_E01_2.mp4"]
    write_json(root / "test_MIntRec_ann.json", [{"messages": [{"role": "user", "content": "x"}], "videos": ["a"]}])
    with pytest.raises(EmoxError, match=r"test_MIntRec_ann\.json: record #0: 'messages'"):
        prepare("mintrec", root, tmp_path / "out")
