"""The facade ops and insights read (usage totals, cost, per-user questions and cost), the request log's
append-only rule, the provider registry and the Django admin pages."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from modules.ai import services
from modules.ai.models import AIRequestLog
from modules.ai.providers.base import ProviderError
from modules.ai.providers.registry import get_provider
from modules.ai.testing import make_job, make_question, make_request_log, make_usage
from modules.identity.testing import make_user
from modules.learning.testing import make_content

pytestmark = pytest.mark.django_db


def test_usage_totals_count_requests_errors_cost_tokens_and_questions_since_a_moment() -> None:
    user = make_user()
    content = make_content(user=user)
    now = timezone.now()
    make_request_log(user=user, created_at=now - timedelta(days=2), cost_usd="5")
    make_request_log(user=user, tokens_in=100, tokens_out=50, cost_usd="0.25")
    make_request_log(user=None, outcome="error", error="overloaded", tokens_in=0, tokens_out=0, cost_usd=0)
    make_question(user=user, content_id=content.pk)
    make_question(user=user, content_id=content.pk, created_at=now - timedelta(days=3))

    totals = services.usage_totals(since=now - timedelta(hours=1))

    assert totals == services.AIUsageTotals(requests=2, errors=1, cost_usd=0.25, tokens=150, questions=1)
    assert services.cost_since(since=now - timedelta(days=3)) == 5.25
    assert services.cost_since(since=now + timedelta(minutes=1)) == 0.0


def test_questions_and_cost_by_user() -> None:
    ada, bob, eve = make_user(), make_user(), make_user()
    content = make_content(user=ada)
    make_usage(user=ada, questions=3)  # generated: what counts
    make_usage(user=eve, day=(timezone.now() - timedelta(days=40)).date(), questions=5)  # too long ago
    for _ in range(2):
        make_question(user=bob, content_id=make_content(user=bob).pk)  # stored (imported), not generated
    make_question(user=ada, content_id=content.pk)
    make_request_log(user=ada, cost_usd="0.5")
    make_request_log(user=bob, cost_usd="0.125")
    make_request_log(user=eve, cost_usd="9", created_at=timezone.now() - timedelta(days=40))

    by_user = services.questions_and_cost_by_user(since=timezone.now() - timedelta(days=30))

    assert by_user == {ada.pk: (3, 0.5), bob.pk: (0, 0.125)}


def test_usage_today_of_a_user_without_a_row_is_zero() -> None:
    usage = services.usage_today(user=make_user(tier="BASIC"))

    assert (usage.questions_generated, usage.remaining, usage.tokens_used, usage.cost_usd) == (0, 30, 0, 0.0)


def test_the_request_log_is_append_only() -> None:
    entry = make_request_log()
    entry.cost_usd = Decimal(0)

    with pytest.raises(ValueError, match="append-only"):
        entry.save()


def test_the_registry_builds_the_configured_provider(settings) -> None:
    settings.AI_PROVIDER = "local"
    assert get_provider().name == "local"
    settings.AI_PROVIDER = "claude"
    settings.ANTHROPIC_API_KEY = "sk-ant-test"
    settings.AI_HTTP_CLIENT_FACTORY = "tests.ai.test_facade_and_admin.http_client"
    assert get_provider().name == "claude"
    settings.AI_PROVIDER = "gpt"
    with pytest.raises(ProviderError, match="Unknown AI_PROVIDER"):
        get_provider()


def test_a_misconfigured_provider_answers_503(settings, client_for) -> None:
    settings.AI_PROVIDER = "claude"
    settings.ANTHROPIC_API_KEY = ""
    user = make_user(tier="PRO")
    content = make_content(user=user)

    response = client_for(user).post(
        "/api/ai-review/analyze/", {"content_id": content.pk}, content_type="application/json"
    )

    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"


def http_client():
    import httpx2

    return httpx2.Client()


def test_admin_pages_show_questions_usage_jobs_and_the_request_log_with_cost_summaries(admin_client) -> None:
    user = make_user()
    content = make_content(user=user)
    make_question(user=user, content_id=content.pk)
    make_usage(user=user, questions=4)
    make_job(user=user, content_ids=[content.pk])
    make_request_log(user=user, model="claude-sonnet-4-6", cost_usd="0.75")
    make_request_log(user=user, model="claude-haiku-4-5", cost_usd="0.25")
    client = admin_client

    for model in ("aiquestion", "aiusage", "aijob"):
        assert client.get(f"/admin/ai/{model}/").status_code == 200, model
    log_page = client.get("/admin/ai/airequestlog/")

    assert log_page.status_code == 200
    html = log_page.content.decode()
    assert "Cost per model" in html and "Cost per day" in html
    assert "claude-haiku-4-5" in html and "1.0000" in html
    entry = AIRequestLog.objects.first()
    assert client.post(f"/admin/ai/airequestlog/{entry.pk}/delete/").status_code == 403


def test_the_ai_routes_are_documented_in_openapi(api_client) -> None:
    schema = api_client.get("/api/openapi.json").json()

    paths = {p for p in schema["paths"] if p.startswith("/api/v1/ai-review/")}
    assert paths == {
        "/api/v1/ai-review/generate/",
        "/api/v1/ai-review/evaluate/",
        "/api/v1/ai-review/analyze/",
        "/api/v1/ai-review/questions/",
        "/api/v1/ai-review/usage/",
        "/api/v1/ai-review/jobs/",
        "/api/v1/ai-review/jobs/{job_id}/",
    }
    assert "201" in schema["paths"]["/api/v1/ai-review/generate/"]["post"]["responses"]
    assert "202" in schema["paths"]["/api/v1/ai-review/jobs/"]["post"]["responses"]
