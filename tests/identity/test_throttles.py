from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client, RequestFactory, override_settings

from modules.common.throttles import IPRateThrottle, RateThrottle, UserOrIPRateThrottle, client_ip
from modules.identity.testing import auth_headers, make_user
from modules.identity.throttles import TierRateThrottle, auth_throttle, tier_throttle
from modules.identity.tiers import Tier
from tests.concurrency import run_together

pytestmark = pytest.mark.django_db

ME = "/api/accounts/users/me/"


@pytest.fixture(autouse=True)
def _mid_window_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counts restart at each window; a test must not straddle one, so the API's throttles read a clock
    stopped half an hour into a window."""
    for throttle in (tier_throttle, auth_throttle):
        monkeypatch.setattr(throttle, "timer", lambda: 1_800_000_000.0 + 1800)


def request_from(ip: str = "203.0.113.9", xff: str | None = None, auth: object = None):
    extra = {"REMOTE_ADDR": ip}
    if xff is not None:
        extra["HTTP_X_FORWARDED_FOR"] = xff
    request = RequestFactory().get("/", **extra)
    request.auth = auth
    return request


@pytest.mark.parametrize(
    ("proxies", "xff", "expected"),
    [
        (0, "198.51.100.1", "10.0.0.1"),  # no trusted proxy: the header is the client's claim, ignored
        (1, "198.51.100.1", "198.51.100.1"),
        (1, "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # a spoofed left entry is not trusted
        (2, "6.6.6.6, 198.51.100.1, 10.0.0.2", "198.51.100.1"),
        (3, "198.51.100.1", "198.51.100.1"),
        (1, None, "10.0.0.1"),
    ],
)
def test_client_ip_honours_the_number_of_trusted_proxies(
    proxies: int, xff: str | None, expected: str
) -> None:
    with override_settings(NUM_PROXIES=proxies):
        assert client_ip(request_from("10.0.0.1", xff)) == expected


def test_rate_throttle_allows_the_rate_then_refuses_with_a_wait_until_the_window_ends() -> None:
    throttle = IPRateThrottle("3/hour", scope="test")
    throttle.timer = lambda: 7200.0 + 600  # 10 minutes into an hour window

    allowed = [throttle.allow_request(request_from()) for _ in range(4)]

    assert allowed == [True, True, True, False]
    assert throttle.wait() == pytest.approx(3000)
    assert throttle.allow_request(request_from("203.0.113.10"))  # another client has its own count


def test_rate_throttle_counts_again_in_the_next_window() -> None:
    throttle = IPRateThrottle("1/min", scope="test")
    throttle.timer = lambda: 60.0 * 100
    assert throttle.allow_request(request_from())
    assert not throttle.allow_request(request_from())

    throttle.timer = lambda: 60.0 * 101

    assert throttle.allow_request(request_from())


def test_user_or_ip_throttle_counts_users_apart_from_their_address() -> None:
    throttle = UserOrIPRateThrottle("1/hour", scope="test")
    ada, bob = make_user(), make_user()

    assert throttle.allow_request(request_from(auth=ada))
    assert throttle.allow_request(request_from(auth=bob))
    assert throttle.allow_request(request_from())
    assert not throttle.allow_request(request_from(auth=ada))


def test_rate_from_a_setting_is_read_per_request() -> None:
    throttle = IPRateThrottle(scope="test", rate_setting="AUTH_THROTTLE_RATE")

    with override_settings(AUTH_THROTTLE_RATE="1/hour"):
        assert throttle.allow_request(request_from())
        assert not throttle.allow_request(request_from())


def test_a_throttle_needs_a_rate_and_a_malformed_rate_fails_early() -> None:
    with pytest.raises(ValueError):
        RateThrottle(scope="test")
    with pytest.raises(ValueError):
        IPRateThrottle("lots/hour", scope="test")


@pytest.mark.parametrize(
    ("tier", "rate"), [(Tier.FREE, "500/hour"), (Tier.BASIC, "1000/hour"), (Tier.PRO, "2000/hour")]
)
def test_tier_throttle_rate_comes_from_the_tier_table(tier: Tier, rate: str) -> None:
    assert TierRateThrottle(scope="tier").rate_for(request_from(auth=make_user(tier=tier))) == rate


def test_tier_throttle_gives_anonymous_callers_the_free_rate() -> None:
    assert TierRateThrottle(scope="tier").rate_for(request_from()) == "500/hour"


def test_tier_throttle_counts_an_expired_subscription_as_free() -> None:
    from datetime import timedelta

    from django.utils import timezone

    user = make_user(tier=Tier.PRO)
    user.subscription.expires_at = timezone.now() - timedelta(seconds=1)

    assert TierRateThrottle(scope="tier").rate_for(request_from(auth=user)) == "500/hour"


def test_a_free_user_gets_429_after_500_requests_an_hour(api_client: Client) -> None:
    user = make_user(tier=Tier.FREE)
    headers = auth_headers(user)

    statuses = [api_client.get(ME, headers=headers).status_code for _ in range(500)]
    refused = api_client.get(ME, headers=headers)

    assert set(statuses) == {200}
    assert refused.status_code == 429
    assert refused.json() == {"detail": "Too many requests.", "code": "throttled"}
    assert refused["Retry-After"] == "1800"
    # Another user is not affected.
    assert api_client.get(ME, headers=auth_headers(make_user(tier=Tier.FREE))).status_code == 200


@override_settings(AUTH_THROTTLE_RATE="3/hour")
def test_auth_routes_share_one_per_ip_budget(api_client: Client) -> None:
    login = {"email": "nobody@example.com", "password": "whatever-password"}

    statuses = [
        api_client.post("/api/auth/token/", login, content_type="application/json").status_code,
        api_client.post(
            "/api/auth/password-reset/", {"email": "a@example.com"}, content_type="application/json"
        ).status_code,
        api_client.post(
            "/api/auth/token/refresh/", {"refresh": "x"}, content_type="application/json"
        ).status_code,
        api_client.post("/api/auth/token/", login, content_type="application/json").status_code,
    ]

    assert statuses == [401, 202, 401, 429]
    other_ip = api_client.post(
        "/api/auth/token/", login, content_type="application/json", REMOTE_ADDR="198.51.100.7"
    )
    assert other_ip.status_code == 401


@override_settings(AUTH_THROTTLE_RATE="2/hour")
def test_auth_throttle_applies_to_logged_in_routes_under_auth_too(api_client: Client) -> None:
    user = make_user()
    headers = auth_headers(user)

    statuses = [
        api_client.post(
            "/api/auth/logout/", {"refresh": "x"}, content_type="application/json", headers=headers
        ).status_code
        for _ in range(3)
    ]

    assert statuses == [401, 401, 429]


@override_settings(AUTH_THROTTLE_RATE="2/hour", THROTTLES_ENABLED=False)
def test_throttles_enabled_false_turns_every_throttle_off(api_client: Client) -> None:
    login = {"email": "nobody@example.com", "password": "whatever-password"}

    statuses = {
        api_client.post("/api/auth/token/", login, content_type="application/json").status_code
        for _ in range(5)
    }

    assert statuses == {401}
    assert auth_throttle.allow_request(request_from())


@override_settings(NUM_PROXIES=1, AUTH_THROTTLE_RATE="1/hour")
def test_behind_a_proxy_the_forwarded_client_address_is_throttled(api_client: Client) -> None:
    login = {"email": "nobody@example.com", "password": "whatever-password"}

    def attempt(client_address: str) -> int:
        return api_client.post(
            "/api/auth/token/", login, content_type="application/json", HTTP_X_FORWARDED_FOR=client_address
        ).status_code

    assert attempt("198.51.100.1") == 401
    assert attempt("198.51.100.1") == 429
    assert attempt("198.51.100.2") == 401


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_never_exceed_the_rate() -> None:
    """The counter is one atomic increment: 20 parallel callers on a 10/hour budget get exactly 10."""
    throttle = IPRateThrottle("10/hour", scope="race")

    allowed = run_together(lambda _: throttle.allow_request(request_from()), 20, timeout=30)

    assert allowed.count(True) == 10
    cache.clear()
