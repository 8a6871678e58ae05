"""MER-UniBench: ground-truth packages, sentiment WAF quirks, LLM-step prompts, best-epoch selection, and the
whole pipeline on the official AffectGPT intermediate outputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score

from emox_core.errors import EmoxError
from emox_core.evaluation.base import Group, Headline, Scored
from emox_core.evaluation.benchmarks import mer_unibench as mub
from emox_core.evaluation.checkpoints import Checkpoint
from emox_core.evaluation.readers import read_npz
from emox_core.evaluation.run import evaluate_benchmark


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


def _group(values: list[float]) -> Group:
    scored = [Scored(Checkpoint(Path(f"e{i}"), i), {"hit_rate": v}, 1, 1) for i, v in enumerate(values)]
    return Group("g", "g", "hit_rate", (Headline("hit_rate", "g"),), scored)


def test_best_checkpoint_is_numpy_argmax():
    # official: best_index = np.argmax(whole_score1s): the first maximum wins, and a NaN counts as the maximum
    assert _group([0.5, 0.7, 0.7]).best.checkpoint.name == "e1"
    assert _group([0.5, float("nan"), 0.9]).best.checkpoint.name == "e1"
    assert _group([0.5, 0.7, 0.6]).last.checkpoint.name == "e2"


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
        folder = root / f"{subset.name}-process"
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
        "mer-unibench", affectgpt_output, tmp_path / "gt", wheels=wheel_dir, out_dir=tmp_path / "out"
    )
    metrics = result["metrics"]
    # ground truth built from the official sentiment outputs -> perfect WAF on every MSA set
    for name in ("cmumosi", "cmumosei", "sims", "simsv2"):
        assert metrics[name]["waf"] == 100.0
    assert set(metrics) == {*mub.SUBSETS, "mean"}
    assert metrics["mer2023"]["n"] == metrics["mer2023"]["n_expected"] == 411
    assert 0 < metrics["mer2023"]["hit_rate"] < 100
    assert all(0 <= v["hit_rate"] <= 100 for v in metrics["mer2023"]["per_wheel"].values())  # percent, as the rest
    assert [r["key"] for r in result["rows"]] == [*mub.SUBSETS, "mean"]
    assert result["rows"][-1]["references"] == {"AffectGPT": 74.77}
    assert (tmp_path / "out" / "metrics.json").is_file() and (tmp_path / "out" / "chart.png").is_file()
    assert sum(1 for _ in (tmp_path / "out" / "predictions.jsonl").open()) == sum(s.size for s in mub.SUBSETS.values())


def test_missing_set_is_skipped_in_a_whole_tree_run(affectgpt_output, wheel_dir, tmp_path):
    """Official package names (mer2023-dataset-process, ...); a set without labels is reported, not fatal."""
    _official_tree_ground_truth(affectgpt_output, tmp_path / "gt")
    shutil.move(tmp_path / "gt" / "mer2023-process", tmp_path / "gt" / "mer2023-dataset-process")
    shutil.rmtree(tmp_path / "gt" / "meld-process")
    result = evaluate_benchmark("mer-unibench", affectgpt_output, tmp_path / "gt", wheels=wheel_dir)
    assert "meld" not in result["metrics"] and "mer2023" in result["metrics"] and "mean" not in result["metrics"]
    (warning,) = [w for w in result["warnings"] if "meld" in w]
    assert "no label file for meld" in warning and "--subset mer2023," in warning
    with pytest.raises(EmoxError, match=r"no label file for meld \(label files found for: mer2023\)"):
        evaluate_benchmark("mer-unibench", affectgpt_output, tmp_path / "gt", wheels=wheel_dir, subset="mer2023,meld")


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
    result = evaluate_benchmark("mer-unibench", tmp_path, gt)
    assert result["metrics"]["cmumosi"]["checkpoint"] == "checkpoint_000060-openset.npz"
    assert result["metrics"]["cmumosi"]["best_of"] == 2
    assert result["metrics"]["cmumosi"]["waf"] == 100.0
    assert result["rows"][0]["last"] == 100.0 and result["rows"][0]["metric"] == "cmumosi (best of 2)"


def test_label_source_parsed_skips_the_llm_and_missing_ids_fail(wheel_dir, tmp_path):
    gt = _label_npz(tmp_path / "label-6way.npz", "test1_corpus", {"s1": {"emo": "happy"}, "s2": {"emo": "sad"}})
    preds = tmp_path / "p.jsonl"
    preds.write_text(
        '{"id": "s1", "task": "OV-MER", "prediction": "x", "labels": ["joyful"]}\n'
        '{"id": "s2", "task": "MER", "prediction": "The most likely label is angry.", "label": "angry"}\n'
    )
    # official: the label list comes from the LLM step on the text, so a judge is needed
    with pytest.raises(EmoxError, match="--judge"):
        evaluate_benchmark("mer-unibench", preds, gt, wheels=wheel_dir, subset="mer2023")
    result = evaluate_benchmark("mer-unibench", preds, gt, wheels=wheel_dir, subset="mer2023", label_source="parsed")
    assert result["metrics"]["mer2023"]["hit_rate"] == 50.0
    assert result["settings"]["deviations"] == {"--label-source": {"value": "parsed", "official": "llm"}}
    preds.write_text('{"id": "s1", "prediction": "x", "labels": ["joyful"]}\n')
    with pytest.raises(EmoxError, match="1 of 2 mer2023 ground-truth samples have no prediction"):
        evaluate_benchmark("mer-unibench", preds, gt, wheels=wheel_dir, subset="mer2023", label_source="parsed")


def test_official_reason_npz_uses_sibling_openset_cache(affectgpt_output, wheel_dir, tmp_path):
    src = next(affectgpt_output.glob("results-mer2023/*"))
    run = tmp_path / "results-mer2023" / "run"
    shutil.copytree(src, run)
    reason = next(p for p in run.glob("*.npz") if not p.name.endswith("-openset.npz"))
    names = list(read_npz(reason).text)
    gt = _label_npz(tmp_path / "gt.npz", "test1_corpus", {n: {"emo": "worried"} for n in names})
    result = evaluate_benchmark("mer-unibench", reason, gt, wheels=wheel_dir)
    assert 0 < result["metrics"]["mer2023"]["hit_rate"] < 100


def test_normalize_lenient_strips_label_lists(wheel_dir, tmp_path):
    gt = _label_npz(tmp_path / "label-6way.npz", "test1_corpus", {"s1": {"emo": "happy"}, "s2": {"emo": "sad"}})
    preds = tmp_path / "results-mer2023" / "checkpoint_000001-openset.npz"
    preds.parent.mkdir()
    np.savez(preds, filenames=["s1", "s2"], fileitems=[" [happy]", "[sad] "])
    official = evaluate_benchmark("mer-unibench", preds, gt, wheels=wheel_dir)
    lenient = evaluate_benchmark("mer-unibench", preds, gt, wheels=wheel_dir, normalize="lenient")
    assert official["metrics"]["mer2023"]["hit_rate"] == 0.0  # "[happy" and "sad]" map to nothing, as officially
    assert lenient["metrics"]["mer2023"]["hit_rate"] == 100.0
    assert lenient["settings"]["deviations"] == {"--normalize": {"value": "lenient", "official": "official"}}


def test_llm_step_through_loopback_server_writes_official_caches(wheel_dir, tmp_path):
    """Free text -> prompt A -> label list -> prompt B -> sentiment, then scored; outputs saved as official npz."""
    from emox_core.evaluation.base import JudgeOptions

    from .fake_openai import FakeOpenAI

    gt = _label_npz(tmp_path / "label.npz", "test_corpus", {"v1": {"val": 0.8}, "v2": {"val": -1.5}})
    preds = tmp_path / "p.jsonl"
    preds.write_text(
        '{"id": "mosi:v1:MSA", "task": "MSA", "prediction": "He is glad.", "dataset": "mosi"}\n'
        '{"id": "mosi:v2:MSA", "task": "MSA", "prediction": "He is furious.", "dataset": "mosi"}\n'
    )

    def reply(prompt: str) -> str:
        if prompt.startswith("Please assume"):
            return "Output: [happy]" if "glad" in prompt else "[angry]"
        return "positive" if "Input: [happy]; Output: " in prompt else "negative"

    with FakeOpenAI(reply) as server:
        judge = JudgeOptions(url=server.url, cache_dir=tmp_path / "c")
        result = evaluate_benchmark("mer-unibench", preds, gt, judge=judge, out_dir=tmp_path / "o")
        assert len(server.bodies) == 4
    assert result["metrics"]["cmumosi"]["waf"] == 100.0
    cache = tmp_path / "o" / "intermediate" / "results-cmumosi" / "p-openset.npz"
    assert read_npz(cache).text == {"v1": "[happy]", "v2": "[angry]"}
    sentiment = read_npz(cache.with_name("p-openset-sentiment.npz"))
    assert sentiment.kind == "sentiment" and sentiment.text == {"v1": "positive", "v2": "negative"}
    (judge_record,) = result["provenance"]["judges"]
    assert judge_record["model"] == "Qwen2.5-7B-Instruct" and judge_record["cache_hits"] == 0
    assert judge_record["prompts"] == ["openset", "sentiment"] and len(judge_record["prompt_sha256"]) == 64


def test_set_named_by_the_ground_truth_package(wheel_dir, tmp_path):
    """An -openset.npz outside a results-<set> folder: the set is the one the label package is named after."""
    gt = _label_npz(tmp_path / "mer2024-dataset-process" / "label-6way.npz", "test1_corpus", {"s1": {"emo": "sad"}})
    preds = tmp_path / "somewhere" / "checkpoint_000060_loss_0.5-openset.npz"
    preds.parent.mkdir()
    np.savez(preds, filenames=["s1"], fileitems=["[sad, tired]"])
    result = evaluate_benchmark("mer-unibench", preds, gt, wheels=wheel_dir, out_dir=tmp_path / "o")
    assert result["metrics"]["mer2024"]["hit_rate"] == 100.0
    assert result["rows"][0]["ours_rounded"] == 100.0
