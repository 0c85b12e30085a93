"""Tokens we did not issue, or issued for something else, never authenticate."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from django.conf import settings
from django.test import Client

from modules.identity import services
from modules.identity.testing import make_user

pytestmark = pytest.mark.django_db

ME = "/api/accounts/users/me/"
SIGNING_KEY = settings.NINJA_JWT["SIGNING_KEY"]


def get_me(client: Client, token: str) -> object:
    return client.get(ME, headers={"Authorization": f"Bearer {token}"})


def valid_claims(user) -> dict:
    return jwt.decode(services.issue_tokens(user).access, SIGNING_KEY, algorithms=["HS256"])


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def assert_refused(response) -> None:
    assert response.status_code == 401
    assert response.json()["code"] in ("token_invalid", "not_authenticated")


def test_a_genuine_access_token_works(api_client: Client) -> None:
    user = make_user()

    assert get_me(api_client, services.issue_tokens(user).access).status_code == 200


def test_alg_none_token_is_refused(api_client: Client) -> None:
    claims = valid_claims(make_user())
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."

    assert_refused(get_me(api_client, unsigned))
    assert_refused(get_me(api_client, jwt.encode(claims, None, algorithm="none")))


def test_tampered_payload_is_refused(api_client: Client) -> None:
    victim, attacker = make_user(), make_user()
    header, _, signature = services.issue_tokens(attacker).access.split(".")
    claims = valid_claims(attacker)
    claims["user_id"] = victim.pk

    assert_refused(get_me(api_client, f"{header}.{b64(claims)}.{signature}"))


def test_token_signed_with_another_key_is_refused(api_client: Client) -> None:
    claims = valid_claims(make_user())

    assert_refused(get_me(api_client, jwt.encode(claims, "not-our-key-" * 4, algorithm="HS256")))


def test_token_signed_with_our_key_but_another_algorithm_is_refused(api_client: Client) -> None:
    claims = valid_claims(make_user())

    assert_refused(get_me(api_client, jwt.encode(claims, SIGNING_KEY, algorithm="HS512")))


def test_refresh_token_used_as_access_token_is_refused(api_client: Client) -> None:
    pair = services.issue_tokens(make_user())

    assert_refused(get_me(api_client, pair.refresh))


def test_expired_access_token_is_refused(api_client: Client) -> None:
    claims = valid_claims(make_user())
    claims["iat"], claims["exp"] = int(time.time()) - 7200, int(time.time()) - 1

    assert_refused(get_me(api_client, jwt.encode(claims, SIGNING_KEY, algorithm="HS256")))


@pytest.mark.parametrize("missing", ["exp", "jti", "token_type", "user_id"])
def test_token_missing_a_required_claim_is_refused(api_client: Client, missing: str) -> None:
    claims = valid_claims(make_user())
    del claims[missing]

    assert_refused(get_me(api_client, jwt.encode(claims, SIGNING_KEY, algorithm="HS256")))


def test_token_with_a_stale_version_is_refused(api_client: Client) -> None:
    user = make_user()
    claims = valid_claims(user)
    claims["ver"] = user.token_version - 1

    assert_refused(get_me(api_client, jwt.encode(claims, SIGNING_KEY, algorithm="HS256")))


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Token abc", "Bearer a.b", "Basic dXNlcjpwYXNz"])
def test_malformed_authorization_headers_answer_401(api_client: Client, header: str) -> None:
    response = api_client.get(ME, headers={"Authorization": header})

    assert response.status_code == 401


def test_token_claims_carry_no_secrets() -> None:
    user = make_user(email="ada@example.com")
    pair = services.issue_tokens(user)

    access = jwt.decode(pair.access, options={"verify_signature": False})
    refresh = jwt.decode(pair.refresh, options={"verify_signature": False})

    assert set(access) == {"token_type", "exp", "iat", "jti", "user_id", "ver"}
    assert set(refresh) == {"token_type", "exp", "iat", "jti", "user_id", "ver"}
    assert jwt.get_unverified_header(pair.access) == {"alg": "HS256", "typ": "JWT"}
    for token in (pair.access, pair.refresh):
        assert "ada@example.com" not in json.dumps(jwt.decode(token, options={"verify_signature": False}))
        assert user.password not in token
