"""The worker on the production configuration delivers every email exactly once, and the main
journey works end to end through real processes."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.security.secrets import find_secrets
from tests.system.stack import running, token_from

pytestmark = pytest.mark.system

PASSWORD = "a-long-passphrase-1"
EMAILS_AT_ONCE = 200
DELIVERY_BOUND_SECONDS = 60  # measured: about 10 s on this 2-core machine (docs/ops.md)

BULK_USERS = """
from django.contrib.auth.hashers import make_password
from modules.identity.models import Subscription, User
hashed = make_password({password!r})
users = User.objects.bulk_create(
    [User(email=f"reader{{i}}@example.com", password=hashed, is_email_verified=True) for i in range({n})]
)
Subscription.objects.bulk_create([Subscription(user=u, tier="FREE") for u in users])
"""


def test_register_verify_by_email_then_learn_and_review(stack_factory) -> None:
    stack = stack_factory()
    address = f"new-{uuid.uuid4().hex[:6]}@example.com"
    with running(stack):
        answer = stack.post("/api/auth/register/", {"email": address, "password": PASSWORD})
        assert answer.status_code == 201, answer.text
        tokens = stack.post("/api/auth/token/", {"email": address, "password": PASSWORD}).json()
        access = tokens["access"]
        stack.post("/api/auth/token/", {"email": address, "password": "wrong-" + PASSWORD})
        for header in (f"Token {access}", f"Bearer {access}x", "Bearer not.a.jwt"):  # malformed credentials
            assert stack.get("/api/review/today/", headers={"Authorization": header}).status_code == 401
        with stack.client(access) as http:
            refused = http.post("/api/content/", json={"title": "Early", "body": "Not yet verified."})
            assert refused.status_code == 403 and refused.json()["code"] == "email_not_verified"

            mail = stack.wait_for_mail(address, timeout=30)  # delivered by the worker
            verification = token_from(mail)
            assert stack.post("/api/auth/verify-email/", {"token": verification}).status_code == 200

            created = http.post(
                "/api/content/", json={"title": "Photosynthesis", "body": "Light becomes sugar."}
            )
            assert created.status_code == 201, created.text
            content_id = created.json()["id"]
            assert http.get(f"/api/content/{content_id}/").json()["title"] == "Photosynthesis"

            key = {"Idempotency-Key": f"review-{uuid.uuid4()}"}
            body = {"content_id": content_id, "result": "remembered"}
            first = http.post("/api/review/complete/", json=body, headers=key)
            assert first.status_code == 200, first.text
            again = http.post("/api/review/complete/", json=body, headers=key)
            assert (again.status_code, again.json()) == (200, first.json())

            history = http.get("/api/review/history/", params={"content_id": content_id}).json()
            assert [row["result"] for row in history["results"]] == ["remembered"]
            assert http.get("/api/review/today/").status_code == 200
            refreshed = http.post("/api/auth/token/refresh/", json={"refresh": tokens["refresh"]}).json()
            assert http.post("/api/auth/logout/", json={"refresh": refreshed["refresh"]}).status_code == 204
        assert len(stack.mails_to(address)) == 1
    assert stack.broker_errors() == []
    known = [PASSWORD, access, tokens["refresh"], refreshed["access"], refreshed["refresh"], verification]
    logs = stack.web_log.read_text() + stack.worker_log_text()
    assert find_secrets(logs, known=known) == []  # the real processes' logs, DEBUG off


def test_two_hundred_emails_queued_at_once_are_each_delivered_once(stack_factory, record_property) -> None:
    stack = stack_factory()
    stack.shell(BULK_USERS.format(password=PASSWORD, n=EMAILS_AT_ONCE))
    addresses = [f"reader{i}@example.com" for i in range(EMAILS_AT_ONCE)]
    with running(stack):
        start = time.monotonic()
        with stack.client() as http, ThreadPoolExecutor(16) as pool:
            statuses = list(
                pool.map(
                    lambda a: http.post("/api/auth/password-reset/", json={"email": a}).status_code, addresses
                )
            )
        queued = time.monotonic() - start
        assert statuses == [202] * EMAILS_AT_ONCE
        waited = stack.wait_until(
            lambda: len({str(m["To"]) for m in stack.mails()}) >= EMAILS_AT_ONCE,
            timeout=DELIVERY_BOUND_SECONDS,
            what=f"{EMAILS_AT_ONCE} reset emails",
            explain=lambda: f"{len(stack.mails())} delivered; {stack.queue_state()} {stack.worker_events()}",
        )
        time.sleep(2)  # a duplicate would arrive right behind its original
        recipients = sorted(str(m["To"]) for m in stack.mails())
    record_property("reset requests answered (s)", round(queued, 1))
    record_property("last of 200 emails delivered after the last request (s)", round(waited, 1))
    record_property("broker errors in the worker log", len(stack.broker_errors()))
    assert recipients == sorted(addresses)  # every one, exactly once
    assert stack.broker_errors() == []
