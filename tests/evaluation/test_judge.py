"""The judge backend against a real OpenAI-compatible server on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emox_core.errors import EmoxError
from emox_core.evaluation.benchmarks import emer
from emox_core.evaluation.benchmarks.mer_unibench import EXTRACTOR_SETTINGS, OPENSET_PROMPT, extract_openset
from emox_core.evaluation.judge import DiskCache, OpenAIChatBackend, Settings, make_backend, redact_url

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


def test_redirect_to_another_origin_never_receives_the_key(tmp_path, monkeypatch):
    """Issue 13 §2: a 302 to another server is not followed, so the API key stays with the endpoint."""
    monkeypatch.setenv("EMOX_TEST_KEY", "sk-secret-123")
    with FakeOpenAI(lambda p: "ok") as other:
        target = other.url.removesuffix("/v1") + "/steal"
        with FakeOpenAI(lambda p: "ok", redirect_to=target) as first:
            backend = _backend(first.url.replace("127.0.0.1", "localhost"), tmp_path, key_env="EMOX_TEST_KEY")
            with pytest.raises(EmoxError, match="redirect to http://127.0.0.1 that is not followed"):
                backend.complete(["x"])
            assert first.headers[0]["Authorization"] == "Bearer sk-secret-123"  # the endpoint itself got it
        assert other.headers == [] and other.bodies == []  # the other origin saw nothing, key or not


def test_password_in_the_url_is_sent_as_basic_auth_and_never_shown(tmp_path):
    with FakeOpenAI(lambda p: "ok") as server:
        url = server.url.replace("http://", "http://judge:s3cret@")
        backend = _backend(url, tmp_path)
        assert backend.complete(["x"]) == ["ok"]
        assert server.headers[0]["Authorization"] == "Basic anVkZ2U6czNjcmV0"  # base64("judge:s3cret")
        assert backend.describe()["endpoint"] == url.replace("s3cret", "***")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = _backend(f"http://judge:s3cret@127.0.0.1:{port}/v1", tmp_path)
    with pytest.raises(EmoxError) as info:
        down.complete(["y"])
    assert "s3cret" not in str(info.value) and "judge:***@127.0.0.1" in str(info.value)
    with pytest.raises(EmoxError) as info:
        _backend("ftp://judge:s3cret@example.com/v1", tmp_path)
    assert "s3cret" not in str(info.value)
    assert redact_url("https://u:p@h.example:8443/v1?x=1") == "https://u:***@h.example:8443/v1?x=1"


def test_replies_are_cached_as_they_arrive_when_a_request_fails(tmp_path):
    """A run that dies on one prompt keeps every reply it received; the rerun asks only what is missing."""
    prompts = [f"prompt {i}" for i in range(6)]
    with FakeOpenAI(lambda p: 400 if p == "prompt 3" else p.upper()) as server:
        backend = _backend(server.url, tmp_path, concurrency=1)
        with pytest.raises(EmoxError, match="HTTP 400"):
            backend.complete(prompts)
        assert len(server.bodies) == 4  # prompts 0-3; nothing started after the failure
    with FakeOpenAI(lambda p: p.upper()) as server:
        again = _backend(server.url, tmp_path, concurrency=1)
        assert again.complete(prompts) == [p.upper() for p in prompts]
        assert sorted(b["messages"][0]["content"] for b in server.bodies) == ["prompt 3", "prompt 4", "prompt 5"]
        assert again.cache_hits == 3


def test_replies_survive_a_killed_run(tmp_path):
    """kill -9 in the middle of a judged run: every reply received before is on disk, and the rerun asks only
    the rest."""
    prompts = [f"item {i}" for i in range(40)]
    script = (
        "import sys\n"
        "from emox_core.evaluation.judge import Settings, make_backend\n"
        "b = make_backend(sys.argv[1], 'm', Settings(), sys.argv[2], concurrency=1)\n"
        f"b.complete({prompts!r})\n"
    )
    cache = tmp_path / "cache"
    with FakeOpenAI(lambda p: "reply " + p, delay=0.05) as server:
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        proc = subprocess.Popen([sys.executable, "-c", script, server.url, str(cache)], env=env)
        deadline = time.time() + 60
        while len(list(cache.rglob("*.json"))) < 5 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kept = len(list(cache.rglob("*.json")))
        assert 5 <= kept < len(prompts)
        before = len(server.bodies)
        again = _backend(server.url, tmp_path, model="m", concurrency=4)
        assert again.complete(prompts) == ["reply " + p for p in prompts]
        assert len(server.bodies) - before == len(prompts) - kept
        assert all(DiskCache(cache).get(DiskCache.key("m", p, Settings())) for p in prompts)


def test_failure_mode_empty_scores_a_failed_request_as_an_empty_reply(tmp_path):
    """The official EMER judge turns a failed API call into '' (score 0.0); such replies are not cached."""
    with FakeOpenAI(lambda p: 400 if p == "b" else "ok") as server:
        backend = make_backend(server.url, "m", Settings(), tmp_path / "c", on_failure="empty")
        assert backend.complete(["a", "b"]) == ["ok", ""]
        assert backend.failures == 1
        assert DiskCache(tmp_path / "c").get(DiskCache.key("m", "b", Settings())) is None


def test_missing_key_for_remote_endpoint(tmp_path, monkeypatch):
    monkeypatch.delenv("EMOX_TEST_KEY", raising=False)
    with pytest.raises(EmoxError, match="no API key"):
        _backend("https://api.example.com/v1", tmp_path, key_env="EMOX_TEST_KEY")


def test_emer_official_parser_and_step_numbering_pitfall(tmp_path):
    """Parser and prompts of Nano-EmoX eval_ovmerd.py (formula: first match of [\\d][.]*[\\d]*)."""
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
        ("'预测分数'：1..5", 0.0, 1.0),  # official: float("1..5") raises; emox scores it 0.0
    ],
)
def test_parse_score(reply, official, strict):
    assert emer.parse_score(reply) == official
    assert emer.parse_score(reply, strict=True) == strict
