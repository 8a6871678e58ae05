"""Inputs of the official-parity tests, in the official file layouts, built the same way by the tests and by the
script that computed the expected values with the official code (AffectGPT @ fffca794, Nano-EmoX @ b08f985,
run unchanged on these files; the numbers are in ``test_official_parity.py``).

The predictions carry the formatting real LLM outputs have: stray spaces around brackets, trailing newlines,
other casing. Everything is deterministic (indices, no randomness).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

RUN = "emox_parity_run_20250101000"
SIX = ("neutral", "angry", "happy", "sad", "worried", "surprise")
MELD = ("anger", "joy", "sadness", "neutral", "disgust", "fear", "surprise")
AFFECTGPT_RUN = "emercoarse_highlevelfilter4_outputhybird_bestsetup_bestfusion_lz_20250110100"
AFFECTGPT_STEM = "checkpoint_000060_loss_0.480"


def _affectgpt(anchors: Path, subset: str, suffix: str) -> tuple[list[str], list[str]]:
    data = np.load(anchors / "AffectGPT" / "output" / f"results-{subset}" / AFFECTGPT_RUN / f"{AFFECTGPT_STEM}{suffix}")
    return [str(x) for x in data["filenames"]], [str(x) for x in data["fileitems"]]


def llm_formatting(items: list[str], period: int) -> list[str]:
    """Every ``period``-th item untouched; the others get a leading space, a trailing space, a trailing newline or
    upper case, in turn."""
    out = []
    for i, item in enumerate(items):
        kind = i % period
        out.append([item, " " + item, item + " ", item + "\n", item.upper()][kind % 5] if kind else item)
    return out


def _checkpoint(folder: Path, epoch: int, names: list[str], items: list[str], suffix: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"checkpoint_{epoch:06d}_loss_0.{epoch:03d}"
    np.savez_compressed(folder / f"{stem}.npz", name2reason={n: "free text" for n in names})
    np.savez_compressed(folder / f"{stem}{suffix}", filenames=names, fileitems=items)


def mer_unibench_tree(anchors: Path, root: Path) -> tuple[Path, Path]:
    """(output tree, MER-UniBench packages named as the official DATA_DIR) for mer2023, meld, sims, ovmerdplus:
    three checkpoints per set (epochs 50, 55, 60) whose label lists carry LLM-style formatting."""
    output, data = root / "output", root / "dataset"
    # mer2023: hit rate, string labels
    names, items = _affectgpt(anchors, "mer2023", "-openset.npz")
    run = output / "results-mer2023" / RUN
    for epoch, period in ((50, 2), (55, 3), (60, 7)):
        _checkpoint(run, epoch, names, llm_formatting(items, period), "-openset.npz")
    corpus = {n: {"emo": SIX[i % 6], "val": 0.0} for i, n in enumerate(names)}
    _npz(data / "mer2023-dataset-process" / "label-6way.npz", "test1_corpus", corpus)
    # meld: hit rate, index labels
    names, items = _affectgpt(anchors, "meld", "-openset.npz")
    run = output / "results-meld" / RUN
    for epoch, period in ((50, 4), (55, 2), (60, 5)):
        _checkpoint(run, epoch, names, llm_formatting(items, period), "-openset.npz")
    _npz(data / "meld-process" / "label.npz", "test_corpus", {n: {"emo": i % 7} for i, n in enumerate(names)})
    # sims: sentiment WAF
    names, items = _affectgpt(anchors, "sims", "-openset-sentiment.npz")
    _, opensets = _affectgpt(anchors, "sims", "-openset.npz")
    run = output / "results-sims" / RUN
    for epoch, period in ((50, 3), (55, 6), (60, 2)):
        _checkpoint(run, epoch, names, opensets, "-openset.npz")
        stem = f"checkpoint_{epoch:06d}_loss_0.{epoch:03d}"
        np.savez_compressed(run / f"{stem}-openset-sentiment.npz", filenames=names,
                            fileitems=llm_formatting(items, period))
    values = [((i * 7) % 11 - 5) / 5 for i in range(len(names))]  # includes exact zeros
    labels = {n: {"val": v} for n, v in zip(names, values, strict=True)}
    _npz(data / "sims-process" / "label.npz", "test_corpus", labels)
    # ovmerdplus: EW F-score; the ground truth csv has formatting quirks too (empty list, stray spaces)
    names, items = _affectgpt(anchors, "ovmerdplus", "-openset.npz")
    run = output / "results-ovmerdplus" / RUN
    for epoch, period in ((50, 6), (55, 3), (60, 4)):
        _checkpoint(run, epoch, names, llm_formatting(items, period), "-openset.npz")
    rows = ["name,openset"]
    for i, n in enumerate(names):
        gt = items[(i + 1) % len(items)]
        gt = "[]" if i % 17 == 0 else (" " + gt if i % 13 == 0 and gt != "[]" else gt)  # " []" crashes officially
        rows.append(f'{n},"{gt}"')
    (data / "ovmerdplus-process").mkdir(parents=True)
    (data / "ovmerdplus-process" / "ovlabel.csv").write_text("\n".join(rows) + "\n")
    return output, data


def _npz(path: Path, key: str, corpus: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{key: np.array(corpus, dtype=object)})


def mintrec_run(anchors: Path, root: Path) -> tuple[Path, Path]:
    """(run folder of 3 checkpoints with name2reason answers, the official test json). The answers are the gold
    intent with LLM formatting ('Complain\\n', ' Inform', 'complain') or another intent."""
    ann = anchors / "Nano-EmoX" / "data" / "MIntRec" / "test_MIntRec_ann.json"
    records = json.loads(ann.read_text(encoding="utf-8"))
    gold = [(Path(r["videos"][0]).name.replace(".mp4", ""), r["messages"][1]["content"]) for r in records]
    run = root / "output" / "results-mintrec" / RUN
    run.mkdir(parents=True)
    for epoch, period in ((40, 3), (45, 5), (50, 4)):
        answers = {}
        for i, (name, label) in enumerate(gold):
            kind = i % period
            answers[name] = [label, label + "\n", " " + label, label.lower(), "Inform"][kind % 5] if kind else label
        np.savez_compressed(run / f"checkpoint_{epoch:06d}_loss_0.{epoch:03d}.npz", name2reason=answers)
    return run, ann


AVAMERG_EMOTIONS = ("worried", "anxious", "joyful", "sad", "lonely", "proud", "excited", "afraid", "embarrassed",
                    "hopeful", "content", "grateful")
AVAMERG_REPLIES = (
    "<think>Firstly, the event scenario of this conversation is: a move\nSecondly, the emotion of the speaker is "
    "{emo}\nThirdly, the emotion cause is change\nFourthly, the goal to response is comfort</think>\n That must "
    "be a lot. How are you holding up?",
    "</think> odd order <think>the emotion of the speaker is {emo}</think> I am glad, you seem content.",
    "I hope things get better soon, I really hope so.",
    "That sounds so sad. I am sorry you feel lonely and sad.",
    "Wow, that is exciting news! I am thrilled for you.",
)


def avamerg_run(root: Path) -> tuple[Path, Path]:
    """(run folder of 2 checkpoints, v_test_v5_0.json): 12 conversations, last turn scored; responses mix the
    <think> pattern (also after a stray ``</think>``), the keyword table (substring quirks), and a response for a
    sample that is not in the ground truth (it still counts in Dist-n, as officially)."""
    conversations = []
    for i, emotion in enumerate(AVAMERG_EMOTIONS):
        count = 1 + i % 3
        turns = [{"turn_id": str(t), "chain_of_empathy": {"speaker_emotion": emotion if t == count - 1 else "sad"}}
                 for t in range(count)]
        conversations.append({"conversation_id": f"{i:05d}", "speaker_profile": {"ID": 10 + i}, "turns": turns})
    gt = root / "data" / "AvaMERG" / "v_test_v5_0.json"
    gt.parent.mkdir(parents=True)
    gt.write_text(json.dumps(conversations))
    run = root / "output" / "results-avamerg" / RUN
    run.mkdir(parents=True)
    for epoch, shift in ((55, 0), (60, 1)):
        responses = {}
        for i, conv in enumerate(conversations):
            turn = int(conv["turns"][-1]["turn_id"])
            name = f"dia{conv['conversation_id']}utt{2 * turn}_{conv['speaker_profile']['ID']}"
            template = AVAMERG_REPLIES[(i + shift) % len(AVAMERG_REPLIES)]
            emo = AVAMERG_EMOTIONS[(i + shift) % len(AVAMERG_EMOTIONS)]
            responses[name] = template.format(emo="anxious" if emo == "worried" else emo)
        responses["dia99999utt0_1"] = "A reply for a sample outside the ground truth, repeated repeated words."
        np.savez_compressed(run / f"checkpoint_{epoch:06d}_loss_0.{epoch:03d}.npz", name2reason=responses)
    return run, gt


def emer_judge_reply(prompt: str) -> str:
    """A deterministic stand-in for the judge, used both with the official EMER script and with emox: the
    score depends on the prompt, and some replies number their steps (the official regex then reads the step)."""
    size = len(prompt)
    if "视频描述" in prompt:  # summary prompt: an emotion word
        return ("愤怒", "高兴", "焦虑", "悲伤")[size % 4]
    if size % 5 == 0:
        return f"1. 总结真实描述\n2. 总结预测描述\n'预测分数'：{size % 10}；'原因'：..."
    if size % 7 == 0:
        return "无法评估"
    return f"'预测分数'：{size % 9 + 1}.5；'原因'：重叠度"
