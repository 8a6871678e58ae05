"""The LLM backend of the evaluation (MER-UniBench extraction, EMER judge) and its disk cache.

Two backends behind one interface, :class:`ChatBackend`:
* :class:`OpenAIChatBackend`: any OpenAI-compatible ``/chat/completions`` endpoint (vLLM, a hosted API),
  standard library only (``urllib`` + a thread pool): concurrency, retries with backoff on 429/5xx/timeouts, a
  one-line :class:`EmoxError` when the endpoint refuses connections or the key is missing.
* :class:`TransformersBackend`: a local chat model through transformers (imported lazily).

Every reply is cached on disk under a key made of (model, prompt, settings), so a rerun makes no request and a
score computed from sampled replies (MER-UniBench samples at temperature 0.7) is reproducible.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emox_core.errors import EmoxError
from emox_core.fileio import atomic_write_json

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})


@dataclass(frozen=True)
class Settings:
    """Decoding settings; part of every cache key."""

    temperature: float = 0.0
    top_p: float | None = None
    max_tokens: int | None = None
    repetition_penalty: float | None = None
    seed: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


class DiskCache:
    """One JSON file per reply, named by the SHA-256 of (model, prompt, settings); writes are atomic."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    @staticmethod
    def key(model: str, prompt: str, settings: Settings) -> str:
        blob = json.dumps(
            {"model": model, "prompt": prompt, "settings": settings.as_dict()},
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))["reply"]
        except (OSError, ValueError, KeyError):
            return None  # a damaged entry is simply asked again

    def put(self, key: str, model: str, prompt: str, settings: Settings, reply: str) -> None:
        atomic_write_json(
            self._path(key),
            {"model": model, "settings": settings.as_dict(), "prompt": prompt, "reply": reply},
        )


@dataclass
class ChatBackend:
    """Single-user-message chat completion with caching; subclasses implement :meth:`_complete_uncached`."""

    model: str
    settings: Settings = field(default_factory=Settings)
    cache: DiskCache | None = None
    calls: int = 0  # prompts answered (cached or not)
    requests_made: int = 0  # HTTP requests sent, retries included
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def complete(self, prompts: Sequence[str]) -> list[str]:
        """Replies for ``prompts`` in order; cached ones cost nothing, duplicates are asked once."""
        self.calls += len(prompts)
        keys = [DiskCache.key(self.model, p, self.settings) for p in prompts]
        replies: dict[str, str] = {}
        todo: dict[str, str] = {}
        for key, prompt in zip(keys, prompts, strict=True):
            hit = self.cache.get(key) if self.cache else None
            if hit is not None:
                replies[key] = hit
            else:
                todo.setdefault(key, prompt)
        if todo:
            fresh = self._complete_uncached(list(todo.values()))
            for (key, prompt), reply in zip(todo.items(), fresh, strict=True):
                replies[key] = reply
                if self.cache:
                    self.cache.put(key, self.model, prompt, self.settings, reply)
        return [replies[k] for k in keys]

    def _complete_uncached(self, prompts: list[str]) -> list[str]:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"backend": type(self).__name__, "model": self.model, "settings": self.settings.as_dict()}


@dataclass
class OpenAIChatBackend(ChatBackend):
    """POST ``{base_url}/chat/completions`` with one user message, ``concurrency`` requests in flight."""

    base_url: str = "http://127.0.0.1:8000/v1"
    api_key: str | None = None
    timeout: float = 120.0
    max_retries: int = 4
    backoff: float = 1.0
    concurrency: int = 8

    def __post_init__(self) -> None:
        host = urllib.parse.urlparse(self.base_url).hostname or ""
        if not urllib.parse.urlparse(self.base_url).scheme.startswith("http") or not host:
            raise EmoxError(f"--judge {self.base_url!r}: not an http(s) URL")
        if host not in LOCAL_HOSTS and not self.api_key:
            raise EmoxError(f"--judge {self.base_url}: no API key (set OPENAI_API_KEY or --judge-key-env)")

    def _complete_uncached(self, prompts: list[str]) -> list[str]:
        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            return list(pool.map(self._request, prompts))

    def _request(self, prompt: str) -> str:
        url = self.base_url.rstrip("/") + "/chat/completions"
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            **self.settings.as_dict(),
        }
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        problem = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                with self._lock:
                    self.requests_made += 1
                request = urllib.request.Request(url, data=data, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    payload = json.loads(response.read().decode("utf-8"))
                return _reply_text(payload, url)
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code} {exc.reason}"
                if exc.code in (401, 403):
                    raise EmoxError(f"judge {url}: {problem} (check the API key)") from None
                if exc.code not in RETRY_STATUS:
                    raise EmoxError(f"judge {url}: {problem}") from None
                retry_after = exc.headers.get("Retry-After") if exc.headers else None
                if retry_after and retry_after.replace(".", "", 1).isdigit():
                    time.sleep(min(float(retry_after), 60.0))
            except urllib.error.URLError as exc:
                if isinstance(exc.reason, ConnectionRefusedError):
                    raise EmoxError(f"judge {url}: connection refused (is the server running?)") from None
                if not isinstance(exc.reason, (TimeoutError, socket.timeout, ConnectionError)):
                    raise EmoxError(f"judge {url}: {exc.reason}") from None
                problem = str(exc.reason)
            except (TimeoutError, ConnectionError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
        raise EmoxError(f"judge {url}: gave up after {self.max_retries + 1} attempts ({problem})")


def _reply_text(payload: Any, url: str) -> str:
    try:
        content = payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise EmoxError(f"judge {url}: reply is not an OpenAI chat completion") from None
    return content or ""


@dataclass
class TransformersBackend(ChatBackend):
    """A local chat model (path or hub id already in the HF cache); generation is sequential."""

    _pipeline: Any = None

    def _complete_uncached(self, prompts: list[str]) -> list[str]:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if self._pipeline is None:
            tokenizer = AutoTokenizer.from_pretrained(self.model)
            model = AutoModelForCausalLM.from_pretrained(self.model, dtype="auto")
            self._pipeline = (tokenizer, model.eval())
        tokenizer, model = self._pipeline
        s = self.settings
        if s.seed is not None:
            torch.manual_seed(s.seed)
        out = []
        for prompt in prompts:
            text = tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
            )
            inputs = tokenizer(text, return_tensors="pt").to(model.device)
            sample = s.temperature > 0
            generated = model.generate(
                **inputs,
                max_new_tokens=s.max_tokens or 512,
                do_sample=sample,
                temperature=s.temperature if sample else None,
                top_p=s.top_p if sample else None,
                repetition_penalty=s.repetition_penalty or 1.0,
            )
            out.append(tokenizer.decode(generated[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True))
        return out


def make_backend(
    spec: str,
    model: str,
    settings: Settings,
    cache_dir: str | os.PathLike[str] | None,
    key_env: str = "OPENAI_API_KEY",
    concurrency: int = 8,
    timeout: float = 120.0,
    max_retries: int = 4,
) -> ChatBackend:
    """``spec`` is an http(s) base URL (OpenAI-compatible) or ``hf:`` + a local model path/id."""
    cache = DiskCache(cache_dir) if cache_dir else None
    if spec.startswith("hf:"):
        return TransformersBackend(model=spec[3:] or model, settings=settings, cache=cache)
    return OpenAIChatBackend(
        model=model,
        settings=settings,
        cache=cache,
        base_url=spec,
        api_key=os.environ.get(key_env),
        concurrency=concurrency,
        timeout=timeout,
        max_retries=max_retries,
    )
