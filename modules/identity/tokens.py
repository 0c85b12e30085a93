"""JWT issuing, rotation and revocation on top of django-ninja-jwt (no transport code here).

ninja-jwt signs and verifies the tokens (HS256 pinned in settings.NINJA_JWT) and owns the
``OutstandingToken`` / ``BlacklistedToken`` tables. What it leaves to us, and this module adds:

- every refresh token we issue is recorded as outstanding (ninja-jwt's own rotation does not record
  the rotated ones, so "blacklist all of a user's refresh tokens" would miss them);
- rotation is serialized on the outstanding row (``SELECT ... FOR UPDATE``) and the blacklist insert
  is unique, so two concurrent refreshes with one token never both succeed;
- a per-user ``token_version`` (claim ``ver``) checked on access *and* refresh: bumping it revokes every
  token of the user at once, access tokens included, which a refresh blacklist alone cannot do;
- the outstanding table keeps a SHA-256 fingerprint of the token, not the token itself, so a leaked
  database row is not a usable refresh token.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from django.core.signals import setting_changed
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from ninja_jwt.exceptions import TokenError
from ninja_jwt.settings import api_settings
from ninja_jwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from ninja_jwt.tokens import AccessToken, RefreshToken, UntypedToken
from ninja_jwt.utils import datetime_from_epoch

from modules.common.errors import TokenInvalid
from modules.identity import selectors
from modules.identity.models import User

TOKEN_VERSION_CLAIM = "ver"  # noqa: S105 (a claim name, not a secret)


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_pair(user: User) -> TokenPair:
    """A new refresh/access pair for the user, its refresh recorded as outstanding (one INSERT)."""
    refresh = RefreshToken()
    refresh[api_settings.USER_ID_CLAIM] = user.pk
    refresh[TOKEN_VERSION_CLAIM] = user.token_version
    encoded = str(refresh)
    OutstandingToken.objects.create(
        user=user,
        jti=refresh[api_settings.JTI_CLAIM],
        token=fingerprint(encoded),
        created_at=refresh.current_time,
        expires_at=datetime_from_epoch(refresh["exp"]),
    )
    return TokenPair(access=str(refresh.access_token), refresh=encoded)


def active_user_for_claims(claims: Any) -> User:
    """The active user a verified token belongs to, if the token's version is still current."""
    try:
        user_id = claims[api_settings.USER_ID_CLAIM]
    except KeyError as exc:
        raise TokenInvalid() from exc
    if not isinstance(user_id, int):
        raise TokenInvalid()
    user = selectors.active_user_with_subscription(user_id=user_id)
    if user is None or claims.get(TOKEN_VERSION_CLAIM, 0) != user.token_version:
        raise TokenInvalid()
    return user


# Verified access tokens of this process: the raw token -> (its claims, its expiry as a timestamp).
# A client sends the same token with every request for up to its lifetime, and verifying it again
# (base64, JSON, HMAC, the claim checks) is a fifth of an authenticated request's Python. Only what
# does not change for a given string is remembered: that it is a correctly signed access token and
# what it claims. The expiry is checked on every use (an entry is used only strictly before ``exp``,
# never within the leeway: that case goes through the full verification again), and the user, its
# ``is_active`` and ``token_version`` are read on every request as before, so revocation is not
# delayed. Bounded; emptied when the JWT settings change (tests).
_VERIFIED_MAX = 4096
_verified: dict[str, tuple[Mapping[str, Any], float]] = {}
_verified_lock = threading.Lock()


def _forget_verified(**_: Any) -> None:
    with _verified_lock:
        _verified.clear()


setting_changed.connect(_forget_verified)


def _access_claims(raw: str) -> Mapping[str, Any]:
    found = _verified.get(raw)
    if found is not None and time.time() < found[1]:
        return found[0]
    try:
        validated = AccessToken(raw)
    except (TokenError, OverflowError, ValueError) as exc:  # a signed but absurd claim (exp 1e30) too
        raise TokenInvalid() from exc
    claims = MappingProxyType(dict(validated.payload))
    expiry = claims.get("exp")
    if isinstance(expiry, int | float) and not isinstance(expiry, bool):
        with _verified_lock:
            if len(_verified) >= _VERIFIED_MAX:
                _verified.clear()
            _verified[raw] = (claims, float(expiry))
    return claims


def user_for_access_token(raw: str) -> User:
    """The user of a valid access token (signature, ``alg``, expiry, type, version). One query."""
    return active_user_for_claims(_access_claims(raw))


class _RefreshToken(RefreshToken):
    """ninja-jwt's refresh token minus its own blacklist lookup: ``rotate`` checks the blacklist
    itself, after locking the token's row, where the answer cannot change under it."""

    def check_blacklist(self) -> None:
        return None


def rotate(raw_refresh: str) -> tuple[User, TokenPair]:
    """Trade a refresh token for a new pair; the old one is blacklisted (single use).

    The outstanding row is locked, so of two concurrent rotations of one token the second waits and
    then sees the first one's blacklist entry; the blacklist's unique key is the last line of defence.
    """
    try:
        refresh = _RefreshToken(raw_refresh)  # signature, alg, expiry, type
    except (TokenError, OverflowError, ValueError) as exc:  # a signed but absurd claim (exp 1e30) too
        raise TokenInvalid() from exc
    try:
        return _rotate_locked(refresh)
    except IntegrityError as exc:
        raise TokenInvalid() from exc


@transaction.atomic
def _rotate_locked(refresh: RefreshToken) -> tuple[User, TokenPair]:
    outstanding = (
        OutstandingToken.objects.select_for_update().filter(jti=refresh[api_settings.JTI_CLAIM]).first()
    )
    if outstanding is None or BlacklistedToken.objects.filter(token=outstanding).exists():
        raise TokenInvalid()
    user = active_user_for_claims(refresh)
    BlacklistedToken.objects.create(token=outstanding)
    return user, issue_pair(user)


def blacklist(*, user: User, raw_refresh: str) -> None:
    """Blacklist one of the user's refresh tokens (logout). Blacklisting twice is harmless."""
    try:
        token = UntypedToken(raw_refresh)  # signature, alg, expiry; the type is checked below
    except (TokenError, OverflowError, ValueError) as exc:  # a signed but absurd claim (exp 1e30) too
        raise TokenInvalid() from exc
    if token.get(api_settings.TOKEN_TYPE_CLAIM) != RefreshToken.token_type:
        raise TokenInvalid()
    if token.get(api_settings.USER_ID_CLAIM) != user.pk:
        raise TokenInvalid()
    outstanding = OutstandingToken.objects.filter(jti=token[api_settings.JTI_CLAIM], user=user).first()
    if outstanding is None:
        raise TokenInvalid()
    BlacklistedToken.objects.get_or_create(token=outstanding)


@transaction.atomic
def revoke_all(user: User) -> None:
    """End every session of the user: bump the token version (kills access and refresh tokens at
    once) and blacklist every outstanding refresh token (so the blacklist tells the same story)."""
    User.objects.filter(pk=user.pk).update(token_version=F("token_version") + 1)
    user.refresh_from_db(fields=["token_version"])
    live = OutstandingToken.objects.filter(
        user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    )
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in live], ignore_conflicts=True
    )


def forget(user: User) -> None:
    """Drop the user's token records (account closure): a refresh token without its outstanding row is
    refused, and the records would otherwise outlive the user with their user emptied."""
    # Locked first: a rotation holding one of them finishes (its blacklist row is then seen and deleted
    # with it) and one coming later finds it gone. Deleted without the lock, a row a rotation had just
    # blacklisted failed the closure's commit on the blacklist's foreign key.
    held = list(OutstandingToken.objects.select_for_update().filter(user=user).values_list("pk", flat=True))
    if held:
        OutstandingToken.objects.filter(pk__in=held).delete()
