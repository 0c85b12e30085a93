"""Verification of Google ID tokens (Sign in with Google) with PyJWT against Google's published keys.

Google signs ID tokens with RS256 keys it rotates and publishes as a JWKS at
``settings.GOOGLE_JWKS_URL`` (https://www.googleapis.com/oauth2/v3/certs). PyJWT's ``PyJWKClient``
fetches that set and keeps it in the process for ``KEYS_LIFESPAN_SECONDS``; a token signed with a key
id the set lacks (Google rotated) makes it fetch again, but never within ``REFETCH_COOLDOWN_SECONDS``
of its last fetch, so made-up ``kid`` values cannot make us hammer Google. Google publishes a key well
before it signs with it, so the held set normally has it already. The keys never go through the
Django cache: a Redis outage changes nothing here, and each process fetches for itself (about once an
hour).

A token is accepted when its signature verifies, ``alg`` is RS256, ``aud`` is one of our client ids
(``settings.GOOGLE_CLIENT_ID``, comma-separated when web and mobile clients have their own), ``iss`` is
Google, it has not expired, and Google says the email is verified.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jwt
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from jwt import PyJWKClient
from jwt.exceptions import PyJWKClientConnectionError, PyJWKClientError, PyJWKSetError

from modules.common.errors import InvalidCredentials, Unavailable

logger = logging.getLogger(__name__)

GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
KEYS_LIFESPAN_SECONDS = 3600.0
REFETCH_COOLDOWN_SECONDS = 60.0
INVALID = "The Google ID token is invalid."
UNAVAILABLE = "Google sign-in is unavailable right now; try again later."


@dataclass(frozen=True)
class GoogleIdentity:
    sub: str
    email: str
    given_name: str
    family_name: str
    claims: dict[str, Any]


def client_ids() -> list[str]:
    return [part.strip() for part in (settings.GOOGLE_CLIENT_ID or "").split(",") if part.strip()]


@lru_cache(maxsize=4)
def key_client(url: str, timeout: float) -> PyJWKClient:
    """One key client (and so one held key set) per JWKS URL, shared by the process's threads."""
    return PyJWKClient(
        url,
        cache_jwk_set=True,
        lifespan=KEYS_LIFESPAN_SECONDS,
        cooldown_duration=REFETCH_COOLDOWN_SECONDS,
        timeout=timeout,
    )


@receiver(setting_changed)
def _forget_key_clients(*, setting: str, **_: Any) -> None:
    if setting in ("GOOGLE_JWKS_URL", "GOOGLE_HTTP_TIMEOUT"):
        key_client.cache_clear()


def _unavailable(exc: Exception) -> Unavailable:
    logger.warning("fetching Google's signing keys failed", extra={"error": type(exc).__name__})
    return Unavailable(UNAVAILABLE)


def _signing_key(kid: str) -> jwt.PyJWK:
    client = key_client(settings.GOOGLE_JWKS_URL, settings.GOOGLE_HTTP_TIMEOUT)
    try:
        client.get_signing_keys()  # the held set; fetched when there is none or it is too old
    except (jwt.PyJWTError, ValueError) as exc:  # unreachable, an error status, or not a key set
        raise _unavailable(exc) from exc
    try:
        return client.get_signing_key(kid)  # an unknown kid refetches, outside the cooldown
    except (PyJWKClientConnectionError, PyJWKSetError, ValueError) as exc:
        raise _unavailable(exc) from exc
    except PyJWKClientError as exc:  # no key with this id, even after a refetch
        raise InvalidCredentials(INVALID) from exc


def verify_id_token(id_token: str) -> GoogleIdentity:
    audiences = client_ids()
    if not audiences:
        raise Unavailable("Google sign-in is not configured on this server.")
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError as exc:
        raise InvalidCredentials(INVALID) from exc
    kid = header.get("kid")
    if header.get("alg") != "RS256" or not isinstance(kid, str):
        raise InvalidCredentials(INVALID)
    key = _signing_key(kid)
    try:
        claims = jwt.decode(
            id_token,
            key=key.key,
            algorithms=["RS256"],
            audience=audiences,
            issuer=GOOGLE_ISSUERS,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidCredentials("The Google ID token is invalid or expired.") from exc
    email = claims.get("email")
    verified = claims.get("email_verified") in (True, "true")
    if not isinstance(email, str) or not email or not verified:
        raise InvalidCredentials("Google has not verified this account's email address.")
    return GoogleIdentity(
        sub=str(claims["sub"]),
        email=email.strip().lower(),
        given_name=str(claims.get("given_name") or "")[:150],
        family_name=str(claims.get("family_name") or "")[:150],
        claims=claims,
    )
