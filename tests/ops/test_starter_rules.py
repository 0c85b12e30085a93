"""`manage.py setup_alert_rules`: a fresh deployment gets rules that notify its admins, and an admin's
own rules and changes are never overwritten."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from modules.ops.management.commands.setup_alert_rules import STARTER_RULES
from modules.ops.models import AlertRule

pytestmark = pytest.mark.django_db


def _run() -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("setup_alert_rules", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_fresh_deployment_gets_the_starter_rules_notifying_its_admins_and_slack(settings) -> None:
    settings.ADMIN_EMAILS = ["Ops@Example.com", "oncall@example.com"]
    settings.SLACK_WEBHOOK_URL = "https://hooks.slack.com/services/T0/B0/x"

    out, err = _run()

    rules = {rule.name: rule for rule in AlertRule.objects.all()}
    assert set(rules) == {values["name"] for values in STARTER_RULES}
    for values in STARTER_RULES:
        rule = rules[values["name"]]
        assert {key: getattr(rule, key) for key in values} == values
        assert rule.notify_emails == ["ops@example.com", "oncall@example.com"]
        assert rule.notify_slack and rule.is_active
    assert out.count("created ") == len(STARTER_RULES) and err == ""


def test_running_it_again_keeps_what_admins_changed_and_creates_nothing_twice(settings) -> None:
    settings.ADMIN_EMAILS = ["ops@example.com"]
    _run()
    AlertRule.objects.filter(name="Disk almost full").update(threshold=95, is_active=False)
    AlertRule.objects.filter(name="API errors").delete()

    out, _ = _run()

    assert AlertRule.objects.count() == len(STARTER_RULES)
    disk = AlertRule.objects.get(name="Disk almost full")
    assert (disk.threshold, disk.is_active) == (95, False)
    assert "created API errors" in out and "kept Disk almost full" in out


def test_without_recipients_it_warns_that_nobody_would_be_told(settings) -> None:
    settings.ADMIN_EMAILS = []
    settings.SLACK_WEBHOOK_URL = ""

    _, err = _run()

    assert "notify nobody" in err
    assert not AlertRule.objects.filter(notify_slack=True).exists()
