"""Ops routers: ``health_router`` at /api/health/, ``monitoring_router`` at /api/monitoring/."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Status

from modules.ops import services
from modules.ops.schemas import LiveOut, NotReadyOut, ReadyOut

health_router = Router(tags=["health"], auth=None, throttle=[])
monitoring_router = Router(tags=["monitoring"])


@health_router.get("/live/", response=LiveOut, summary="Liveness: the process answers (no I/O)")
def live(request: HttpRequest) -> dict[str, str]:
    return {"status": "ok"}


@health_router.get(
    "/ready/", response={200: ReadyOut, 503: NotReadyOut}, summary="Readiness: database and cache answer"
)
def ready(request: HttpRequest) -> Status:
    result = services.readiness()
    checks = {name: vars(check) for name, check in result.checks.items()}
    if result.ok:
        return Status(200, {"status": "ok", "checks": checks})
    failing = ", ".join(name for name, check in result.checks.items() if not check.ok)
    return Status(
        503,
        {"status": "unavailable", "checks": checks, "detail": f"Not ready: {failing}", "code": "unavailable"},
    )
