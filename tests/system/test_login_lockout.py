"""Password guessing from many addresses, against gunicorn (2 workers) behind one trusted proxy: the
per-IP budget never bites (one attempt per address), the per-account limit does, counted in Redis
across both web processes, for the API's login and the admin's."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.system.stack import Stack, running

pytestmark = pytest.mark.system

PASSWORD = "a-long-passphrase-1"
ADMIN = """
from modules.identity.testing import make_admin
make_admin(email={email!r}, password={password!r})
"""
LIMIT = 10


def admin_login(stack: Stack, email: str, password: str, client_address: str) -> httpx.Response:
    """Django admin's login form, posted like a browser does (its CSRF cookie and field). Production
    settings mark the cookie Secure, so over plain HTTP it is sent back by hand."""
    forwarded = {"X-Forwarded-For": client_address}
    with stack.client() as http:
        page = http.get("/admin/login/", headers=forwarded)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token, page.text[:500]
        return http.post(
            "/admin/login/?next=/admin/",
            data={"csrfmiddlewaretoken": token.group(1), "username": email, "password": password},
            headers={**forwarded, "Cookie": f"csrftoken={page.cookies['csrftoken']}"},
        )


def test_guesses_from_many_addresses_lock_the_account_across_web_workers(
    stack_factory, record_property
) -> None:
    stack = stack_factory(NUM_PROXIES="1", AUTH_THROTTLE_RATE="3/hour", LOGIN_FAILURE_RATE=f"{LIMIT}/hour")
    with running(stack, worker=False):
        stack.shell(ADMIN.format(email="root@example.com", password=PASSWORD))
        stack.shell(ADMIN.format(email="other@example.com", password=PASSWORD))
        while time.time() % 3600 > 3540:  # the hour's window must not end in the middle of the test
            time.sleep(1)

        def login(email: str, password: str, client_address: str) -> httpx.Response:
            # the proxy appends the address it saw; the entry left of it is whatever the client claimed
            forwarded = {"X-Forwarded-For": f"6.6.6.6, {client_address}"}
            return stack.post("/api/auth/token/", {"email": email, "password": password}, headers=forwarded)

        guesses = [
            login("root@example.com", f"guess-{n}", f"198.51.100.{n}").status_code for n in range(LIMIT)
        ]
        refused = login("root@example.com", PASSWORD, "192.0.2.1")
        refused_admin = admin_login(stack, "root@example.com", PASSWORD, "192.0.2.2")
        other = login("other@example.com", PASSWORD, "192.0.2.3")
        same_address = [login("nobody@example.com", "guess", "198.51.100.0").status_code for _ in range(3)]

        assert guesses == [401] * LIMIT  # each from its own address: the per-IP budget (3) never bit
        assert refused.status_code == 429, refused.text
        assert refused.json()["code"] == "throttled"
        assert 1 <= int(refused.headers["Retry-After"]) <= 3600
        assert refused_admin.status_code == 429, refused_admin.text[:500]
        assert 1 <= int(refused_admin.headers["Retry-After"]) <= 3600
        assert other.status_code == 200  # another account is not affected
        assert same_address == [401, 401, 429]  # the per-IP budget still holds behind the proxy
        log = stack.web_log.read_text(errors="replace")
        assert log.count("account locked") == 1
        assert "guess-" not in log and PASSWORD not in log
        record_property("guesses accepted before the lockout, from distinct addresses", LIMIT)
