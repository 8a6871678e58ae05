"""``emox eval BENCH -p PRED -g GT --json -o OUT`` on official-format files equals the official code to the last digit.

Every expected value below was computed by running the official code, unchanged, on the inputs that
``parity_cases.py`` builds (the test builds the same files): AffectGPT @ fffca794 ``evaluation-scoreonly.py``
``main_zeroshot_scores`` (with ``debug=True``: the LLM caches are present) and ``calculate_*_zeroshot`` for
MER-UniBench; Nano-EmoX @ b08f985 ``evaluation/eval_merg_exp.py`` (``evaluate_mintrec_metrics``,
``evaluate_avamerg_metrics`` and the functions they call) for MIntRec and AvaMERG; Nano-EmoX ``eval_ovmerd.py``
(``chatgpt_clue_scoring_main``/``chatgpt_label_scoring_main`` with ``parity_cases.emer_judge_reply`` as the
judge) for EMER. The official functions return fractions for MER-UniBench (emox reports them x 100) and
values rounded to 2 decimals for MIntRec/AvaMERG (emox keeps every digit; the unrounded values come from the
official helpers that compute them, or from the stated sklearn formula).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from . import parity_cases as pc
from .test_cli import _run

# AffectGPT main_zeroshot_scores -> (best main metric, ...) per set; calculate_*_zeroshot per checkpoint
MER_BEST = {
    "mer2023": 0.288816323046058,
    "meld": 0.25001691776701696,
    "sims": 0.454380178167935,
    "ovmerdplus": 0.31243090432805143,
}
MER_BEST_CHECKPOINT = {
    "mer2023": "checkpoint_000060_loss_0.060.npz",
    "meld": "checkpoint_000055_loss_0.055.npz",
    "sims": "checkpoint_000050_loss_0.050.npz",
    "ovmerdplus": "checkpoint_000050_loss_0.050.npz",
}
SIMS_BEST_ACCURACY = 0.5144230769230769
MER2023_PER_CHECKPOINT = {  # (hit rate, mscore)
    "checkpoint_000050_loss_0.050.npz": (0.2834080334656593, 0.1968988773637256),
    "checkpoint_000055_loss_0.055.npz": (0.2661629743458403, 0.18281825813520014),
    "checkpoint_000060_loss_0.060.npz": (0.288816323046058, 0.19012570965125708),
}
OV_PER_CHECKPOINT = {  # (F, precision, recall)
    "checkpoint_000050_loss_0.050.npz": (0.31243090432805143, 0.3238764261611363, 0.30181028816854394),
    "checkpoint_000055_loss_0.055.npz": (0.30995594828058615, 0.3227886749818115, 0.2981509140197468),
    "checkpoint_000060_loss_0.060.npz": (0.2956043303913641, 0.3171801994641775, 0.2768194245718746),
}
MER2023_TEST_EPOCHS_50_55 = 0.2834080334656593  # main_zeroshot_scores(test_epochs="50,55")

# Nano-EmoX evaluate_mintrec_metrics (rounded) and calculate_intent_accuracy / the f1/precision formula (unrounded)
MINTREC = {
    "checkpoint_000040_loss_0.040.npz": ((33.48, 49.35, 100.0), (33.48314606741573, 49.35205251651827, 100.0)),
    "checkpoint_000045_loss_0.045.npz": ((22.92, 32.36, 87.47), (22.92134831460674, 32.358862678894994,
                                                                  87.4702076949268)),
    "checkpoint_000050_loss_0.050.npz": ((25.17, 39.46, 100.0), (25.168539325842698, 39.45802964015107, 100.0)),
}
# Nano-EmoX evaluate_avamerg_metrics (rounded) and calculate_emotion_accuracy / calculate_hitrate /
# evaluate_dist_n x 100 (unrounded); extract_emotion_from_response per sample
AVAMERG = {
    "checkpoint_000055_loss_0.055.npz": ((8.33, 75.0, 94.36, 100.0), (8.333333333333332, 75.0, 94.35897435897436,
                                                                      100.0)),
    "checkpoint_000060_loss_0.060.npz": ((0.0, 41.67, 92.82, 100.0), (0.0, 41.66666666666667, 92.82051282051283,
                                                                      100.0)),
}
AVAMERG_EXTRACTED_55 = {
    "dia00000utt0_10": "anxious", "dia00001utt2_11": "content", "dia00002utt4_12": "hopeful",
    "dia00003utt0_13": "lonely", "dia00004utt2_14": "excited", "dia00005utt4_15": "proud",
    "dia00006utt0_16": "content", "dia00007utt2_17": "hopeful", "dia00008utt4_18": "lonely",
    "dia00009utt0_19": "excited", "dia00010utt2_20": "content", "dia00011utt4_21": "content",
}
# Nano-EmoX eval_ovmerd.py: mean clue / label score per model csv (100 samples each)
EMER = {
    "omniaffect_epochcheckpoint_000050_loss_0.297.csv": (3.71, 1.5),
    "omniaffect_epochcheckpoint_000055_loss_0.292.csv": (3.15, 1.5),
    "omniaffect_epochcheckpoint_000060_loss_0.286.csv": (3.755, 1.5),
}


def _eval(capsys, *argv: str) -> tuple[dict, dict]:
    out = Path(argv[argv.index("-o") + 1])
    code, stdout, stderr = _run(["eval", *argv, "--json"], capsys)
    assert code == 0, stderr
    return json.loads(stdout), json.loads((out / "metrics.json").read_text())


def _checkpoint_metrics(saved: dict, group: str) -> dict[str, dict[str, float]]:
    record = next(g for g in saved["groups"] if g["key"] == group)
    return {c["name"]: c["metrics"] for c in record["checkpoints"]}


@pytest.fixture(scope="module")
def mer_tree(anchors_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return pc.mer_unibench_tree(anchors_dir, tmp_path_factory.mktemp("mub"))


def test_mer_unibench_tree_best_checkpoint_per_set(mer_tree, wheel_dir, tmp_path, capsys):
    output, data = mer_tree
    printed, saved = _eval(capsys, "mer-unibench", "-p", str(output), "-g", str(data), "--wheels", str(wheel_dir),
                           "-o", str(tmp_path / "o"))
    assert printed == {name: value * 100 for name, value in MER_BEST.items()}
    for name, checkpoint in MER_BEST_CHECKPOINT.items():
        assert saved["metrics"][name]["checkpoint"] == checkpoint
        assert saved["metrics"][name]["best_of"] == 3
    assert saved["metrics"]["sims"]["accuracy"] == SIMS_BEST_ACCURACY * 100
    per = _checkpoint_metrics(saved, "mer2023")
    assert {c: (m["hit_rate"], m["mscore"]) for c, m in per.items()} == {
        c: (h * 100, s * 100) for c, (h, s) in MER2023_PER_CHECKPOINT.items()
    }
    per = _checkpoint_metrics(saved, "ovmerdplus")
    assert {c: (m["f"], m["precision"], m["recall"]) for c, m in per.items()} == {
        c: tuple(v * 100 for v in values) for c, values in OV_PER_CHECKPOINT.items()
    }
    # the last checkpoint is reported beside the best
    row = next(r for r in saved["rows"] if r["key"] == "ovmerdplus")
    assert row["last"] == OV_PER_CHECKPOINT["checkpoint_000060_loss_0.060.npz"][0] * 100
    assert row["last_checkpoint"] == "checkpoint_000060_loss_0.060.npz"
    assert (tmp_path / "o" / "checkpoints.png").is_file()


def test_mer_unibench_checkpoint_range(mer_tree, wheel_dir, tmp_path, capsys):
    """--checkpoints 50-55 --skip 5 scores epochs 50 and 55, as the official test_epochs="50,55"."""
    output, data = mer_tree
    printed, saved = _eval(capsys, "mer-unibench", "-p", str(output), "-g", str(data), "--wheels", str(wheel_dir),
                           "--subset", "mer2023", "--checkpoints", "50-55", "--skip", "5", "-o", str(tmp_path / "o"))
    assert printed == {"mer2023": MER2023_TEST_EPOCHS_50_55 * 100}
    assert saved["settings"]["checkpoints"]["scored"]["mer2023"] == [
        "checkpoint_000050_loss_0.050.npz", "checkpoint_000055_loss_0.055.npz"]


def test_mintrec_raw_string_exact_match(anchors_dir, tmp_path, capsys):
    """-p the official output/ tree, -g the official data/ folder (data/MIntRec/test_MIntRec_ann.json)."""
    pc.mintrec_run(anchors_dir, tmp_path / "in")
    data = anchors_dir / "Nano-EmoX" / "data"
    printed, saved = _eval(capsys, "mintrec", "-p", str(tmp_path / "in" / "output"), "-g", str(data),
                           "-o", str(tmp_path / "o"))
    per = _checkpoint_metrics(saved, next(iter(g["key"] for g in saved["groups"])))
    for checkpoint, (rounded, exact) in MINTREC.items():
        ours = (per[checkpoint]["accuracy"], per[checkpoint]["wf1"], per[checkpoint]["wp"])
        assert ours == exact
        assert tuple(round(v, 2) for v in ours) == rounded
    assert printed == dict(zip(("accuracy", "wf1", "wp"), MINTREC["checkpoint_000040_loss_0.040.npz"][1],
                               strict=True))


def test_avamerg_extraction_and_scores(tmp_path, capsys):
    """-p the official output/ tree, -g the official data/ folder (data/AvaMERG/v_test_v5_0.json)."""
    pc.avamerg_run(tmp_path / "in")
    printed, saved = _eval(capsys, "avamerg", "-p", str(tmp_path / "in" / "output"), "-g",
                           str(tmp_path / "in" / "data"), "-o", str(tmp_path / "o"))
    per = _checkpoint_metrics(saved, next(iter(g["key"] for g in saved["groups"])))
    for checkpoint, (rounded, exact) in AVAMERG.items():
        ours = tuple(per[checkpoint][k] for k in ("accuracy", "hit_rate", "dist1", "dist2"))
        assert ours == exact
        assert tuple(round(v, 2) for v in ours) == rounded
    assert printed["accuracy"] == AVAMERG["checkpoint_000055_loss_0.055.npz"][1][0]
    samples = [json.loads(line) for line in (tmp_path / "o" / "predictions.jsonl").read_text().splitlines()]
    assert {s["id"]: s["pred"] for s in samples} == AVAMERG_EXTRACTED_55


def test_emer_judge_scores(anchors_dir, tmp_path, capsys):
    from .fake_openai import FakeOpenAI

    folder = anchors_dir / "Nano-EmoX" / "output" / "ov-merd-eval" / "nano_emox"
    with FakeOpenAI(pc.emer_judge_reply, max_requests=5000) as server:
        printed, saved = _eval(capsys, "emer", "-p", str(folder), "--judge", server.url, "--cache-dir",
                               str(tmp_path / "cache"), "-o", str(tmp_path / "o"))
    per = _checkpoint_metrics(saved, "omniaffect")
    assert {c: (m["clue_overlap"], m["label_overlap"]) for c, m in per.items()} == EMER
    assert printed == {"clue_overlap": 3.755, "label_overlap": 1.5}  # best of 3 by clue overlap: epoch 60
    assert saved["settings"]["deviations"] == {"--judge-failure": {"value": "stop", "official": "zero"}}
