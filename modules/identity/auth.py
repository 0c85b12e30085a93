"""The one Ninja auth class for every protected route: a ninja-jwt access token, checked against the user.

A token is accepted only if it is a valid *access* token (signature with the pinned algorithm, expiry,
type), its user still exists and is active, and its ``ver`` claim equals the user's ``token_version``
(bumped to revoke every session at once). One query: the user with its subscription.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from modules.identity.models import User
from modules.identity.tokens import TOKEN_VERSION_CLAIM, active_user_for_claims, user_for_access_token

__all__ = ["TOKEN_VERSION_CLAIM", "JWTBearer", "OptionalJWTBearer", "jwt_auth", "user_for_claims"]

# Kept under its historical name for callers of the first version of this module.
user_for_claims = active_user_for_claims


class JWTBearer(HttpBearer):
    openapi_scheme = "bearer"

    def authenticate(self, request: HttpRequest, token: str) -> User:
        user = user_for_access_token(token)
        request.user = user
        return user


class OptionalJWTBearer(JWTBearer):
    """For routes open to everyone that still want to know who is asking, when someone is."""

    def __call__(self, request: HttpRequest) -> Any:
        return super().__call__(request) or True


jwt_auth = JWTBearer()
