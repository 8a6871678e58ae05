"""EMER (explainable emotion reasoning): Clue Overlap and Label Overlap scored by an LLM judge, 0-10 scale.

Source: waHAHJIAHAO/Nano-EmoX @ b08f985 ``eval_ovmerd.py`` (a copy of zeroQiaoba/AffectGPT @ e0aec19
``AffectGPT/evaluation.py`` with ``gpt-3.5-turbo-0125``, English ``gt-eng.csv`` and a 0.0 fallback). The three
prompts are Chinese and kept byte for byte (with the indentation of the source's triple-quoted f-strings),
because the judge's replies depend on them. Every ``*.csv`` of the folder is a model (the official script scores
each side by side); files named with a checkpoint (``omniaffect_epochcheckpoint_000050_...csv``) are the
checkpoints of one run, and the best of them (by Clue Overlap) is reported beside the last.

Score parsing (official): the first match of ``[\\d][.]*[\\d]*`` anywhere in the reply, 0.0 when there is
none. Pitfall: a judge that numbers its steps ("1. 真实描述..., 预测分数：7") is read as 1.
``--strict-scores`` reads the number after 预测分数/score first, ignores "N." step markers, and leaves
unparseable replies out of the mean.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from emox_core.evaluation.base import Benchmark, Context, Group, Headline, Option, Scored
from emox_core.evaluation.checkpoints import Checkpoint
from emox_core.evaluation.judge import ChatBackend, Settings
from emox_core.evaluation.readers import read_csv_column
from emox_core.evaluation.sources import find_ground_truth, require_overlap, score_runs

PROTOCOL = "nano-emox-b08f985/2"
HEADLINE = (
    Headline("clue_overlap", "Clue Overlap", "clue_overlap"),
    Headline("label_overlap", "Label Overlap", "label_overlap"),
)
PAPER = {"clue_overlap": 7.83, "label_overlap": 5.78}  # Nano-EmoX Table 3
GROUND_TRUTH = ("gt-eng.csv", "EMER/gt-eng.csv", "data/EMER/gt-eng.csv")

JUDGE_MODEL = "gpt-3.5-turbo-0125"
JUDGE_SETTINGS = Settings(temperature=0.0)

_I16 = " " * 16
_I14 = " " * 14
CLUE_PROMPT = (
    f"\n{_I16}下面给出人物的《真实描述》以及《预测描述》。请按照以下步骤计算《预测描述》的得分，得分范围为1-10。"
    "最终仅输出预测分数的数值大小，并给出原因。\n\n"
    f"{_I16}1.请总结《真实描述》中有关人物的情感状态描述\n\n"
    f"{_I16}2.请总结《预测描述》中有关人物的情感状态描述\n\n"
    f"{_I16}3.计算《预测描述》与《真实描述》之间的重叠度，重叠度越高，返回的分数越高。\n\n"
    f"{_I16}4.输出格式为: '预测分数'：预测分数；'原因'：原因、\n{_I16}\n"
    f"{_I16}输入：\n\n{_I16}《真实描述》：{{gt}}\n\n{_I16}《预测描述》：{{pred}}\n\n{_I16}输出：\n\n{_I16}"
)
SUMMARY_PROMPT = (
    f"\n{_I14}请根据以下视频描述，推测视频中人物最有可能的情感状态，仅输出情感词：\n{_I14}\n"
    f"{_I14}视频描述：他虽然看起来很高兴，但是实际上很焦虑\n{_I14}\n{_I14}输出结果：焦虑\n\n"
    f"{_I14}视频描述：{{reason}}\n\n{_I14}输出结果：\n{_I14}"
)
LABEL_PROMPT = (
    f"\n{_I16}下面给出人物的《真实情感》以及《预测情感》。请计算《预测情感》与《真实情感》之间的重叠度，"
    "重叠度越高，返回的分数越高。得分范围为1-10。最终仅输出预测分数的数值大小，并给出原因。\n"
    f"{_I16}\n{_I16}输出格式为: '预测分数'：预测分数；'原因'：原因\n{_I16}\n"
    f"{_I16}输入：\n\n{_I16}《真实情感》：{{gt}}\n\n{_I16}《预测情感》：{{pred}}\n\n{_I16}输出：\n\n{_I16}"
)

_OFFICIAL_NUMBER = re.compile(r"[\d][.]*[\d]*")
_KEYED_NUMBER = re.compile(r"(?:预测分数|score)['\"’」]?\s*[:：=]?\s*['\"]?\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_STEP_MARKER = re.compile(r"(?m)^\s*\d+[.、)]\s")
_ANY_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def parse_score(reply: str | None, strict: bool = False) -> float | None:
    """The judge's score. Official: first ``[\\d][.]*[\\d]*`` match, else 0.0 (a match float() cannot read,
    such as "1..5", on which the official code crashes, also gives 0.0). Strict: keyed number, else the first
    number in [0, 10] that is not a step marker, else None (left out of the mean)."""
    reply = reply or ""
    if not strict:
        match = _OFFICIAL_NUMBER.search(reply)
        try:
            return float(match.group(0)) if match else 0.0
        except ValueError:
            return 0.0
    keyed = _KEYED_NUMBER.search(reply)
    if keyed:
        return float(keyed.group(1))
    text = _STEP_MARKER.sub(" ", reply)
    for match in _ANY_NUMBER.finditer(text):
        value = float(match.group(0))
        if 0 <= value <= 10:
            return value
    return None


def clue_overlap(
    name2gt: Mapping[str, str], name2pred: Mapping[str, str], judge: ChatBackend, strict: bool = False
) -> dict[str, Any]:
    """Clue Overlap: one judge call per sample comparing the two descriptions (``func_clue_scoring``)."""
    names = [n for n in name2gt if n in name2pred]
    prompts = [CLUE_PROMPT.format(gt=name2gt[n], pred=name2pred[n]) for n in names]
    replies = judge.complete(prompts, "EMER clue overlap")
    return _aggregate(names, replies, strict, {})


def label_overlap(
    name2gt: Mapping[str, str], name2pred: Mapping[str, str], judge: ChatBackend, strict: bool = False
) -> dict[str, Any]:
    """Label Overlap: summarise the emotion words of ground truth and prediction, then score their overlap."""
    names = [n for n in name2gt if n in name2pred]
    gt_emotions = judge.complete([SUMMARY_PROMPT.format(reason=name2gt[n]) for n in names], "EMER gt emotions")
    pred_emotions = judge.complete([SUMMARY_PROMPT.format(reason=name2pred[n]) for n in names], "EMER emotions")
    prompts = [LABEL_PROMPT.format(gt=g, pred=p) for g, p in zip(gt_emotions, pred_emotions, strict=True)]
    replies = judge.complete(prompts, "EMER label overlap")
    extra = {
        n: {"gt_emotions": g, "pred_emotions": p} for n, g, p in zip(names, gt_emotions, pred_emotions, strict=True)
    }
    return _aggregate(names, replies, strict, extra)


def _aggregate(names: list[str], replies: list[str], strict: bool, extra: dict[str, dict[str, str]]) -> dict[str, Any]:
    import numpy as np

    scores = [parse_score(r, strict) for r in replies]
    valid = [s for s in scores if s is not None]
    samples = [
        {"id": n, "reply": r, "score": s, **extra.get(n, {})} for n, r, s in zip(names, replies, scores, strict=True)
    ]
    return {
        "score": float(np.mean(valid)) if valid else float("nan"),
        "n": len(names),
        "n_unparsed": len(scores) - len(valid),
        "samples": samples,
    }


def run(ctx: Context) -> list[Group]:
    if ctx.ground_truth is None and ctx.predictions.is_dir() and (ctx.predictions / "gt-eng.csv").is_file():
        ctx.ground_truth = ctx.predictions  # the official data_root holds gt-eng.csv beside the model csvs
    gt = read_csv_column(find_ground_truth(ctx, GROUND_TRUTH, "EMER gt-eng.csv"), ("reasons", "chi_reasons"))
    strict = bool(ctx.option("strict_scores"))
    ctx.judge.on_failure = "empty" if ctx.option("judge_failure") == "zero" else "stop"
    official_parser = r"official (first match of [\d][.]*[\d]*, 0.0 without one)"
    ctx.notes["score_parser"] = "strict (keyed number, step numbers skipped)" if strict else official_parser
    prompts = {"clue": CLUE_PROMPT, "summary": SUMMARY_PROMPT, "label": LABEL_PROMPT}

    def score(ckpt: Checkpoint) -> Scored:
        preds = ctx.read_predictions(ckpt.path).text
        require_overlap(ckpt.path, preds, gt)
        judge = ctx.backend(JUDGE_MODEL, JUDGE_SETTINGS, prompts)
        clue = clue_overlap(gt, preds, judge, strict)
        label = label_overlap(gt, preds, judge, strict)
        by_id = {s["id"]: s for s in label["samples"]}
        samples = [
            {
                "checkpoint": ckpt.name,
                "id": s["id"],
                "prediction": preds[s["id"]],
                "clue_reply": s["reply"],
                "clue_score": s["score"],
                "label_reply": by_id[s["id"]]["reply"],
                "label_score": by_id[s["id"]]["score"],
                "gt_emotions": by_id[s["id"]]["gt_emotions"],
                "pred_emotions": by_id[s["id"]]["pred_emotions"],
            }
            for s in clue["samples"]
        ]
        metrics = {"clue_overlap": clue["score"], "label_overlap": label["score"]}
        details = {"n_unparsed": {"clue": clue["n_unparsed"], "label": label["n_unparsed"]}}
        return Scored(ckpt, metrics, clue["n"], len(gt), details=details, samples=samples)

    return score_runs(ctx, ("emer",), "clue_overlap", HEADLINE, score)


BENCHMARKS = (
    Benchmark(
        name="emer",
        title="EMER: Clue Overlap / Label Overlap by an LLM judge, 0-10 (Nano-EmoX eval_ovmerd.py)",
        protocol=PROTOCOL,
        unit="judge score (0-10)",
        tasks=("ERI",),
        paper=PAPER,
        run=run,
        ground_truth_help="gt-eng.csv (names, reasons)",
        options=(
            Option(
                "strict_scores",
                "--strict-scores",
                "Read the judge's score after 预测分数/score, skip step numbers, leave unparseable replies "
                "out (the official regex reads the first number).",
                default=False,
                type=bool,
                official=False,
            ),
            Option(
                "judge_failure",
                "--judge-failure",
                "A judge request that fails after the retries stops the run (emox) or scores 0 (official).",
                default="stop",
                choices=("stop", "zero"),
                official="zero",
            ),
        ),
    ),
)
