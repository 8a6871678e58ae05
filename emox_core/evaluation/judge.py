"""The LLM backend of the evaluation (MER-UniBench extraction, EMER judge) and its disk cache.

Two backends behind one interface, :class:`ChatBackend`:
* :class:`OpenAIChatBackend`: any OpenAI-compatible ``/chat/completions`` endpoint (vLLM, a hosted API),
  standard library only (``urllib`` + a thread pool): concurrency, retries with backoff on 429/5xx/timeouts, a
  one-line :class:`EmoxError` when the endpoint refuses connections or the key is missing. Redirects are never
  followed, so the API key cannot reach another address; a password in the URL is sent as Basic auth and
  shown as ``***`` in every message.
* :class:`TransformersBackend`: a local chat model through transformers (imported lazily), batched.

Every reply is written to the disk cache the moment it arrives, under a key made of (model, prompt,
settings): a rerun makes no request, a killed run keeps every reply it got, and a score computed from sampled
replies (MER-UniBench samples at temperature 0.7) is reproducible.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emox_core.errors import EmoxError
from emox_core.fileio import atomic_write_json

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})
FAILURE_MODES = ("stop", "empty")


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


def redact_url(url: str) -> str:
    """``http://user:secret@host/v1`` -> ``http://user:***@host/v1`` (for messages and reports)."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _without_userinfo(url: str) -> tuple[str, str | None]:
    """The URL without ``user:password@`` and the Basic auth value for it (None without a user)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url, None
    netloc = parts.hostname or ""
    if ":" in netloc:  # IPv6 literal
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    user = urllib.parse.unquote(parts.username)
    password = urllib.parse.unquote(parts.password or "")
    basic = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc)), f"Basic {basic}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """urllib re-sends every header, Authorization included, to wherever a 30x points; we follow none."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


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


@contextmanager
def _progress_bar(total: int, description: str, enabled: bool) -> Iterator[Any]:
    """A progress bar on stderr (only on a terminal, so logs and captured output stay clean)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True, disable=not (enabled and console.is_terminal)) as bar:
        task = bar.add_task(description, total=total)
        yield lambda: bar.advance(task)


@dataclass
class ChatBackend:
    """Single-user-message chat completion with caching; subclasses implement :meth:`_stream`."""

    model: str
    settings: Settings = field(default_factory=Settings)
    cache: DiskCache | None = None
    progress: bool = True
    calls: int = 0  # prompts answered (cached or not)
    cache_hits: int = 0  # prompts answered from the disk cache (each repeat of a prompt counts)
    failures: int = 0  # prompts answered "" because the request failed (on_failure="empty")
    requests_made: int = 0  # HTTP requests sent, retries included
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def complete(self, prompts: Sequence[str], description: str = "judge") -> list[str]:
        """Replies for ``prompts`` in order. Cached ones cost nothing, duplicates are asked once, and every new
        reply is cached as it arrives."""
        self.calls += len(prompts)
        keys = [DiskCache.key(self.model, p, self.settings) for p in prompts]
        replies: dict[str, str] = {}
        todo: dict[str, str] = {}
        for key, prompt in zip(keys, prompts, strict=True):
            if key in replies or key in todo:
                continue
            hit = self.cache.get(key) if self.cache else None
            if hit is not None:
                replies[key] = hit
            else:
                todo[key] = prompt
        self.cache_hits += sum(1 for key in keys if key not in todo)
        if todo:
            with _progress_bar(len(todo), f"{description} ({self.model})", self.progress) as advance:
                for key, reply, ok in self._stream(list(todo.items())):
                    replies[key] = reply
                    if ok and self.cache:
                        self.cache.put(key, self.model, todo[key], self.settings, reply)
                    advance()
        return [replies[k] for k in keys]

    def _stream(self, items: list[tuple[str, str]]) -> Iterator[tuple[str, str, bool]]:
        """(key, reply, cacheable) for every (key, prompt), in any order, each as soon as it is ready."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {
            "backend": type(self).__name__,
            "model": self.model,
            "settings": self.settings.as_dict(),
            "prompts_answered": self.calls,
            "cache_hits": self.cache_hits,
            "failures": self.failures,
        }


@dataclass
class OpenAIChatBackend(ChatBackend):
    """POST ``{base_url}/chat/completions`` with one user message, ``concurrency`` requests in flight."""

    base_url: str = "http://127.0.0.1:8000/v1"
    api_key: str | None = None
    timeout: float = 120.0
    max_retries: int = 4
    backoff: float = 1.0
    concurrency: int = 8
    on_failure: str = "stop"  # "empty": a failed request scores as an empty reply, as the official EMER judge

    def __post_init__(self) -> None:
        shown = redact_url(self.base_url)
        parts = urllib.parse.urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EmoxError(f"--judge {shown!r}: not an http(s) URL")
        if self.on_failure not in FAILURE_MODES:
            raise EmoxError(f"judge failure mode {self.on_failure!r}: choose {' or '.join(FAILURE_MODES)}")
        self._url, self._basic = _without_userinfo(self.base_url)
        if parts.hostname not in LOCAL_HOSTS and not self.api_key and self._basic is None:
            raise EmoxError(f"--judge {shown}: no API key (set OPENAI_API_KEY or --judge-key-env)")

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "endpoint": redact_url(self.base_url)}

    def _stream(self, items: list[tuple[str, str]]) -> Iterator[tuple[str, str, bool]]:
        """After a failure no new request starts, but the replies already in flight are still delivered (and
        cached) before the error is raised."""
        pool = ThreadPoolExecutor(max_workers=max(1, self.concurrency))
        pending: dict[Future[str | None], str] = {}
        queue = list(items)
        error: EmoxError | None = None
        try:
            while pending or (queue and error is None):
                while error is None and queue and len(pending) < max(1, self.concurrency):
                    key, prompt = queue.pop(0)
                    pending[pool.submit(self._answer, prompt)] = key
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    key = pending.pop(future)
                    try:
                        reply = future.result()
                    except EmoxError as exc:
                        error = error or exc
                        continue
                    yield key, (reply or ""), reply is not None
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        if error is not None:
            raise error

    def _answer(self, prompt: str) -> str | None:
        """The reply, or None after a failure in ``on_failure="empty"`` mode."""
        try:
            return self._request(prompt)
        except EmoxError:
            if self.on_failure == "stop":
                raise
            with self._lock:
                self.failures += 1
            return None

    def _request(self, prompt: str) -> str:
        url = self._url.rstrip("/") + "/chat/completions"
        shown = redact_url(self.base_url).rstrip("/") + "/chat/completions"
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            **self.settings.as_dict(),
        }
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        elif self._basic:
            headers["Authorization"] = self._basic
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        problem = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                with self._lock:
                    self.requests_made += 1
                request = urllib.request.Request(url, data=data, headers=headers, method="POST")
                with _OPENER.open(request, timeout=self.timeout) as response:
                    payload = json.loads(response.read().decode("utf-8"))
                return _reply_text(payload, shown)
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code} {exc.reason}"
                if 300 <= exc.code < 400:
                    target = urllib.parse.urlsplit(exc.headers.get("Location", "") if exc.headers else "")
                    where = f"{target.scheme}://{target.hostname}" if target.hostname else "another address"
                    raise EmoxError(
                        f"judge {shown}: {problem}, a redirect to {where} that is not followed (the API key is "
                        "never sent on; pass the final URL as --judge)"
                    ) from None
                if exc.code in (401, 403):
                    raise EmoxError(f"judge {shown}: {problem} (check the API key)") from None
                if exc.code not in RETRY_STATUS:
                    raise EmoxError(f"judge {shown}: {problem}") from None
                retry_after = exc.headers.get("Retry-After") if exc.headers else None
                if retry_after and retry_after.replace(".", "", 1).isdigit():
                    time.sleep(min(float(retry_after), 60.0))
            except urllib.error.URLError as exc:
                if isinstance(exc.reason, ConnectionRefusedError):
                    raise EmoxError(f"judge {shown}: connection refused (is the server running?)") from None
                if not isinstance(exc.reason, (TimeoutError, socket.timeout, ConnectionError)):
                    raise EmoxError(f"judge {shown}: {exc.reason}") from None
                problem = str(exc.reason)
            except (TimeoutError, ConnectionError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            except ValueError:
                raise EmoxError(f"judge {shown}: reply is not JSON") from None
        raise EmoxError(f"judge {shown}: gave up after {self.max_retries + 1} attempts ({problem})")


def _reply_text(payload: Any, url: str) -> str:
    try:
        content = payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise EmoxError(f"judge {url}: reply is not an OpenAI chat completion") from None
    return content or ""


@dataclass
class TransformersBackend(ChatBackend):
    """A local chat model (a folder, or a hub id already in the HF cache), generating ``batch_size`` prompts at a
    time with left padding."""

    batch_size: int = 8
    _pipeline: Any = None

    def _load(self) -> tuple[Any, Any]:
        if self._pipeline is None:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            try:
                tokenizer = AutoTokenizer.from_pretrained(self.model)
                model = AutoModelForCausalLM.from_pretrained(self.model, dtype="auto")
            except (OSError, ValueError) as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise EmoxError(
                    f"--judge hf:{self.model}: cannot load the model ({reason[:200]}); offline, a hub id must "
                    "already be in the Hugging Face cache, or pass a local model folder"
                ) from None
            tokenizer.padding_side = "left"
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            self._pipeline = (tokenizer, model.eval())
        return self._pipeline

    def _stream(self, items: list[tuple[str, str]]) -> Iterator[tuple[str, str, bool]]:
        import torch

        tokenizer, model = self._load()
        s = self.settings
        sample = s.temperature > 0
        for start in range(0, len(items), max(1, self.batch_size)):
            batch = items[start : start + max(1, self.batch_size)]
            if s.seed is not None:
                torch.manual_seed(s.seed)
            texts = [
                tokenizer.apply_chat_template(
                    [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
                )
                for _, prompt in batch
            ]
            inputs = tokenizer(texts, return_tensors="pt", padding=True).to(model.device)
            with torch.no_grad():
                generated = model.generate(
                    **inputs,
                    max_new_tokens=s.max_tokens or 512,
                    do_sample=sample,
                    temperature=s.temperature if sample else None,
                    top_p=s.top_p if sample else None,
                    repetition_penalty=s.repetition_penalty or 1.0,
                    pad_token_id=tokenizer.pad_token_id,
                )
            width = inputs["input_ids"].shape[1]
            for (key, _), row in zip(batch, generated, strict=True):
                yield key, tokenizer.decode(row[width:], skip_special_tokens=True), True

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "endpoint": f"hf:{self.model}", "batch_size": self.batch_size}


def make_backend(
    spec: str,
    model: str,
    settings: Settings,
    cache_dir: str | os.PathLike[str] | None,
    key_env: str = "OPENAI_API_KEY",
    concurrency: int = 8,
    timeout: float = 120.0,
    max_retries: int = 4,
    *,
    batch_size: int = 8,
    progress: bool = True,
    on_failure: str = "stop",
) -> ChatBackend:
    """``spec`` is an http(s) base URL (OpenAI-compatible) or ``hf:`` + a local model path/id."""
    cache = DiskCache(cache_dir) if cache_dir else None
    if spec.startswith("hf:"):
        return TransformersBackend(
            model=spec[3:] or model, settings=settings, cache=cache, progress=progress, batch_size=batch_size
        )
    return OpenAIChatBackend(
        model=model,
        settings=settings,
        cache=cache,
        progress=progress,
        base_url=spec,
        api_key=os.environ.get(key_env),
        concurrency=concurrency,
        timeout=timeout,
        max_retries=max_retries,
        on_failure=on_failure,
    )
