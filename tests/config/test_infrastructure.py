from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from config.logging import JsonFormatter


def test_json_log_lines_carry_extra_fields_and_exceptions() -> None:
    record = logging.makeLogRecord(
        {"name": "resee.test", "levelname": "WARNING", "msg": "hello %s", "args": ("you",)}
    )
    record.user_id = 7
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "hello you"
    assert line["level"] == "WARNING"
    assert line["user_id"] == 7
    assert "ValueError: boom" in line["exc_info"]


def test_sentry_initialises_with_pii_off() -> None:
    import sentry_sdk

    from config.observability import init_sentry

    init_sentry(
        dsn="https://public@sentry.invalid/1",
        environment="test",
        traces_sample_rate=0.0,
        user_info=False,
    )
    try:
        options = sentry_sdk.get_client().options
        collection = options["data_collection"]
        assert collection["user_info"] is False
        assert collection["http_bodies"] == [] and collection["database_query_data"] is False
        assert options["environment"] == "test"
    finally:
        sentry_sdk.get_client().close(timeout=0)
        sentry_sdk.init(dsn=None)


def _modules_loaded_by_wsgi(**env_overrides: str) -> subprocess.CompletedProcess[str]:
    """Imports config.wsgi (as a gunicorn worker does) in a fresh interpreter; prints which heavy
    SDKs and which of our modules it loaded."""
    code = (
        "import sys, config.wsgi; "
        "print(','.join(m for m in ('anthropic', 'boto3', 'botocore', 'sentry_sdk', 'config.api') if m in sys.modules))"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "SECRET_KEY": "k" * 50,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        # no REDIS_URL: off, or learning's startup warning about a local-memory cache prints on stdout
        "LEARNING_READ_CACHE_SECONDS": "0",
        "LOG_LEVEL": "WARNING",
        **env_overrides,
    }
    return subprocess.run(  # noqa: S603 (our own interpreter, a fixed script)
        [sys.executable, "-c", code],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_wsgi_app_loads_the_urlconf_but_not_the_heavy_sdks_it_does_not_use() -> None:
    """anthropic, boto3 and sentry_sdk load only when configured; the URLconf (the API) loads before
    the first request (modules/common/warmup.py)."""
    result = _modules_loaded_by_wsgi()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "config.api"


def test_with_claude_configured_the_wsgi_app_loads_its_sdk_before_the_first_request() -> None:
    result = _modules_loaded_by_wsgi(AI_PROVIDER="claude", ANTHROPIC_API_KEY="sk-ant-test")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "anthropic,config.api"
