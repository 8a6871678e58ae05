"""MER-UniBench: ground-truth packages, sentiment WAF quirks, LLM-step prompts, best-epoch selection, and the
whole pipeline on the official AffectGPT intermediate outputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score

from emox_core.errors import EmoxError
from emox_core.evaluation import mer_unibench as mub
from emox_core.evaluation.readers import read_npz
from emox_core.evaluation.run import EvalOptions, evaluate_benchmark


def _label_npz(path: Path, key: str, corpus: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{key: np.array(corpus, dtype=object)})
    return path


def test_sentiment_quirks():
    gt = {"a": 1.2, "b": -0.4, "c": 0.0, "d": 2.0, "e": -1.0, "f": 0.6}
    pred = {"a": "positive", "b": "neutral", "c": "positive", "d": "mixed", "e": "negative", "f": "positive."}
    out = mub.sentiment_scores(gt, pred)
    # c dropped (gt 0); neutral/mixed/"positive." all count as negative predictions
    y_true = [True, False, True, False, True]
    y_pred = [True, False, False, False, False]
    assert out["n"] == 5
    assert out["waf"] == pytest.approx(f1_score(y_true, y_pred, average="weighted"))
    assert out["accuracy"] == pytest.approx(3 / 5)


def test_prompts_are_verbatim():
    assert "  " not in mub.OPENSET_PROMPT
    assert mub.OPENSET_PROMPT.endswith("Input: {reason}; Output: ")
    assert "emotions.             We provide" in mub.SENTIMENT_PROMPT  # 1 + 12 spaces from the source indentation
    assert mub.SENTIMENT_PROMPT.count(" " * 13) == 6


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Output: [happy, sad]", "[happy, sad]"),
        ("输出：[a]\n", "[a]"),
        ("  [a,\nb] ", "[a,b]"),
        ("Input:: x", ": x"),
        ("Output:：x", "x"),
    ],
)
def test_postprocess_qwen(raw, clean):
    assert mub.postprocess_qwen(raw) == clean


def test_best_checkpoint_first_maximum_wins():
    assert mub.best_checkpoint({"e50": {"main": 0.5}, "e55": {"main": 0.7}, "e60": {"main": 0.7}}) == "e55"


def test_ground_truth_packages(tmp_path):
    meld = _label_npz(tmp_path / "label.npz", "test_corpus", {"d0_u0": {"emo": 1, "val": 0}, "d0_u1": {"emo": 3}})
    assert mub.load_ground_truth(mub.get_subset("MELD"), meld) == {"d0_u0": "joy", "d0_u1": "neutral"}
    iemo = _label_npz(
        tmp_path / "i" / "label_4way.npz",
        "whole_corpus",
        {"Ses05F_a": {"emo": 0}, "Ses01M_b": {"emo": 1}, "Ses05M_c": {"emo": 3}},
    )
    assert mub.load_ground_truth(mub.get_subset("iemocap"), iemo) == {
        "Ses05F_a": "happy",
        "Ses05M_c": "anger",
    }
    csv = tmp_path / "ovlabel.csv"
    csv.write_text('name,openset\ns1,"[happy, sad]"\ns2,[]\n')
    assert mub.load_ground_truth(mub.get_subset("OV-MERD+"), csv) == {"s1": "happy, sad", "s2": "neutral"}
    with pytest.raises(EmoxError, match="no key 'test1_corpus'"):
        mub.load_ground_truth(mub.get_subset("mer2023"), meld)


def _official_tree_ground_truth(output: Path, root: Path) -> dict[str, dict]:
    """Synthetic label packages named like the official outputs (the real ones are not redistributable)."""
    rng = np.random.default_rng(0)
    truth: dict[str, dict] = {}
    for subset in mub.SUBSETS.values():
        names = list(read_npz(next(output.glob(f"results-{subset.name}/*/*-openset.npz"))).text)
        folder = root / f"{subset.name.upper()}-process"
        if subset.group == "dimension":
            sentiment = read_npz(next(output.glob(f"results-{subset.name}/*/*-openset-sentiment.npz"))).text
            corpus = {n: {"val": (1.0 if sentiment[n] == "positive" else -1.0)} for n in names}
        elif subset.group == "discrete":
            labels = subset.idx2emo or ("neutral", "angry", "happy", "sad", "worried", "surprise")
            corpus = {n: {"emo": labels[int(rng.integers(len(labels)))]} for n in names}
        else:
            folder.mkdir(parents=True)
            (folder / "ovlabel.csv").write_text("name,openset\n" + "".join(f"{n},[happy]\n" for n in names))
            continue
        _label_npz(folder / subset.label_file, subset.corpus_key, corpus)
        truth[subset.name] = corpus
    return truth


def test_official_outputs_full_pipeline(affectgpt_output, wheel_dir, tmp_path):
    """All 9 sets from the official output tree with no LLM call: the -openset(-sentiment) caches are used."""
    _official_tree_ground_truth(affectgpt_output, tmp_path / "gt")
    result = evaluate_benchmark(
        "mer-unibench",
        EvalOptions(
            predictions=affectgpt_output,
            ground_truth=tmp_path / "gt",
            wheels=wheel_dir,
            out_dir=tmp_path / "out",
        ),
    )
    metrics = result["metrics"]
    # ground truth built from the official sentiment outputs -> perfect WAF on every MSA set
    for name in ("cmumosi", "cmumosei", "sims", "simsv2"):
        assert metrics[name]["waf"] == pytest.approx(100.0)
    assert set(metrics) == {*mub.SUBSETS, "mean"}
    assert metrics["mer2023"]["n"] is None and 0 < metrics["mer2023"]["hit_rate"] < 100
    assert (tmp_path / "out" / "metrics.json").is_file() and (tmp_path / "out" / "chart.png").is_file()
    assert sum(1 for _ in (tmp_path / "out" / "predictions.jsonl").open()) == sum(s.size for s in mub.SUBSETS.values())


def test_best_epoch_over_run_folder(affectgpt_output, tmp_path):
    run = tmp_path / "results-cmumosi" / "run1"
    run.mkdir(parents=True)
    src = next(affectgpt_output.glob("results-cmumosi/*/*-openset-sentiment.npz"))
    names = list(read_npz(src).text)
    good = {n: "positive" for n in names}
    bad = {n: "negative" for n in names}
    for epoch, items in (("checkpoint_000055", bad), ("checkpoint_000060", good)):
        np.savez(run / f"{epoch}-openset.npz", filenames=names, fileitems=["[happy]"] * len(names))
        np.savez(run / f"{epoch}-openset-sentiment.npz", filenames=names, fileitems=list(items.values()))
    gt = _label_npz(tmp_path / "label.npz", "test_corpus", {n: {"val": 1.0} for n in names})
    result = evaluate_benchmark("mer-unibench", EvalOptions(predictions=tmp_path, ground_truth=gt))
    assert result["metrics"]["cmumosi"]["checkpoint"] == "checkpoint_000060-openset.npz"
    assert result["metrics"]["cmumosi"]["best_of"] == 2
    assert result["metrics"]["cmumosi"]["waf"] == pytest.approx(100.0)


def test_label_lists_skip_the_llm_and_missing_ids_fail(wheel_dir, tmp_path):
    gt = _label_npz(tmp_path / "label-6way.npz", "test1_corpus", {"s1": {"emo": "happy"}, "s2": {"emo": "sad"}})
    preds = tmp_path / "p.jsonl"
    preds.write_text(
        '{"id": "s1", "task": "OV-MER", "prediction": "x", "labels": ["joyful"]}\n'
        '{"id": "s2", "task": "MER", "prediction": "The most likely label is angry.", "label": "angry"}\n'
    )
    result = evaluate_benchmark(
        "mer-unibench", EvalOptions(predictions=preds, ground_truth=gt, wheels=wheel_dir, subset="mer2023")
    )
    assert result["metrics"]["mer2023"]["hit_rate"] == pytest.approx(50.0)
    preds.write_text('{"id": "s1", "prediction": "x", "labels": ["joyful"]}\n')
    with pytest.raises(EmoxError, match="1 of 2 ground-truth ids have no prediction"):
        evaluate_benchmark(
            "mer-unibench",
            EvalOptions(predictions=preds, ground_truth=gt, wheels=wheel_dir, subset="mer2023"),
        )
    preds.write_text('{"id": "s1", "prediction": "He is glad."}\n{"id": "s2", "prediction": "sad"}\n')
    with pytest.raises(EmoxError, match="--judge"):
        evaluate_benchmark(
            "mer-unibench",
            EvalOptions(predictions=preds, ground_truth=gt, wheels=wheel_dir, subset="mer2023"),
        )


def test_official_reason_npz_uses_sibling_openset_cache(affectgpt_output, wheel_dir, tmp_path):
    src = next(affectgpt_output.glob("results-mer2023/*"))
    run = tmp_path / "results-mer2023" / "run"
    shutil.copytree(src, run)
    reason = next(p for p in run.glob("*.npz") if not p.name.endswith("-openset.npz"))
    names = list(read_npz(reason).text)
    gt = _label_npz(tmp_path / "gt.npz", "test1_corpus", {n: {"emo": "worried"} for n in names})
    result = evaluate_benchmark("mer-unibench", EvalOptions(predictions=reason, ground_truth=gt, wheels=wheel_dir))
    assert 0 < result["metrics"]["mer2023"]["hit_rate"] < 100


def test_llm_step_through_loopback_server_writes_official_caches(wheel_dir, tmp_path):
    """Free text -> prompt A -> label list -> prompt B -> sentiment, then scored; outputs saved as official npz."""
    from .fake_openai import FakeOpenAI

    gt = _label_npz(tmp_path / "label.npz", "test_corpus", {"v1": {"val": 0.8}, "v2": {"val": -1.5}})
    preds = tmp_path / "p.jsonl"
    preds.write_text(
        '{"id": "v1", "task": "OV-MER", "prediction": "He is glad.", "dataset": "CMU-MOSI"}\n'
        '{"id": "v2", "task": "OV-MER", "prediction": "He is furious.", "dataset": "CMU-MOSI"}\n'
    )

    def reply(prompt: str) -> str:
        if prompt.startswith("Please assume"):
            return "Output: [happy]" if "glad" in prompt else "[angry]"
        return "positive" if "Input: [happy]; Output: " in prompt else "negative"

    with FakeOpenAI(reply) as server:
        options = EvalOptions(
            predictions=preds, ground_truth=gt, judge=server.url, cache_dir=tmp_path / "c", out_dir=tmp_path / "o"
        )
        result = evaluate_benchmark("mer-unibench", options)
        assert len(server.bodies) == 4
    assert result["metrics"]["cmumosi"]["waf"] == pytest.approx(100.0)
    cache = tmp_path / "o" / "intermediate" / "results-cmumosi" / "p-openset.npz"
    assert read_npz(cache).text == {"v1": "[happy]", "v2": "[angry]"}
    sentiment = read_npz(cache.with_name("p-openset-sentiment.npz"))
    assert sentiment.kind == "sentiment" and sentiment.text == {"v1": "positive", "v2": "negative"}
