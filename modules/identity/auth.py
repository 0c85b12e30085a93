"""The one Ninja auth class for every protected route: a ninja-jwt access token, checked against the user.

A token is accepted only if it is a valid *access* token (signature with the pinned algorithm, expiry,
type), its user still exists and is active, and its ``ver`` claim equals the user's ``token_version``
(bumped to revoke every session at once). One query: the user with its subscription.
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer
from ninja_jwt.exceptions import TokenError

from modules.common.errors import TokenInvalid
from modules.identity.models import User
from modules.identity.tokens import TOKEN_VERSION_CLAIM, active_user_for_claims, user_for_access_token

logger = logging.getLogger(__name__)

__all__ = ["TOKEN_VERSION_CLAIM", "JWTBearer", "OptionalJWTBearer", "jwt_auth", "user_for_claims"]

# Kept under its historical name for callers of the first version of this module.
user_for_claims = active_user_for_claims


class JWTBearer(HttpBearer):
    openapi_scheme = "bearer"

    def __call__(self, request: HttpRequest) -> Any:
        # Ninja's HttpBearer does the same, but with DEBUG on it logs a header of another scheme whole
        # at ERROR ("Unexpected auth - 'Token eyJ...'"): the header is a credential. This logs that the
        # header was malformed, not what it held.
        header = request.headers.get(self.header)
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != self.openapi_scheme:
            logger.debug(
                "Authorization header ignored: its scheme is not Bearer", extra={"path": request.path}
            )
            return None
        return self.authenticate(request, token)

    def authenticate(self, request: HttpRequest, token: str) -> User:
        try:
            user = user_for_access_token(token)
        except TokenInvalid as exc:
            logger.debug("access token refused", extra={"path": request.path, "reason": _reason(exc)})
            raise
        request.user = user
        return user


def _reason(exc: TokenInvalid) -> str:
    cause = exc.__cause__
    if cause is None:
        return "unknown, inactive or revoked user"
    if isinstance(cause, TokenError):  # ninja-jwt's fixed sentences ("Token is invalid or expired")
        return str(cause)
    return type(cause).__name__  # only the kind: a decoding error's text may quote the token


class OptionalJWTBearer(JWTBearer):
    """For routes open to everyone that still want to know who is asking, when someone is."""

    def __call__(self, request: HttpRequest) -> Any:
        return super().__call__(request) or True


jwt_auth = JWTBearer()
