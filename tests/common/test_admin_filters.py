"""Change lists of tables without bound render without reading the whole table: no date hierarchy (its
month and day links are DISTINCT scans over every row of the year), no filter whose choices are every
distinct value of a column or every related row, and the AI request log's summary covers the last 30
days unless a date filter says otherwise (it aggregated the whole log three times on every page)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.admin.filters import AllValuesFieldListFilter, RelatedFieldListFilter
from django.db import connection, models
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from modules.ai.models import AIRequestLog
from modules.common.admin import LargeTableAdmin, RecentValuesFilter

pytestmark = pytest.mark.django_db

LOG = "/admin/ai/airequestlog/"


def _large_table_admins() -> list[admin.ModelAdmin]:
    return [
        model_admin
        for model_admin in admin.site._registry.values()
        if isinstance(model_admin, LargeTableAdmin)
    ]


def _scanning_filters(model_admin: admin.ModelAdmin) -> list[str]:
    """The list filters whose choices Django reads from the whole table (or the whole related table)."""
    found = []
    for entry in model_admin.list_filter:
        if isinstance(entry, str):
            field = model_admin.model._meta.get_field(entry.split("__")[0]) if "__" not in entry else None
            if field is None or field.is_relation:
                found.append(entry)  # a related row's field, or the related rows themselves
            elif not (field.choices or isinstance(field, models.BooleanField | models.DateField)):
                found.append(entry)  # AllValuesFieldListFilter: SELECT DISTINCT over the table
        elif isinstance(entry, tuple) and issubclass(
            entry[1], AllValuesFieldListFilter | RelatedFieldListFilter
        ):
            found.append(entry[0])
    return found


def test_no_large_table_admin_reads_the_whole_table_for_its_links_or_filters() -> None:
    admins = _large_table_admins()
    assert (
        len(admins) >= 8
    )  # history, contents, questions, request log, email log, tokens, samples, snapshots
    assert [type(a).__name__ for a in admins if a.date_hierarchy] == []
    assert {type(a).__name__: _scanning_filters(a) for a in admins if _scanning_filters(a)} == {}


def _log(model: str, days_ago: float, cost: str) -> AIRequestLog:
    return AIRequestLog.objects.create(
        provider="claude",
        model=model,
        task="generate",
        outcome="success",
        tokens_in=100,
        tokens_out=50,
        cost_usd=Decimal(cost),
        created_at=timezone.now() - timedelta(days=days_ago),
    )


def test_the_request_log_summary_covers_the_last_30_days_unless_a_date_filter_is_given(
    admin_client: Client,
) -> None:
    _log("claude-old", 45, "1.0000")
    _log("claude-new", 2, "0.2500")

    recent = admin_client.get(LOG)
    since = (timezone.now() - timedelta(days=60)).isoformat()
    chosen = admin_client.get(LOG, {"created_at__gte": since})

    assert recent.status_code == chosen.status_code == 200
    assert recent.context["summary_days"] == 30 and chosen.context["summary_days"] is None
    assert recent.context["summary_total"]["requests"] == 1
    assert recent.context["summary_total"]["cost"] == Decimal("0.2500")
    assert [row["model"] for row in recent.context["summary_by_model"]] == ["claude-new"]
    assert chosen.context["summary_total"]["requests"] == 2
    assert "of the last 30 days" in recent.content.decode()


def test_a_recent_values_filter_offers_the_latest_rows_values_without_a_distinct_scan(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(RecentValuesFilter, "RECENT", 2)
    _log("model-a", 3, "0.1")
    _log("model-b", 2, "0.1")
    _log("model-c", 1, "0.1")

    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(LOG)
    filtered = admin_client.get(LOG, {"model": "model-a"})

    choices = [
        choice["display"]
        for spec in page.context["cl"].filter_specs
        if getattr(spec, "parameter_name", "") == "model"
        for choice in spec.choices(page.context["cl"])
    ]
    assert choices == ["All", "model-b", "model-c"]
    assert not [q["sql"] for q in queries if "DISTINCT" in q["sql"].upper()]
    assert [row.model for row in filtered.context["cl"].result_list] == [
        "model-a"
    ]  # still filters by any value
