"""Local stand-ins for the outside world that the real processes talk to over HTTP.

- ``WebhookServer``: a Slack incoming webhook that records every JSON body posted to it.
- ``AnthropicServer``: the Anthropic Messages API (``ANTHROPIC_BASE_URL`` points the SDK at it),
  answering with tests.ai.fake_anthropic's bodies; ``holding()`` makes calls wait until its block ends,
  ``delay`` makes every answer take that many seconds.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2

from tests.ai.fake_anthropic import FakeAnthropic


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))


class _WebhookHandler(_Quiet):
    def do_POST(self) -> None:
        owner: WebhookServer = self.server.owner  # type: ignore[attr-defined]
        body = self._body()
        with owner.lock:
            owner.messages.append(json.loads(body or b"{}"))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok")


class WebhookServer(_Server):
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        super().__init__(_WebhookHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/services/T000/B000/XXXX"

    def texts(self) -> list[str]:
        with self.lock:
            return [json.dumps(message) for message in self.messages]


class _AnthropicHandler(_Quiet):
    def do_POST(self) -> None:
        owner: AnthropicServer = self.server.owner  # type: ignore[attr-defined]
        body = self._body()
        with owner.lock:
            owner.calls += 1
            held = owner.calls >= owner.hold_from
        if held:
            owner.arrived.set()
            owner.gate.wait(timeout=120)
        if owner.delay:
            time.sleep(owner.delay)  # a slow model
        request = httpx2.Request("POST", f"http://anthropic{self.path}", content=body)
        response = owner.fake.handle(request)
        self.send_response(response.status_code)
        for key, value in response.headers.items():
            if key.lower() not in {"content-length", "transfer-encoding", "content-encoding"}:
                self.send_header(key, value)
        payload = response.content
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class AnthropicServer(_Server):
    def __init__(self) -> None:
        self.fake = FakeAnthropic()
        self.lock = threading.Lock()
        self.calls = 0
        self.gate = threading.Event()
        self.gate.set()
        self.arrived = threading.Event()
        self.hold_from = 1
        self.delay = 0.0  # seconds every answer takes
        super().__init__(_AnthropicHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """A stack's settings for Claude served by this stand-in."""
        return {
            "AI_PROVIDER": "claude",
            "ANTHROPIC_API_KEY": "sk-ant-system-test",
            "ANTHROPIC_BASE_URL": self.url,
        }

    @contextmanager
    def holding(self, *, from_call: int = 1) -> Iterator[None]:
        """Calls from the ``from_call``-th on wait (up to two minutes) until the block ends."""
        with self.lock:
            self.hold_from = self.calls + from_call
        self.gate.clear()
        self.arrived.clear()
        try:
            yield
        finally:
            self.gate.set()

    def wait_for_held_call(self, timeout: float = 30) -> None:
        if not self.arrived.wait(timeout):
            raise TimeoutError("no call reached the Anthropic stand-in")
        time.sleep(0.05)
