"""Fixtures of the learning tests."""

from __future__ import annotations

from typing import Any

import pytest

from modules.identity.testing import make_user


@pytest.fixture
def other_user(db: Any) -> Any:
    return make_user(email="someone-else@example.com")
