"""A real browser (Debian's Chromium driven by Playwright) against the live server: an admin logs in to
/admin/, creates an alert rule through the admin form, sees the Django-Q2 schedules, and /api/docs
renders its operations from the locally served Swagger UI assets (no CDN, no internet).

Screenshots go to test-artifacts/. A missing Chromium is a failure, not a skip: CI installs it
(.ci/run), and a browser test that silently skips proves nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.core.management import call_command

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "admin-browser-Pa55word"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@contextmanager
def chromium_page() -> Iterator[tuple[Page, list[str]]]:
    """A page in Debian's Chromium and the list of requests it made outside the live server. Used as a
    ``with`` block in the test body: Playwright's sync API keeps an event loop in this thread while it
    runs, where Django refuses ORM calls, so the database is used only before and after the block."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        page = context.new_page()
        page.set_default_timeout(20_000)
        external: list[str] = []
        page.on(
            "request", lambda request: external.append(request.url) if _is_external(request.url) else None
        )
        try:
            yield page, external
        finally:
            context.close()
            browser.close()


def _is_external(url: str) -> bool:
    return url.startswith(("http://", "https://")) and not url.startswith(
        ("http://localhost", "http://127.0.0.1")
    )


def test_an_admin_manages_alerts_in_the_browser_and_reads_the_api_docs(live_server) -> None:
    from modules.identity.testing import make_user
    from modules.ops.models import AlertRule

    make_user(email="admin@resee.local", password=PASSWORD, is_staff=True, is_superuser=True)
    call_command("setup_schedules", stdout=StringIO())

    with chromium_page() as (page, external):
        _drive_the_admin_and_the_docs(page, external, live_server.url)

    rule = AlertRule.objects.get(name="API p95 too slow")
    assert (rule.metric, rule.operator, rule.threshold, rule.window_minutes) == (
        "api_response_time_p95",
        ">",
        750,
        10,
    )
    assert rule.severity == "critical"
    assert rule.notify_emails == ["oncall@example.com", "lead@example.com"]


def _drive_the_admin_and_the_docs(page: Page, external: list[str], base: str) -> None:

    # 1. Log in to the admin.
    page.goto(f"{base}/admin/")
    page.fill("#id_username", "admin@resee.local")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    assert "Resee administration" in page.inner_text("#site-name")
    page.screenshot(path=str(ARTIFACTS / "01-admin-home.png"), full_page=True)

    # 2. Create an alert rule through the admin form.
    page.goto(f"{base}/admin/ops/alertrule/add/")
    page.fill("#id_name", "API p95 too slow")
    page.select_option("#id_severity", "critical")
    page.select_option("#id_metric", "api_response_time_p95")
    page.select_option("#id_aggregation", "avg")
    page.select_option("#id_operator", ">")
    page.fill("#id_threshold", "750")
    page.fill("#id_window_minutes", "10")
    page.fill("#id_cooldown_minutes", "20")
    page.fill("#id_notify_emails", "oncall@example.com, lead@example.com")
    page.screenshot(path=str(ARTIFACTS / "02-alert-rule-form.png"), full_page=True)
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    assert "API p95 too slow" in page.inner_text("#result_list")
    page.screenshot(path=str(ARTIFACTS / "03-alert-rule-saved.png"), full_page=True)

    # 3. Django-Q2's schedules are visible.
    page.goto(f"{base}/admin/django_q/schedule/")
    page.wait_for_selector("#result_list")
    schedules = page.inner_text("#result_list")
    assert "resee:ops.collect_metrics" in schedules
    assert "resee:ops.alert_sweep" in schedules
    page.screenshot(path=str(ARTIFACTS / "04-django-q-schedules.png"), full_page=True)

    # 4. The API docs render their operations.
    page.goto(f"{base}/api/docs")
    page.wait_for_selector(".opblock-summary-path", state="attached")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert len(paths) >= 10
    assert any("/api/v1/monitoring/alert-rules/" in path for path in paths)
    assert any("/api/v1/health/live/" in path for path in paths)
    page.screenshot(path=str(ARTIFACTS / "05-api-docs.png"), full_page=True)

    assert external == [], f"the pages reached outside the server: {external}"
