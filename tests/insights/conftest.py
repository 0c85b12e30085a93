"""Fixtures of the insights tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from modules.identity.testing import auth_headers


@pytest.fixture
def client_for() -> Callable[[Any], Client]:
    def build(user: Any) -> Client:
        return Client(headers=auth_headers(user))

    return build
