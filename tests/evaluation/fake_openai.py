"""A loopback HTTP server that speaks the OpenAI chat-completions API, for judge tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeOpenAI:
    """Replies with ``reply_fn(prompt)`` (an int reply is sent as that HTTP status); the first ``fail_with``
    requests get those HTTP status codes; with ``redirect_to`` every request is answered 302 to that URL.
    ``headers`` keeps the headers of every request."""

    def __init__(
        self,
        reply_fn: Callable[[str], str | int],
        fail_with: list[int] | None = None,
        delay: float = 0.0,
        max_requests: int = 500,
        redirect_to: str | None = None,
    ) -> None:
        self.reply_fn = reply_fn
        self.fail_with = list(fail_with or [])
        self.delay = delay
        self.max_requests = max_requests
        self.redirect_to = redirect_to
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server API): where a followed 302 would land
                with fake.lock:
                    fake.headers.append(dict(self.headers))
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.bodies.append(body)
                    fake.headers.append(dict(self.headers))
                    status = fake.fail_with.pop(0) if fake.fail_with else 200
                    if len(fake.bodies) > fake.max_requests:
                        status = 503
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                if fake.redirect_to:
                    with fake.lock:
                        fake.in_flight -= 1
                    self.send_response(302)
                    self.send_header("Location", fake.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                time.sleep(fake.delay)
                with fake.lock:
                    fake.in_flight -= 1
                if self.path != "/v1/chat/completions":
                    status = 404
                if status != 200:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                content = fake.reply_fn(body["messages"][0]["content"])
                if isinstance(content, int):
                    self.send_response(content)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler
