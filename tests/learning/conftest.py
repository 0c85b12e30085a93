"""Fixtures of the learning tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from modules.identity.testing import auth_headers, make_user


@pytest.fixture
def client_for() -> Callable[[Any], Client]:
    """A Django test client authenticated as ``user``."""

    def build(user: Any) -> Client:
        return Client(headers=auth_headers(user))

    return build


@pytest.fixture
def other_user(db: Any) -> Any:
    return make_user(email="someone-else@example.com")
