"""Every metric the collector records: its name, unit, group and where the number comes from.

One table, read by the collector (which must produce only these names), by the schemas (a rule or a
query names one of these, or 422) and by the documentation (README "Metrics", docs/ops.md).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricDef:
    name: str
    unit: str
    group: str
    source: str


METRICS: tuple[MetricDef, ...] = (
    # --- system (the host the collector runs on) ---
    MetricDef(
        "cpu_usage",
        "percent",
        "system",
        "psutil.cpu_times() busy share since the previous round (else a 0.5 s psutil.cpu_percent sample)",
    ),
    MetricDef("memory_usage", "percent", "system", "psutil.virtual_memory().percent"),
    MetricDef("disk_usage", "percent", "system", "psutil.disk_usage(OPS_DISK_PATH).percent"),
    MetricDef("load_average_1m", "load", "system", "os.getloadavg()[0]"),
    # --- API (the request metrics middleware, last complete minute) ---
    MetricDef("api_requests_per_minute", "requests", "api", "middleware counters, last complete minute"),
    MetricDef("api_response_time", "ms", "api", "middleware: mean latency of the last complete minute"),
    MetricDef(
        "api_response_time_p95", "ms", "api", "middleware: p95 from the fixed-bucket latency histogram"
    ),
    MetricDef("api_error_rate", "percent", "api", "middleware: share of 5xx answers, last complete minute"),
    MetricDef(
        "api_client_error_rate", "percent", "api", "middleware: share of 4xx answers, last complete minute"
    ),
    MetricDef(
        "api_throttled_requests", "requests", "api", "middleware: 429 answers in the last complete minute"
    ),
    # --- database ---
    MetricDef("db_connection_count", "connections", "database", "pg_stat_activity rows of this database"),
    MetricDef(
        "db_query_avg_time",
        "ms",
        "database",
        "pg_stat_statements mean execution time when installed, else a timed probe query",
    ),
    MetricDef(
        "db_size", "bytes", "database", "pg_database_size(current_database()); SQLite: page_count*page_size"
    ),
    # --- cache (Redis INFO of the Django cache's server) ---
    MetricDef("cache_hit_rate", "percent", "cache", "Redis INFO keyspace_hits / (hits + misses) since start"),
    MetricDef("cache_memory_used", "bytes", "cache", "Redis INFO used_memory"),
    MetricDef("cache_connected_clients", "clients", "cache", "Redis INFO connected_clients"),
    # --- queue (Django-Q2) ---
    MetricDef(
        "queue_active_workers",
        "workers",
        "queue",
        "django_q Stat.get_all(): worker processes of live clusters",
    ),
    MetricDef("queue_queued_tasks", "tasks", "queue", "broker.queue_size() (OrmQ rows or Redis list length)"),
    MetricDef("queue_failed_tasks", "tasks", "queue", "django_q Failure rows stopped in the last hour"),
    # --- AI (ai facade) ---
    MetricDef("ai_cost_daily", "usd", "ai", "ai.cost_since(since=00:00 UTC today)"),
    MetricDef("ai_requests", "requests", "ai", "ai.usage_totals(since=1 h ago).requests"),
    MetricDef("ai_error_rate", "percent", "ai", "ai.usage_totals(since=1 h ago): errors / requests"),
    MetricDef("ai_tokens", "tokens", "ai", "ai.usage_totals(since=1 h ago).tokens"),
    # --- learning and users (identity and learning facades) ---
    MetricDef("total_users", "users", "users", "identity.count_users()"),
    MetricDef("signups", "users", "users", "identity.count_signups(since=24 h ago)"),
    MetricDef(
        "user_activity_rate",
        "percent",
        "users",
        "learning.count_active_reviewers(since=24 h ago) / identity.count_users()",
    ),
    MetricDef("reviews_completed", "reviews", "learning", "learning.count_reviews(since=24 h ago)"),
    MetricDef("overdue_reviews", "reviews", "learning", "learning.count_overdue(now=now)"),
    # --- email ---
    MetricDef("email_failed_sends", "emails", "email", "identity.count_failed_emails(since=24 h ago)"),
)

BY_NAME: dict[str, MetricDef] = {metric.name: metric for metric in METRICS}
METRIC_NAMES: tuple[str, ...] = tuple(BY_NAME)


def unit_of(name: str) -> str:
    return BY_NAME[name].unit
