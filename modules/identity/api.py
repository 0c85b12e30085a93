"""Identity's routers: ``auth_router`` at /api/auth/, ``accounts_router`` at /api/accounts/.

Every /api/auth/* route is throttled per client IP (``auth_throttle``, settings.AUTH_THROTTLE_RATE)
instead of the API-wide tier throttle: they are public, and Ninja throttles after authentication.
django-allauth is installed for its account and social models, never routed: these endpoints are the
only way in, and ninja-jwt the only token issuer.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Status

from modules.identity import services
from modules.identity.auth import jwt_auth
from modules.identity.schemas import (
    AccountDeleteIn,
    EmailIn,
    ErrorOut,
    GoogleSignInIn,
    LoginOut,
    MessageOut,
    PasswordChangeIn,
    PasswordResetConfirmIn,
    ProfileIn,
    ProfileOut,
    ProfilePatch,
    RefreshIn,
    RegisterIn,
    SubscriptionOut,
    TokenIn,
    TokenObtainIn,
    TokenPairOut,
    VerifyEmailOut,
)
from modules.identity.throttles import auth_throttle

auth_router = Router(tags=["auth"], auth=None, throttle=[auth_throttle])
accounts_router = Router(tags=["accounts"])

# Error answers each route documents in the OpenAPI schema (bodies come from config/api.py's handlers).
_PUBLIC = {422: ErrorOut, 429: ErrorOut}
_TOKEN = {400: ErrorOut, **_PUBLIC}
_LOGIN = {401: ErrorOut, **_PUBLIC}
_ACCOUNT = {401: ErrorOut, 422: ErrorOut, 429: ErrorOut}

RESEND_ACCEPTED = "If this address has an account waiting for verification, a new link is on its way."
RESET_ACCEPTED = "If this address has an account, a password reset link is on its way."


# --- /api/auth/ -----------------------------------------------------------------------------------


@auth_router.post(
    "/register/",
    response={201: ProfileOut, 409: ErrorOut, **_PUBLIC},
    summary="Create an account (a verification email is sent)",
    openapi_extra={"responses": {409: {"description": "email_taken"}, 422: {"description": "weak password"}}},
)
def register(request: HttpRequest, payload: RegisterIn) -> Status:
    user = services.register(
        email=payload.email,
        password=payload.password,
        first_name=payload.first_name,
        last_name=payload.last_name,
        timezone_name=payload.timezone,
    )
    return Status(201, services.profile(user))


@auth_router.post(
    "/verify-email/",
    response={200: VerifyEmailOut, **_TOKEN},
    summary="Confirm an email address with its token",
)
def verify_email(request: HttpRequest, payload: TokenIn) -> services.User:
    return services.verify_email(token=payload.token)


@auth_router.post(
    "/resend-verification/", response={202: MessageOut, **_PUBLIC}, summary="Send a new verification link"
)
def resend_verification(request: HttpRequest, payload: EmailIn) -> Status:
    services.request_verification_email(email=payload.email)
    return Status(202, {"detail": RESEND_ACCEPTED})


@auth_router.post(
    "/token/", response={200: LoginOut, **_LOGIN}, summary="Obtain an access and a refresh token"
)
def obtain_token(request: HttpRequest, payload: TokenObtainIn) -> services.Login:
    return services.obtain_tokens(email=payload.email, password=payload.password)


@auth_router.post(
    "/token/refresh/",
    response={200: TokenPairOut, **_LOGIN},
    summary="Trade a refresh token for a new pair (single use)",
)
def refresh_token(request: HttpRequest, payload: RefreshIn) -> services.TokenPair:
    return services.refresh_tokens(refresh=payload.refresh)


@auth_router.post(
    "/logout/", auth=jwt_auth, response={204: None, **_LOGIN}, summary="Blacklist a refresh token"
)
def logout(request: HttpRequest, payload: RefreshIn) -> Status:
    services.logout(user=request.auth, refresh=payload.refresh)
    return Status(204, None)


@auth_router.post(
    "/password-reset/", response={202: MessageOut, **_PUBLIC}, summary="Email a password reset link"
)
def password_reset(request: HttpRequest, payload: EmailIn) -> Status:
    services.request_password_reset(email=payload.email)
    return Status(202, {"detail": RESET_ACCEPTED})


@auth_router.post(
    "/password-reset/confirm/",
    response={200: MessageOut, **_TOKEN},
    summary="Set a new password with a reset token (ends every session)",
)
def password_reset_confirm(request: HttpRequest, payload: PasswordResetConfirmIn) -> dict[str, str]:
    services.confirm_password_reset(token=payload.token, new_password=payload.new_password)
    return {"detail": "Your password has been changed. Log in with the new one."}


@auth_router.post(
    "/google/",
    response={200: LoginOut, 503: ErrorOut, **_LOGIN},
    summary="Sign in (or up) with a Google ID token",
)
def google_sign_in(request: HttpRequest, payload: GoogleSignInIn) -> services.Login:
    return services.google_sign_in(id_token=payload.id_token)


# --- /api/accounts/ -------------------------------------------------------------------------------


@accounts_router.get("/users/me/", response=ProfileOut, summary="Your profile")
def get_me(request: HttpRequest) -> services.Profile:
    return services.profile(request.auth)


@accounts_router.put(
    "/users/me/", response={200: ProfileOut, **_ACCOUNT}, summary="Replace your profile's writable fields"
)
def put_me(request: HttpRequest, payload: ProfileIn) -> services.Profile:
    user = services.update_profile(user=request.auth, changes=payload.model_dump())
    return services.profile(user)


@accounts_router.patch(
    "/users/me/", response={200: ProfileOut, **_ACCOUNT}, summary="Change some of your profile's fields"
)
def patch_me(request: HttpRequest, payload: ProfilePatch) -> services.Profile:
    user = services.update_profile(user=request.auth, changes=payload.model_dump(exclude_unset=True))
    return services.profile(user)


@accounts_router.delete(
    "/users/me/",
    response={204: None, **_ACCOUNT},
    summary="Delete your account and all its data (password required)",
)
def delete_me(request: HttpRequest, payload: AccountDeleteIn) -> Status:
    services.delete_account_with_password(user=request.auth, password=payload.password)
    return Status(204, None)


@accounts_router.post(
    "/users/me/password/",
    response={204: None, **_ACCOUNT},
    summary="Change your password (ends every session)",
)
def change_password(request: HttpRequest, payload: PasswordChangeIn) -> Status:
    services.change_password(
        user=request.auth, current_password=payload.current_password, new_password=payload.new_password
    )
    return Status(204, None)


@accounts_router.get("/subscription/", response=SubscriptionOut, summary="Your tier and its limits")
def subscription(request: HttpRequest) -> services.SubscriptionInfo:
    return services.subscription_info(request.auth)
