"""Local fake servers speaking real protocols on 127.0.0.1 (ephemeral ports).

:class:`ScriptedHTTPServer` is the shared base of the Alpaca and LEAN fakes: a stdlib
``ThreadingHTTPServer`` in a thread that records every request and answers either from a
per-route queue of scripted :class:`Reply` objects (failures: 5xx, 429 with Retry-After, a delay
longer than the client's timeout, malformed JSON, a dropped connection) or, when the queue is
empty, from the subclass's stateful venue logic (``handle``). A scripted reply with
``apply=True`` lets the venue act on the request first and then answers with the scripted
failure - "the order was placed but the answer was lost", the case that makes double orders.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_NO_JSON = object()


@dataclass(frozen=True)
class Reply:
    """One HTTP answer. ``body`` (raw bytes) wins over ``json``."""

    status: int = 200
    json: Any = _NO_JSON
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop: bool = False
    apply: bool = False


@dataclass(frozen=True)
class Recorded:
    """A request the server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def free_port() -> int:
    """A port nothing listens on (for connection-refused tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ScriptedHTTPServer:
    """Base fake: override :meth:`handle` with the venue's behaviour."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._scripts: dict[tuple[str, str], deque[Reply]] = defaultdict(deque)
        self._lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- test API ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, method: str, path: str, *replies: Reply) -> None:
        """Queue replies for ``method path`` (path without query); used before the venue logic."""
        with self._lock:
            self._scripts[(method.upper(), path)].extend(replies)

    def calls(self, method: str, path: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests
                    if r.method == method.upper() and (path is None or r.path == path)]

    def handle(self, request: Recorded) -> Reply:  # pragma: no cover - overridden
        return Reply(404, json={"error": "not_found"})

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> ScriptedHTTPServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                owner._serve(self)

            do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.05})
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> ScriptedHTTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- plumbing -----------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        request = Recorded(handler.command, parts.path, parse_qs(parts.query),
                           dict(handler.headers.items()), body)
        with self._lock:
            self.requests.append(request)
            queue = self._scripts.get((request.method, request.path))
            scripted = queue.popleft() if queue else None
            if scripted is None:
                reply = self.handle(request)
            else:
                if scripted.apply:
                    self.handle(request)
                reply = scripted
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if reply.drop:
            handler.close_connection = True
            try:
                handler.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        payload = reply.body if reply.body is not None else (
            b"" if reply.json is _NO_JSON else json.dumps(reply.json).encode())
        try:
            handler.send_response(reply.status)
            if payload:
                handler.send_header("Content-Type", "application/json")
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True  # the client gave up (timeout): nothing to do
