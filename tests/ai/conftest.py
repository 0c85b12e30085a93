"""Fixtures of the ai tests: the three paragraphs, users, and the provider chosen per test through
settings (``AI_PROVIDER``; Claude answers from a fake Messages API at the HTTP boundary)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from tests.ai.fake_anthropic import FakeAnthropic

DATA = Path(__file__).parent / "data"


def load_paragraphs() -> dict[str, tuple[str, str]]:
    """name -> (title, body) of the paragraphs in tests/ai/data (first line is the title)."""
    out = {}
    for path in sorted(DATA.glob("*.txt")):
        title, body = path.read_text(encoding="utf-8").split("\n", 1)
        out[path.stem] = (title.strip(), body.strip())
    return out


PARAGRAPHS = load_paragraphs()


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
def client_for() -> Callable[[Any], Client]:
    from modules.identity.testing import auth_headers

    def make(user: Any) -> Client:
        return Client(headers=auth_headers(user))

    return make


@pytest.fixture
def paragraph_contents(basic_user: Any) -> dict[str, Any]:
    """The three paragraphs saved as the BASIC user's content."""
    from modules.learning.testing import make_content

    return {
        name: make_content(user=basic_user, title=title, body=body)
        for name, (title, body) in PARAGRAPHS.items()
    }
