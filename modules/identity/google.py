"""Verification of Google ID tokens (Sign in with Google), with PyJWT against Google's published keys.

Google signs ID tokens with RS256 keys it rotates and publishes as a JWKS at
``settings.GOOGLE_JWKS_URL`` (https://www.googleapis.com/oauth2/v3/certs). The key set is fetched over
HTTP and kept in Django's cache (shared by every process) for as long as the response's
``Cache-Control: max-age`` says. A token signed with a key we have not seen (Google rotated) triggers
one early refetch, at most once a minute, so made-up ``kid`` values cannot make us hammer Google.

A token is accepted when its signature verifies, ``alg`` is RS256, ``aud`` is one of our client ids
(``settings.GOOGLE_CLIENT_ID``, comma-separated when web and mobile clients have their own), ``iss`` is
Google, it has not expired, and Google says the email is verified.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from django.conf import settings
from django.core.cache import cache

from modules.common.cache import CacheUnavailable
from modules.common.errors import TokenInvalid, Unavailable

logger = logging.getLogger(__name__)

GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
JWKS_CACHE_KEY = "identity:google:jwks"
REFETCH_GUARD_KEY = "identity:google:jwks:refetched"
DEFAULT_MAX_AGE = 300  # seconds, when Google's answer carries no max-age
MAX_MAX_AGE = 24 * 3600
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class GoogleIdentity:
    sub: str
    email: str
    given_name: str
    family_name: str
    claims: dict[str, Any]


def client_ids() -> list[str]:
    return [part.strip() for part in (settings.GOOGLE_CLIENT_ID or "").split(",") if part.strip()]


def cache_max_age(cache_control: str | None) -> int:
    """Seconds from a ``Cache-Control`` header's max-age, within [0, a day]; a default without one."""
    match = _MAX_AGE.search(cache_control or "")
    if match is None:
        return DEFAULT_MAX_AGE
    return min(int(match.group(1)), MAX_MAX_AGE)


def _fetch_jwks() -> dict[str, Any]:
    try:
        response = httpx.get(settings.GOOGLE_JWKS_URL, timeout=settings.GOOGLE_HTTP_TIMEOUT)
        response.raise_for_status()
        jwks = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        logger.warning("fetching Google's signing keys failed", extra={"error": type(exc).__name__})
        raise Unavailable("Google sign-in is unavailable right now; try again later.") from exc
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise Unavailable("Google sign-in is unavailable right now; try again later.")
    max_age = cache_max_age(response.headers.get("Cache-Control"))
    if max_age > 0:
        cache.set(JWKS_CACHE_KEY, jwks, timeout=max_age)
    return jwks


def _jwks() -> dict[str, Any]:
    cached = cache.get(JWKS_CACHE_KEY)
    return cached if cached is not None else _fetch_jwks()


def _find_key(jwks: dict[str, Any], kid: str) -> dict[str, Any] | None:
    return next((key for key in jwks["keys"] if isinstance(key, dict) and key.get("kid") == kid), None)


def _may_refetch() -> bool:
    """At most one refetch a minute for an unknown key id. Without the cache every call fetched the
    keys fresh already, so there is nothing to refetch."""
    try:
        return bool(cache.add(REFETCH_GUARD_KEY, 1, timeout=60))
    except CacheUnavailable:
        return False


def _signing_key(kid: str) -> Any:
    jwk = _find_key(_jwks(), kid)
    if jwk is None and _may_refetch():
        jwk = _find_key(_fetch_jwks(), kid)  # Google may have rotated its keys since we cached them
    if jwk is None:
        raise TokenInvalid("The Google ID token is invalid.")
    try:
        return jwt.PyJWK(jwk, algorithm="RS256").key
    except jwt.PyJWTError as exc:
        raise TokenInvalid("The Google ID token is invalid.") from exc


def verify_id_token(id_token: str) -> GoogleIdentity:
    audiences = client_ids()
    if not audiences:
        raise Unavailable("Google sign-in is not configured on this server.")
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError as exc:
        raise TokenInvalid("The Google ID token is invalid.") from exc
    kid = header.get("kid")
    if header.get("alg") != "RS256" or not isinstance(kid, str):
        raise TokenInvalid("The Google ID token is invalid.")
    key = _signing_key(kid)
    try:
        claims = jwt.decode(
            id_token,
            key=key,
            algorithms=["RS256"],
            audience=audiences,
            issuer=GOOGLE_ISSUERS,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.PyJWTError as exc:
        raise TokenInvalid("The Google ID token is invalid or expired.") from exc
    email = claims.get("email")
    verified = claims.get("email_verified") in (True, "true")
    if not isinstance(email, str) or not email or not verified:
        raise TokenInvalid("Google has not verified this account's email address.")
    return GoogleIdentity(
        sub=str(claims["sub"]),
        email=email.strip().lower(),
        given_name=str(claims.get("given_name") or "")[:150],
        family_name=str(claims.get("family_name") or "")[:150],
        claims=claims,
    )
