"""Ops fixtures: a real local HTTP server standing in for Slack's incoming webhook."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class WebhookServer:
    """Answers POSTs with the scripted (status, headers) replies in order, then 200 "ok"."""

    host: str
    port: int
    received: list[Received] = field(default_factory=list)
    replies: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    delay: float = 0.0  # seconds between receiving a POST and answering it

    def url(self, path: str = "/services/T000/B000/XXXX") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def paths(self) -> list[str]:
        return [r.path for r in self.received]


@pytest.fixture
def webhook_server() -> Iterator[WebhookServer]:
    state = WebhookServer(host="127.0.0.1", port=0)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            with lock:
                state.received.append(Received(self.path, dict(self.headers), body))
                status, headers = state.replies.pop(0) if state.replies else (200, {})
            time.sleep(state.delay)
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                payload = b"ok" if status == 200 else b"error"
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
                pass

        def log_message(self, format: str, *args: object) -> None:  # keep test output clean
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def local_slack(settings, webhook_server: WebhookServer) -> WebhookServer:
    """Settings that let the notifier call the local server: http allowed, 127.0.0.1 allowed, the
    global webhook pointing at it."""
    settings.SLACK_WEBHOOK_REQUIRE_HTTPS = False
    settings.SLACK_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.SLACK_WEBHOOK_URL = webhook_server.url()
    settings.SLACK_TIMEOUT_SECONDS = 5.0
    return webhook_server
