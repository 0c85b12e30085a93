"""Alert sweeps in separate processes (a worker's task, ``tick``, ``manage.py run_alert_sweep``) do not
overlap: while one is held by a hanging Slack webhook, another started beside it skips its turn at once
instead of holding a second worker, and the first still bounds its deliveries."""

from __future__ import annotations

import socket
import subprocess
import threading
import time

import pytest

from tests.system.stack import PYTHON, ROOT

pytestmark = pytest.mark.system

SLACK_TIMEOUT = 5.0
RULES = 4  # the first sweep hangs ~20 s on them, within its 30 s delivery budget
SETUP = """
from modules.ops.testing import make_rule, record_samples
for metric in ("cpu_usage", "memory_usage", "disk_usage", "db_size"):
    make_rule(metric=metric, threshold=-1, window_minutes=1, notify_slack=True)
    record_samples(metric, [5])
"""


class HangingWebhook:
    """Accepts connections and never answers; counts them."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections.append(conn)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.getsockname()[1]}/services/T/B/X"

    def close(self) -> None:
        self.server.close()
        for conn in self.connections:
            conn.close()


def test_a_second_sweep_skips_while_a_hanging_webhook_holds_the_first(stack_factory, record_property) -> None:
    webhook = HangingWebhook()
    try:
        stack = stack_factory(
            SLACK_WEBHOOK_URL=webhook.url,
            SLACK_WEBHOOK_ALLOWED_HOSTS="127.0.0.1",
            SLACK_WEBHOOK_REQUIRE_HTTPS="0",
            SLACK_TIMEOUT_SECONDS=str(SLACK_TIMEOUT),
        )
        stack.shell(SETUP)

        started = time.monotonic()
        first = subprocess.Popen(  # noqa: S603
            [PYTHON, "manage.py", "run_alert_sweep"],
            cwd=ROOT,
            env=stack.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while not webhook.connections:  # the first sweep is delivering, so it holds the lock
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first sweep never called the webhook"
            time.sleep(0.05)

        second_started = time.monotonic()
        second = subprocess.run(  # noqa: S603
            [PYTHON, "manage.py", "run_alert_sweep"],
            cwd=ROOT,
            env=stack.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        second_took = time.monotonic() - second_started
        first_running_after_second = first.poll() is None
        out, err = first.communicate(timeout=120)
        first_took = time.monotonic() - started
    finally:
        webhook.close()

    record_property("second_sweep_s", round(second_took, 2))
    record_property("first_sweep_s", round(first_took, 2))
    assert second.returncode == 0, second.stderr
    assert "alert sweep skipped" in second.stdout
    assert "evaluated 0 rules" in second.stdout
    assert first_running_after_second  # the second did not wait for the first
    assert first.returncode == 0, err
    assert f"evaluated {RULES} rules: {RULES} fired" in out
    assert len(webhook.connections) == RULES  # each message tried once, by the first sweep only
