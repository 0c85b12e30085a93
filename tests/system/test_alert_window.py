"""A 1-minute alert rule fires under the real worker, where the collection and the sweep are queued
together at the start of every minute and the sweep usually runs before the round commits its
samples (docs/ops.md, "Alert rules")."""

from __future__ import annotations

import time

import pytest

from tests.system.peers import WebhookServer
from tests.system.stack import running
from tests.system.test_schedules import COLLECT, SWEEP, _run_now

pytestmark = pytest.mark.system

PASSWORD = "a-long-passphrase-1"
SETUP = f"""
from modules.identity.testing import make_admin
make_admin(email="admin@example.com", password={PASSWORD!r})
"""


def test_a_one_minute_rule_fires_though_the_sweep_races_the_collection(
    stack_factory, record_property
) -> None:
    with WebhookServer() as slack:
        stack = stack_factory(
            SLACK_WEBHOOK_URL=slack.url,
            SLACK_WEBHOOK_ALLOWED_HOSTS="127.0.0.1",
            SLACK_WEBHOOK_REQUIRE_HTTPS="0",
        )
        stack.shell(SETUP)
        with running(stack, worker=False):
            admin = stack.login("admin@example.com", PASSWORD)
            rule = {
                "name": "Disk used",  # true on any machine: no sample is seeded, the worker collects
                "metric": "disk_usage",
                "operator": ">",
                "threshold": 0,
                "window_minutes": 1,
                "aggregation": "last",
                "cooldown_minutes": 0,
                "notify_slack": True,
            }
            created = stack.post("/api/monitoring/alert-rules/", rule, token=admin)
            assert created.status_code == 201, created.text

            _run_now(stack, COLLECT, SWEEP)  # queued in the same scheduler pass, like every minute
            started = time.monotonic()
            stack.start_worker()
            # The first sweep may find no sample yet (none collected before it). The worker's scheduler
            # queues that first pair within 30 s, the next at the next minute's first pass (up to 30 s
            # after it): that sweep must see the previous minute's round whichever task runs first.
            stack.wait_until(
                lambda: any("FIRING" in t for t in slack.texts()),
                timeout=150,
                what="the 1-minute rule to fire",
                explain=stack.worker_events,
            )
            record_property(
                "seconds from worker start to the 1-minute rule's alert", round(time.monotonic() - started, 1)
            )
    assert stack.broker_errors() == []
