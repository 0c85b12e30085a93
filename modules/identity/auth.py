"""The one Ninja auth class for every protected route: a ninja-jwt access token, checked against the user.

A token is accepted only if it is a valid *access* token (signature with the pinned algorithm, expiry,
type), its user still exists and is active, and its ``ver`` claim equals the user's ``token_version``
(bumped to revoke every session at once). One query: the user with its subscription.

Admin routes are declared once, on their router (``config/api.py`` mounts them with ``staff_jwt_auth``):
no token or a bad one answers 401 as everywhere, a valid token of a user who is not staff 403
``forbidden``, before the route runs.
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer
from ninja_jwt.exceptions import TokenError

from modules.common.errors import TokenInvalid
from modules.identity.models import User
from modules.identity.services import require_admin
from modules.identity.tokens import user_for_access_token

logger = logging.getLogger(__name__)

__all__ = ["JWTBearer", "jwt_auth", "staff_jwt_auth"]


class JWTBearer(HttpBearer):
    """A ninja-jwt access token of an active user; with ``staff_only``, of a staff user (403
    ``forbidden`` otherwise, the rule of ``services.require_admin``).

    Staff-only is an option rather than a subclass because Ninja names the OpenAPI security scheme
    after the auth class: a subclass would document a second bearer scheme for the same token.
    """

    openapi_scheme = "bearer"

    def __init__(self, *, staff_only: bool = False) -> None:
        super().__init__()
        self.staff_only = staff_only

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
        request.user = user  # before the staff check: the access log names who was refused
        if self.staff_only:
            require_admin(user)
        return user


def _reason(exc: TokenInvalid) -> str:
    cause = exc.__cause__
    if cause is None:
        return "unknown, inactive or revoked user"
    if isinstance(cause, TokenError):  # ninja-jwt's fixed sentences ("Token is invalid or expired")
        return str(cause)
    return type(cause).__name__  # only the kind: a decoding error's text may quote the token


jwt_auth = JWTBearer()
staff_jwt_auth = JWTBearer(staff_only=True)
