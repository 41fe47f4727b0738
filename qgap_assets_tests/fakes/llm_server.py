"""A local stand-in for an OpenAI-compatible chat API (``POST /chat/completions``).

Binds 127.0.0.1 on an ephemeral port. Tests script what it answers, one :class:`Scripted`
reply per request (the last one repeats): good advice, malformed JSON, out-of-bounds
adjustments, a delay longer than the client's timeout, or a 5xx. It records every request
(path, headers, JSON body) so tests can check what the client sent.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Scripted:
    """One reply. ``content`` becomes ``choices[0].message.content`` unless ``raw_body`` is set
    (then the body is sent verbatim, e.g. a broken envelope)."""

    content: str = ""
    status: int = 200
    delay_seconds: float = 0.0
    raw_body: bytes | None = None

    @classmethod
    def advice(cls, obj: dict[str, Any], **kw: Any) -> "Scripted":
        return cls(content=json.dumps(obj), **kw)


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None


@dataclass
class FakeLLMServer:
    script: list[Scripted] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    base_url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def queue(self, *replies: Scripted) -> None:
        with self._lock:
            self.script.extend(replies)

    def _next(self) -> Scripted:
        with self._lock:
            if not self.script:
                return Scripted(status=500, raw_body=b'{"error": "nothing scripted"}')
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]


def _envelope(content: str, model: str) -> bytes:
    return json.dumps({
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }).encode("utf-8")


def _handler(fake: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:  # keep test output quiet
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server naming
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            with fake._lock:
                fake.requests.append(Recorded(self.path, dict(self.headers.items()), body))
            reply = fake._next()
            if reply.delay_seconds:
                time.sleep(reply.delay_seconds)
            if self.path.rstrip("/") != "/v1/chat/completions":
                status, payload = 404, b'{"error": "not found"}'
            elif reply.raw_body is not None:
                status, payload = reply.status, reply.raw_body
            else:
                model = (body or {}).get("model", "fake")
                status, payload = reply.status, _envelope(reply.content, model)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # client gave up (timeout tests)
                pass

    return Handler


@contextmanager
def running_llm_server() -> Iterator[FakeLLMServer]:
    """Start the fake on 127.0.0.1:<ephemeral>; ``base_url`` ends in ``/v1`` like real APIs."""
    fake = FakeLLMServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              name="fake-llm", daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
