"""EMER (explainable emotion reasoning): Clue Overlap and Label Overlap scored by an LLM judge, 0-10 scale.

Source: waHAHJIAHAO/Nano-EmoX @ b08f985 ``eval_ovmerd.py`` (a copy of zeroQiaoba/AffectGPT @ e0aec19
``AffectGPT/evaluation.py`` with ``gpt-3.5-turbo-0125``, English ``gt-eng.csv`` and a 0.0 fallback). The three
prompts are Chinese and kept byte for byte (with the indentation of the source's triple-quoted f-strings),
because the judge's replies depend on them.

Score parsing (official): the first match of ``[\\d][.]*[\\d]*`` anywhere in the reply, 0.0 when there is
none. Pitfall: a judge that numbers its steps ("1. 真实描述..., 预测分数：7") is read as 1.
``strict=True`` reads the number after 预测分数/score first, ignores "N." step markers, and leaves
unparseable replies out of the mean.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from emox_core.evaluation.judge import ChatBackend, Settings

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
    """The judge's score. Official: first ``[\\d][.]*[\\d]*`` match, else 0.0. Strict: keyed number, else the
    first number in [0, 10] that is not a step marker, else None (left out of the mean)."""
    reply = reply or ""
    if not strict:
        match = _OFFICIAL_NUMBER.search(reply)
        return float(match.group(0)) if match else 0.0
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
    replies = judge.complete([CLUE_PROMPT.format(gt=name2gt[n], pred=name2pred[n]) for n in names])
    return _aggregate(names, replies, strict, {})


def label_overlap(
    name2gt: Mapping[str, str], name2pred: Mapping[str, str], judge: ChatBackend, strict: bool = False
) -> dict[str, Any]:
    """Label Overlap: summarise the emotion words of ground truth and prediction, then score their overlap."""
    names = [n for n in name2gt if n in name2pred]
    gt_emotions = judge.complete([SUMMARY_PROMPT.format(reason=name2gt[n]) for n in names])
    pred_emotions = judge.complete([SUMMARY_PROMPT.format(reason=name2pred[n]) for n in names])
    replies = judge.complete(
        [LABEL_PROMPT.format(gt=g, pred=p) for g, p in zip(gt_emotions, pred_emotions, strict=True)]
    )
    extra = {
        n: {"gt_emotions": g, "pred_emotions": p} for n, g, p in zip(names, gt_emotions, pred_emotions, strict=True)
    }
    return _aggregate(names, replies, strict, extra)


def _aggregate(names: list[str], replies: list[str], strict: bool, extra: dict[str, dict[str, str]]) -> dict[str, Any]:
    scores = [parse_score(r, strict) for r in replies]
    valid = [s for s in scores if s is not None]
    samples = [
        {"id": n, "reply": r, "score": s, **extra.get(n, {})} for n, r, s in zip(names, replies, scores, strict=True)
    ]
    return {
        "score": sum(valid) / len(valid) if valid else float("nan"),
        "n": len(names),
        "n_unparsed": len(scores) - len(valid),
        "samples": samples,
    }
