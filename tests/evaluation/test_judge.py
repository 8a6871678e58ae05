"""The judge backend against a real OpenAI-compatible server on loopback."""

from __future__ import annotations

import socket

import pytest

from emox_core.errors import EmoxError
from emox_core.evaluation import emer
from emox_core.evaluation.judge import OpenAIChatBackend, Settings, make_backend
from emox_core.evaluation.mer_unibench import EXTRACTOR_SETTINGS, OPENSET_PROMPT, extract_openset

from .fake_openai import FakeOpenAI


def _backend(url: str, tmp_path, **kw) -> OpenAIChatBackend:
    return make_backend(url, kw.pop("model", "judge-x"), kw.pop("settings", Settings()), tmp_path / "cache", **kw)  # type: ignore[return-value]


def test_prompts_settings_and_cache(tmp_path):
    with FakeOpenAI(lambda p: "[happy]") as server:
        backend = _backend(server.url, tmp_path, model="qwen", settings=EXTRACTOR_SETTINGS)
        out = extract_openset({"a": "He is glad.", "b": "She is joyful."}, backend)
        assert out == {"a": "[happy]", "b": "[happy]"}
        assert len(server.bodies) == 2
        body = server.bodies[0]
        assert body["model"] == "qwen"
        assert body["temperature"] == 0.7 and body["top_p"] == 0.8
        assert body["repetition_penalty"] == 1.05 and body["max_tokens"] == 512
        sent = sorted(b["messages"][0]["content"] for b in server.bodies)
        assert sent == sorted(OPENSET_PROMPT.format(reason=r) for r in ("He is glad.", "She is joyful."))
        assert [m["role"] for m in body["messages"]] == ["user"]
        # a rerun (new backend object, same cache dir) makes no request
        again = _backend(server.url, tmp_path, model="qwen", settings=EXTRACTOR_SETTINGS)
        assert extract_openset({"a": "He is glad.", "b": "She is joyful."}, again) == out
        assert len(server.bodies) == 2
        # other settings are another cache key
        _backend(server.url, tmp_path, model="qwen").complete(["He is glad."])
        assert len(server.bodies) == 3


def test_concurrency(tmp_path):
    with FakeOpenAI(lambda p: p[-1], delay=0.2) as server:
        backend = _backend(server.url, tmp_path, concurrency=4)
        assert backend.complete([f"prompt {i}" for i in range(8)]) == [str(i) for i in range(8)]
        assert 2 <= server.max_in_flight <= 4


def test_retry_on_500_and_429(tmp_path):
    with FakeOpenAI(lambda p: "ok", fail_with=[500, 429]) as server:
        backend = _backend(server.url, tmp_path, concurrency=1)
        backend.backoff = 0.01
        assert backend.complete(["x"]) == ["ok"]
        assert len(server.bodies) == 3


def test_gives_up_after_retries(tmp_path):
    with FakeOpenAI(lambda p: "ok", fail_with=[503] * 10) as server:
        backend = _backend(server.url, tmp_path, max_retries=2)
        backend.backoff = 0.01
        with pytest.raises(EmoxError, match="gave up after 3 attempts"):
            backend.complete(["x"])


def test_connection_refused_is_one_clear_error(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = _backend(f"http://127.0.0.1:{port}/v1", tmp_path)
    with pytest.raises(EmoxError, match="connection refused"):
        backend.complete(["x"])


def test_missing_key_for_remote_endpoint(tmp_path, monkeypatch):
    monkeypatch.delenv("EMOX_TEST_KEY", raising=False)
    with pytest.raises(EmoxError, match="no API key"):
        _backend("https://api.example.com/v1", tmp_path, key_env="EMOX_TEST_KEY")


def test_emer_official_parser_and_step_numbering_pitfall(tmp_path):
    def reply(prompt: str) -> str:
        if "视频描述" in prompt:
            return "高兴" if "glad" in prompt else "焦虑"
        if "《真实情感》" in prompt:
            return "'预测分数'：6；'原因'：部分重叠"
        return "1. 真实描述的情感是高兴\n2. ...\n'预测分数'：8；'原因'：..."

    gt = {"s1": "He looks glad.", "s2": "She is anxious."}
    pred = {"s1": "He is glad.", "s2": "She is worried.", "extra": "not scored"}
    with FakeOpenAI(reply) as server:
        judge = _backend(server.url, tmp_path, model=emer.JUDGE_MODEL, settings=emer.JUDGE_SETTINGS)
        clue = emer.clue_overlap(gt, pred, judge)
        assert clue["score"] == 1.0 and clue["n"] == 2  # the official regex reads the step number
        assert emer.clue_overlap(gt, pred, judge, strict=True)["score"] == 8.0
        label = emer.label_overlap(gt, pred, judge)
        assert label["score"] == 6.0
        assert label["samples"][0]["gt_emotions"] == "高兴"
        assert server.bodies[0]["temperature"] == 0.0
        sent = [b["messages"][0]["content"] for b in server.bodies]
        assert emer.CLUE_PROMPT.format(gt=gt["s1"], pred=pred["s1"]) in sent


@pytest.mark.parametrize(
    ("reply", "official", "strict"),
    [
        ("'预测分数'：7；'原因'：重叠度较高", 7.0, 7.0),
        ("预测分数：8.5", 8.5, 8.5),
        ("10", 10.0, 10.0),
        ("", 0.0, None),
        ("无法评估", 0.0, None),
        ("1. summary\n2. summary\nScore: 9", 1.0, 9.0),
    ],
)
def test_parse_score(reply, official, strict):
    assert emer.parse_score(reply) == official
    assert emer.parse_score(reply, strict=True) == strict
