"""Identity's routers: ``auth_router`` at /api/auth/, ``accounts_router`` at /api/accounts/."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router

from modules.identity import services
from modules.identity.schemas import LoginOut, ProfileOut, TokenObtainIn

auth_router = Router(tags=["auth"], auth=None)
accounts_router = Router(tags=["accounts"])


@auth_router.post("/token/", response=LoginOut, summary="Obtain an access and a refresh token")
def obtain_token(request: HttpRequest, payload: TokenObtainIn) -> dict[str, Any]:
    login = services.obtain_tokens(email=payload.email, password=payload.password)
    return {"access": login.tokens.access, "refresh": login.tokens.refresh, "user": login.user}


@accounts_router.get("/users/me/", response=ProfileOut, summary="Your profile")
def get_me(request: HttpRequest) -> dict[str, Any]:
    return services.profile(request.auth)
