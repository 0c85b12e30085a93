"""Fixtures of the server-rendered pages' tests (tests/identity/test_pages.py, test_reminders_off.py)."""

from __future__ import annotations

import pytest
from django.test import Client

from modules.identity.throttles import auth_throttle


@pytest.fixture
def mid_window_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pages share the auth throttle's per-IP window; a test must not straddle two windows."""
    monkeypatch.setattr(auth_throttle, "timer", lambda: 1_800_000_000.0 + 1800)


@pytest.fixture
def browser() -> Client:
    """A browser: Django's client, but with CSRF checked as the middleware checks a real one."""
    return Client(enforce_csrf_checks=True)
