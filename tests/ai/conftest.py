"""Fixtures of the ai tests: the three paragraphs, users, and the provider chosen per test through
settings (``AI_PROVIDER``; Claude answers from a fake Messages API at the HTTP boundary)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.ai.fake_anthropic import FakeAnthropic
from tests.ai.paragraphs import PARAGRAPHS


@dataclass
class ProviderSetup:
    name: str
    fake: FakeAnthropic | None


@pytest.fixture
def fake_claude(settings: Any) -> FakeAnthropic:
    fake = FakeAnthropic()
    settings.AI_PROVIDER = "claude"
    settings.ANTHROPIC_API_KEY = "sk-ant-test-key"
    settings.ANTHROPIC_MODEL = "claude-sonnet-4-6"
    settings.AI_MAX_RETRIES = 2
    settings.AI_REQUEST_TIMEOUT = 5.0
    settings.AI_HTTP_CLIENT_FACTORY = fake.client
    return fake


@pytest.fixture(params=["local", "claude"])
def provider(request: pytest.FixtureRequest, settings: Any) -> ProviderSetup:
    if request.param == "claude":
        return ProviderSetup("claude", request.getfixturevalue("fake_claude"))
    settings.AI_PROVIDER = "local"
    return ProviderSetup("local", None)


@pytest.fixture
def basic_user(db: Any) -> Any:
    from modules.identity.testing import make_user

    return make_user(tier="BASIC")


@pytest.fixture
def paragraph_contents(basic_user: Any) -> dict[str, Any]:
    """The three paragraphs saved as the BASIC user's content."""
    from modules.learning.testing import make_content

    return {
        name: make_content(user=basic_user, title=title, body=body)
        for name, (title, body) in PARAGRAPHS.items()
    }
