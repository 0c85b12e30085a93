"""Ops routers: ``health_router`` at /api/health/, ``monitoring_router`` at /api/monitoring/ (admins
only: ``config/api.py`` mounts it with the staff-only authenticator, so its routes never check), and the
Prometheus text endpoint ``prometheus_metrics`` (a plain Django view at /metrics).

No ``from __future__ import annotations`` here: Ninja resolves the annotations of paginated views at
runtime, from its own module, where string annotations would not resolve.
"""

import hmac

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from ninja import Query, Router, Status
from ninja.pagination import paginate
from prometheus_client import CONTENT_TYPE_LATEST

from modules.common.errors import Conflict, NotFound, raises, without_io
from modules.common.pagination import LimitOffsetPagination
from modules.common.throttles import UserOrIPRateThrottle
from modules.ops import prometheus, services
from modules.ops.models import AlertEvent, AlertRule
from modules.ops.schemas import (
    AlertEventOut,
    AlertRuleIn,
    AlertRuleOut,
    AlertRulePatch,
    AlertsQuery,
    LiveOut,
    MetricsQuery,
    MonitoringHealthOut,
    NotReadyOut,
    ReadyOut,
    SampleSeriesOut,
)

health_router = Router(tags=["health"], auth=None, throttle=[])
monitoring_router = Router(tags=["monitoring"])

monitoring_health_throttle = UserOrIPRateThrottle(
    rate_setting="MONITORING_HEALTH_THROTTLE_RATE", scope="monitoring_health"
)


@health_router.get("/live/", response=LiveOut, summary="Liveness: the process answers (no I/O)")
@without_io
def live(request: HttpRequest) -> dict[str, str]:
    """200 while the process answers; touches neither the database nor the cache (for a liveness
    probe). Not throttled, no authentication."""
    return {"status": "ok"}


@health_router.get(
    "/ready/", response={200: ReadyOut, 503: NotReadyOut}, summary="Readiness: database and cache answer"
)
def ready(request: HttpRequest) -> Status:
    """200 when the database and the cache answer, else 503 with each check's result (for a readiness
    probe: take the instance out of rotation). Not throttled, no authentication."""
    result = services.readiness()
    checks = {name: vars(check) for name, check in result.checks.items()}
    if result.ok:
        return Status(200, {"status": "ok", "checks": checks})
    failing = ", ".join(name for name, check in result.checks.items() if not check.ok)
    return Status(
        503,
        {"status": "unavailable", "checks": checks, "detail": f"Not ready: {failing}", "code": "unavailable"},
    )


# --- /api/monitoring/ (admins only) -----------------------------------------------------------------


@monitoring_router.get(
    "/health/",
    response=MonitoringHealthOut,
    throttle=[monitoring_health_throttle],
    summary="Health of database, cache, queue, worker, metric collection and disk, with the newest metrics",
)
def monitoring_health(request: HttpRequest) -> services.MonitoringHealth:
    """The state of the database, cache, queue, worker (a live Django-Q2 cluster on any host) and
    disk, whether metrics are still being collected (the newest sample under 3 minutes old), and the
    newest sample of every metric: `degraded` when a check fails. Staff only (403 `forbidden`); its own
    rate (MONITORING_HEALTH_THROTTLE_RATE)."""
    return services.monitoring_health()


@monitoring_router.get("/metrics/", response=SampleSeriesOut, summary="Samples of one metric over time")
def metric_samples(request: HttpRequest, filters: Query[MetricsQuery]) -> services.SampleSeries:
    """The samples of metric `name` between `since` and `until`, oldest first. An unknown metric, or
    `since` after `until`, answers 422. Staff only."""
    return services.metric_samples(
        name=filters.name, since=filters.since, until=filters.until, limit=filters.limit
    )


@monitoring_router.get("/alert-rules/", response=list[AlertRuleOut], summary="Alert rules")
@paginate(LimitOffsetPagination)
def list_rules(request: HttpRequest) -> QuerySet[AlertRule]:
    """Every alert rule; an offset list. Staff only."""
    return services.list_rules()


@monitoring_router.post("/alert-rules/", response={201: AlertRuleOut}, summary="Create an alert rule")
@raises(Conflict)
def create_rule(request: HttpRequest, payload: AlertRuleIn) -> Status:
    """A rule fires when `aggregation` of `metric` over `window_minutes` compares to `threshold` by
    `operator`; it notifies Slack and/or emails, then stays quiet for `cooldown_minutes`. Names are
    unique (409 `conflict`). Staff only."""
    return Status(201, services.create_rule(values=payload.model_dump()))


@monitoring_router.patch("/alert-rules/{rule_id}/", response=AlertRuleOut, summary="Change an alert rule")
@raises(Conflict, NotFound)
def update_rule(request: HttpRequest, rule_id: int, payload: AlertRulePatch) -> AlertRule:
    """Any subset of a rule's fields. Staff only."""
    return services.update_rule(rule_id=rule_id, changes=payload.model_dump(exclude_unset=True))


@monitoring_router.delete("/alert-rules/{rule_id}/", response={204: None}, summary="Delete an alert rule")
@raises(NotFound)
def delete_rule(request: HttpRequest, rule_id: int) -> Status:
    """Deletes a rule and its alert history. Staff only."""
    services.delete_rule(rule_id=rule_id)
    return Status(204, None)


@monitoring_router.get("/alerts/", response=list[AlertEventOut], summary="Alert history, newest first")
@paginate(LimitOffsetPagination)
def list_alerts(request: HttpRequest, filters: Query[AlertsQuery]) -> QuerySet[AlertEvent]:
    """Alerts fired, newest first, optionally of one rule or only those still open; an offset list.
    Staff only."""
    return services.list_alert_events(rule_id=filters.rule, open_only=filters.open)


# --- /metrics (Prometheus text format) -----------------------------------------------------------------


@require_GET
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    """Behind ``Authorization: Bearer <METRICS_BEARER_TOKEN>``. Without a configured token the
    endpoint does not exist (404): an unprotected scrape endpoint is never served by accident."""
    token = settings.METRICS_BEARER_TOKEN
    if not token:
        return HttpResponse("Not found.\n", status=404, content_type="text/plain")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        response = HttpResponse("Authentication required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(prometheus.render(services.latest_metrics()), content_type=CONTENT_TYPE_LATEST)
