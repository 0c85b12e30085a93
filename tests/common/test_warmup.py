"""modules/common/warmup.py: what serving processes load before their first request or task."""

from __future__ import annotations

import logging
import sys

import pytest
from django.apps import apps

from modules.common.warmup import warm_up

CALLS: list[str] = []


def record_call() -> None:
    CALLS.append("ran")


def broken() -> None:
    raise RuntimeError("cannot load")


@pytest.fixture
def ai_warm_ups(monkeypatch: pytest.MonkeyPatch):
    config = apps.get_app_config("ai")

    def use(*paths: str) -> None:
        monkeypatch.setattr(config, "warm_ups", paths, raising=False)

    CALLS.clear()
    return use


def test_it_runs_every_apps_warm_ups_and_the_urlconf_on_request(ai_warm_ups) -> None:
    ai_warm_ups("tests.common.test_warmup.record_call")
    spent = warm_up(urls=True)
    assert set(spent) == {"urls", "tests.common.test_warmup.record_call"}
    assert CALLS == ["ran"]
    assert "config.api" in sys.modules
    assert set(warm_up()) == {"tests.common.test_warmup.record_call"}  # the worker: no URLconf


def test_a_failing_warm_up_is_logged_and_the_others_still_run(ai_warm_ups, caplog) -> None:
    ai_warm_ups("tests.common.test_warmup.broken", "tests.common.test_warmup.record_call")
    with caplog.at_level(logging.ERROR, logger="modules.common.warmup"):
        spent = warm_up()
    assert list(spent) == ["tests.common.test_warmup.record_call"]
    assert CALLS == ["ran"]
    assert any("tests.common.test_warmup.broken" in r.getMessage() for r in caplog.records)


def test_the_ai_warm_up_imports_the_sdk_only_when_claude_is_configured(settings, monkeypatch) -> None:
    from modules.ai.providers import registry

    imported: list[str] = []
    real_import = __builtins__["__import__"] if isinstance(__builtins__, dict) else __builtins__.__import__

    def spy(name, *args, **kwargs):
        if name == "modules.ai.providers.claude.provider":
            imported.append(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr("builtins.__import__", spy)
    settings.AI_PROVIDER = "local"
    registry.preload()
    assert imported == []
    settings.AI_PROVIDER = "claude"
    registry.preload()
    assert imported == ["modules.ai.providers.claude.provider"]
