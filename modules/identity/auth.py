"""The one Ninja auth class for every protected route: a ninja-jwt access token, checked against the user.

A token is accepted only if it is a valid *access* token (signature with the pinned algorithm, expiry,
type), its user still exists and is active, and its ``ver`` claim equals the user's ``token_version``
(bumped to revoke every session at once). One query: the user with its subscription.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer
from ninja_jwt.exceptions import TokenError
from ninja_jwt.settings import api_settings
from ninja_jwt.tokens import AccessToken

from modules.common.errors import TokenInvalid
from modules.identity.models import User

TOKEN_VERSION_CLAIM = "ver"  # noqa: S105 (a claim name, not a secret)


def user_for_claims(claims: Any) -> User:
    """The active user a validated token belongs to, or TokenInvalid."""
    try:
        user_id = claims[api_settings.USER_ID_CLAIM]
    except KeyError as exc:
        raise TokenInvalid() from exc
    user = User.objects.select_related("subscription").filter(pk=user_id, is_active=True).first()
    if user is None or claims.get(TOKEN_VERSION_CLAIM, 0) != user.token_version:
        raise TokenInvalid()
    return user


class JWTBearer(HttpBearer):
    openapi_scheme = "bearer"

    def authenticate(self, request: HttpRequest, token: str) -> User:
        try:
            validated = AccessToken(token)
        except TokenError as exc:
            raise TokenInvalid() from exc
        user = user_for_claims(validated)
        request.user = user
        return user


class OptionalJWTBearer(JWTBearer):
    """For routes open to everyone that still want to know who is asking, when someone is."""

    def __call__(self, request: HttpRequest) -> Any:
        return super().__call__(request) or True


jwt_auth = JWTBearer()
