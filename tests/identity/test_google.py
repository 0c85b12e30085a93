"""Google sign-in against a JWKS served over real HTTP by a local server, with keys made here."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client, override_settings
from jwt.algorithms import RSAAlgorithm

from modules.identity import google
from modules.identity.models import SubscriptionChange, User
from modules.identity.testing import DEFAULT_PASSWORD, make_user
from modules.identity.tiers import Tier

pytestmark = pytest.mark.django_db

CLIENT_ID = "resee-web.apps.googleusercontent.com"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class FakeGoogle:
    """Google's certs endpoint: serves ``keys`` as a JWKS (or ``body`` when set); counts requests."""

    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    status: int = 200
    body: bytes | None = None
    hits: int = 0
    url: str = ""

    def jwks(self) -> dict:
        entries = []
        for kid, key in self.keys.items():
            jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
            entries.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
        return {"keys": entries}

    def id_token(self, kid: str = "key-1", *, key: rsa.RSAPrivateKey | None = None, **overrides) -> str:
        now = int(time.time())
        claims = {
            "iss": "https://accounts.google.com",
            "aud": CLIENT_ID,
            "azp": CLIENT_ID,
            "sub": "110169484474386276334",
            "email": "Ada@Gmail.com",
            "email_verified": True,
            "given_name": "Ada",
            "family_name": "Lovelace",
            "iat": now,
            "exp": now + 3600,
            **overrides,
        }
        claims = {name: value for name, value in claims.items() if value is not None}
        return jwt.encode(claims, key or self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def fake_google() -> Iterator[FakeGoogle]:
    fake = FakeGoogle(keys={"key-1": new_key()})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fake.hits += 1
            body = fake.body if fake.body is not None else json.dumps(fake.jwks()).encode()
            self.send_response(fake.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "public, max-age=21600, must-revalidate, no-transform")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_port}/oauth2/v3/certs"
    with override_settings(GOOGLE_CLIENT_ID=CLIENT_ID, GOOGLE_JWKS_URL=fake.url):
        yield fake
    server.shutdown()
    server.server_close()


def sign_in(client: Client, token: str) -> object:
    return client.post("/api/auth/google/", {"id_token": token}, content_type="application/json")


def test_first_google_sign_in_creates_a_verified_free_user_with_a_social_account(
    api_client: Client, fake_google: FakeGoogle
) -> None:
    response = sign_in(api_client, fake_google.id_token())

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh", "user"}
    user = User.objects.get(email="ada@gmail.com")
    assert body["user"] == {
        "id": user.pk,
        "email": "ada@gmail.com",
        "subscription_tier": "FREE",
        "is_email_verified": True,
    }
    assert (user.first_name, user.last_name) == ("Ada", "Lovelace")
    assert not user.has_usable_password()
    account = SocialAccount.objects.get(user=user)
    assert (account.provider, account.uid) == ("google", "110169484474386276334")
    assert EmailAddress.objects.get(user=user).verified
    assert SubscriptionChange.objects.filter(user=user, to_tier="FREE", source="google").exists()
    me = api_client.get("/api/accounts/users/me/", headers={"Authorization": f"Bearer {body['access']}"})
    assert me.status_code == 200


def test_second_google_sign_in_returns_the_same_user(api_client: Client, fake_google: FakeGoogle) -> None:
    first = sign_in(api_client, fake_google.id_token()).json()

    second = sign_in(api_client, fake_google.id_token(email="ada.new@gmail.com"))

    assert second.status_code == 200
    assert second.json()["user"]["id"] == first["user"]["id"]
    assert User.objects.count() == 1
    assert SocialAccount.objects.get().extra_data["email"] == "ada.new@gmail.com"


def test_google_sign_in_links_an_existing_verified_account_with_the_same_email(
    api_client: Client, fake_google: FakeGoogle
) -> None:
    existing = make_user(email="ada@gmail.com", tier=Tier.PRO, verified=True)

    response = sign_in(api_client, fake_google.id_token())

    assert response.status_code == 200
    assert response.json()["user"]["id"] == existing.pk
    assert response.json()["user"]["subscription_tier"] == "PRO"
    existing.refresh_from_db()
    assert existing.check_password(DEFAULT_PASSWORD)  # the owner's password keeps working
    assert SocialAccount.objects.filter(user=existing, provider="google").exists()


def test_google_sign_in_takes_over_an_unverified_squatted_account_and_drops_its_password(
    api_client: Client, fake_google: FakeGoogle
) -> None:
    from modules.identity import services

    squatter = make_user(email="ada@gmail.com", verified=False)
    squatters_tokens = services.issue_tokens(squatter)

    response = sign_in(api_client, fake_google.id_token())

    assert response.status_code == 200
    squatter.refresh_from_db()
    assert squatter.is_email_verified
    assert not squatter.has_usable_password()
    login = api_client.post(
        "/api/auth/token/",
        {"email": "ada@gmail.com", "password": DEFAULT_PASSWORD},
        content_type="application/json",
    )
    assert login.status_code == 401
    old = api_client.get(
        "/api/accounts/users/me/", headers={"Authorization": f"Bearer {squatters_tokens.access}"}
    )
    assert old.status_code == 401


def test_google_sign_in_of_a_deactivated_user_answers_401(
    api_client: Client, fake_google: FakeGoogle
) -> None:
    sign_in(api_client, fake_google.id_token())
    User.objects.update(is_active=False)

    assert sign_in(api_client, fake_google.id_token()).status_code == 401


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "someone-else.apps.googleusercontent.com"},
        {"iss": "https://evil.example.com"},
        {"exp": int(time.time()) - 10},
        {"email_verified": False},
        {"email": None},
        {"sub": None},
    ],
    ids=["audience", "issuer", "expired", "email-not-verified", "no-email", "no-sub"],
)
def test_google_id_token_with_a_bad_claim_answers_401(
    api_client: Client, fake_google: FakeGoogle, overrides: dict
) -> None:
    response = sign_in(api_client, fake_google.id_token(**overrides))

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
    assert not User.objects.exists()


def test_google_id_token_with_the_bare_issuer_name_is_accepted(
    api_client: Client, fake_google: FakeGoogle
) -> None:
    assert sign_in(api_client, fake_google.id_token(iss="accounts.google.com")).status_code == 200


def test_google_id_token_signed_by_another_key_answers_401(
    api_client: Client, fake_google: FakeGoogle
) -> None:
    forged = fake_google.id_token(key=new_key())  # right kid, wrong key

    assert sign_in(api_client, forged).status_code == 401


def test_google_id_token_with_an_unsigned_or_hs256_header_answers_401(
    api_client: Client, fake_google: FakeGoogle
) -> None:
    claims = jwt.decode(fake_google.id_token(), options={"verify_signature": False})
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": "key-1"})
    symmetric = jwt.encode(claims, "x" * 32, algorithm="HS256", headers={"kid": "key-1"})

    assert sign_in(api_client, unsigned).status_code == 401
    assert sign_in(api_client, symmetric).status_code == 401
    assert sign_in(api_client, "not-a-jwt").status_code == 401


def test_google_keys_are_kept_across_sign_ins(api_client: Client, fake_google: FakeGoogle) -> None:
    for _ in range(3):
        assert sign_in(api_client, fake_google.id_token()).status_code == 200

    assert fake_google.hits == 1


def test_google_keys_are_fetched_again_once_their_lifespan_is_over(
    api_client: Client, fake_google: FakeGoogle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(google, "KEYS_LIFESPAN_SECONDS", 0.05)

    assert sign_in(api_client, fake_google.id_token()).status_code == 200
    time.sleep(0.1)
    assert sign_in(api_client, fake_google.id_token()).status_code == 200

    assert fake_google.hits == 2


def test_a_key_google_rotated_in_is_fetched_once_then_kept(
    api_client: Client, fake_google: FakeGoogle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(google, "REFETCH_COOLDOWN_SECONDS", 0.0)  # the last fetch is long past
    assert sign_in(api_client, fake_google.id_token()).status_code == 200
    fake_google.keys["key-2"] = new_key()  # Google rotates after we fetched key-1 only

    assert sign_in(api_client, fake_google.id_token("key-2")).status_code == 200
    assert sign_in(api_client, fake_google.id_token("key-2")).status_code == 200
    assert fake_google.hits == 2


def test_unknown_key_ids_cannot_make_us_refetch_within_the_cooldown(
    api_client: Client, fake_google: FakeGoogle
) -> None:
    sign_in(api_client, fake_google.id_token())
    stranger = new_key()

    for index in range(5):
        response = sign_in(api_client, fake_google.id_token(f"made-up-{index}", key=stranger))
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_credentials"

    assert fake_google.hits == 1


def test_a_failed_refetch_keeps_the_keys_already_held(
    api_client: Client, fake_google: FakeGoogle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(google, "REFETCH_COOLDOWN_SECONDS", 0.0)
    assert sign_in(api_client, fake_google.id_token()).status_code == 200
    fake_google.status = 500

    assert sign_in(api_client, fake_google.id_token("made-up", key=new_key())).status_code == 503
    assert sign_in(api_client, fake_google.id_token()).status_code == 200
    assert fake_google.hits == 2


def test_google_sign_in_works_while_the_cache_is_down(api_client: Client, fake_google: FakeGoogle) -> None:
    from tests.system.servers import free_port

    unreachable = {
        "default": {
            "BACKEND": "modules.common.cache.ResilientRedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    with override_settings(CACHES=unreachable):
        for _ in range(2):
            assert sign_in(api_client, fake_google.id_token()).status_code == 200

    assert fake_google.hits == 1  # the keys live in the process, not in the cache


def test_google_sign_in_answers_503_when_google_is_down(api_client: Client, fake_google: FakeGoogle) -> None:
    fake_google.status = 500

    response = sign_in(api_client, fake_google.id_token())

    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"


@pytest.mark.parametrize("body", [b"<html>not json</html>", b"[]", b'{"keys": []}', b'{"nokeys": 1}'])
def test_google_sign_in_answers_503_when_google_answers_no_key_set(
    api_client: Client, fake_google: FakeGoogle, body: bytes
) -> None:
    fake_google.body = body

    response = sign_in(api_client, fake_google.id_token())

    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"


def test_google_sign_in_answers_503_when_not_configured(api_client: Client, fake_google: FakeGoogle) -> None:
    with override_settings(GOOGLE_CLIENT_ID=""):
        response = sign_in(api_client, fake_google.id_token())

    assert response.status_code == 503


def test_several_client_ids_are_each_accepted(api_client: Client, fake_google: FakeGoogle) -> None:
    with override_settings(GOOGLE_CLIENT_ID=f"{CLIENT_ID}, resee-ios.apps.googleusercontent.com"):
        response = sign_in(api_client, fake_google.id_token(aud="resee-ios.apps.googleusercontent.com"))

    assert response.status_code == 200
