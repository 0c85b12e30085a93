"""The worker on the production configuration delivers every email exactly once."""

from __future__ import annotations

import time

import pytest

from tests.system.stack import running

pytestmark = pytest.mark.system


def test_forty_registrations_in_a_row_each_get_one_verification_email(stack_factory, record_property) -> None:
    stack = stack_factory()
    with running(stack):
        addresses = [f"learner{i}@example.com" for i in range(40)]
        start = time.monotonic()
        for address in addresses:
            answer = stack.post("/api/auth/register/", {"email": address, "password": "a-long-passphrase-1"})
            assert answer.status_code == 201, answer.text
        stack.wait_until(
            lambda: {str(m["To"]) for m in stack.mails()} >= set(addresses), timeout=60, what="40 emails"
        )
        time.monotonic() - start
        mails = stack.mails()
        assert sorted(str(m["To"]) for m in mails) == sorted(addresses)  # exactly once each
        assert stack.broker_errors() == []
