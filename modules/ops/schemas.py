"""The ops module's request and response shapes."""

from __future__ import annotations

from ninja import Schema


class LiveOut(Schema):
    status: str


class CheckOut(Schema):
    ok: bool
    latency_ms: float
    error: str = ""


class ReadyOut(Schema):
    status: str
    checks: dict[str, CheckOut]


class NotReadyOut(ReadyOut):
    detail: str
    code: str
