"""Identity's routers: ``auth_router`` at /api/auth/, ``accounts_router`` at /api/accounts/.

Every /api/auth/* route is throttled per client IP (``auth_throttle``, settings.AUTH_THROTTLE_RATE)
instead of the API-wide tier throttle: they are public, and Ninja throttles after authentication.
django-allauth is installed for its account and social models, never routed: these endpoints are the
only way in, and ninja-jwt the only token issuer.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Status

from modules.common.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidToken,
    Throttled,
    TokenInvalid,
    Unavailable,
    raises,
)
from modules.identity import services
from modules.identity.auth import jwt_auth
from modules.identity.schemas import (
    AccountDeleteIn,
    EmailIn,
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

RESEND_ACCEPTED = "If this address has an account waiting for verification, a new link is on its way."
RESET_ACCEPTED = "If this address has an account, a password reset link is on its way."


# --- /api/auth/ -----------------------------------------------------------------------------------


@auth_router.post(
    "/register/", response={201: ProfileOut}, summary="Create an account (a verification email is sent)"
)
@raises(EmailTaken)
def register(request: HttpRequest, payload: RegisterIn) -> Status:
    """Creates a FREE account, not yet verified, and emails a verification link (valid 3 days). The
    account can log in and read at once; creating content or using AI waits for the verification.
    An address already registered answers 409 `email_taken`; a weak password 422 (`type`
    `weak_password`, one item per problem)."""
    user = services.register(
        email=payload.email,
        password=payload.password,
        first_name=payload.first_name,
        last_name=payload.last_name,
        timezone_name=payload.timezone,
    )
    return Status(201, services.profile(user))


@auth_router.post(
    "/verify-email/", response=VerifyEmailOut, summary="Confirm an email address with its token"
)
@raises(InvalidToken)
def verify_email(request: HttpRequest, payload: TokenIn) -> services.User:
    """Spends the token of a verification email (as copied from its link, URL-encoded or not). A bad,
    expired or used token answers 400 `invalid_token`."""
    return services.verify_email(token=payload.token)


@auth_router.post("/resend-verification/", response={202: MessageOut}, summary="Send a new verification link")
def resend_verification(request: HttpRequest, payload: EmailIn) -> Status:
    """Always 202, whether or not the address has an account waiting for verification (no account
    enumeration); a link goes out only when one does."""
    services.request_verification_email(email=payload.email)
    return Status(202, {"detail": RESEND_ACCEPTED})


@auth_router.post("/token/", response=LoginOut, summary="Obtain an access and a refresh token")
@raises(InvalidCredentials, Throttled)
def obtain_token(request: HttpRequest, payload: TokenObtainIn) -> services.Login:
    """Logs in with email and password: an access token (60 minutes; send it as `Authorization:
    Bearer <access>`), a refresh token (7 days, single use) and who you are. A wrong email or password
    answers 401 `invalid_credentials` (never `token_invalid`: refreshing cannot help). After 10 wrong
    passwords for one address within 15 minutes (`LOGIN_FAILURE_RATE`), from any client, that address
    answers 429 `throttled`, even with the right password, until `Retry-After` (the window's end)."""
    return services.obtain_tokens(email=payload.email, password=payload.password)


@auth_router.post(
    "/token/refresh/", response=TokenPairOut, summary="Trade a refresh token for a new pair (single use)"
)
@raises(TokenInvalid)
def refresh_token(request: HttpRequest, payload: RefreshIn) -> services.TokenPair:
    """A new access and refresh pair; the refresh token given is blacklisted. A bad, expired, revoked
    or already used refresh token answers 401 `token_invalid`: sign in again."""
    return services.refresh_tokens(refresh=payload.refresh)


@auth_router.post("/logout/", auth=jwt_auth, response={204: None}, summary="Blacklist a refresh token")
def logout(request: HttpRequest, payload: RefreshIn) -> Status:
    """Blacklists one of your refresh tokens; the access token works until it expires. A refresh
    token that is not yours, not a refresh token or unknown answers 401 `token_invalid`."""
    services.logout(user=request.auth, refresh=payload.refresh)
    return Status(204, None)


@auth_router.post("/password-reset/", response={202: MessageOut}, summary="Email a password reset link")
def password_reset(request: HttpRequest, payload: EmailIn) -> Status:
    """Always 202 (no account enumeration); an account with this address gets a link valid one hour."""
    services.request_password_reset(email=payload.email)
    return Status(202, {"detail": RESET_ACCEPTED})


@auth_router.post(
    "/password-reset/confirm/",
    response=MessageOut,
    summary="Set a new password with a reset token (ends every session)",
)
@raises(InvalidToken)
def password_reset_confirm(request: HttpRequest, payload: PasswordResetConfirmIn) -> dict[str, str]:
    """Spends the token of a reset email and sets the new password; every refresh and access token of
    the account stops working. A bad, expired or used token answers 400 `invalid_token`; a weak
    password 422 (`weak_password`)."""
    services.confirm_password_reset(token=payload.token, new_password=payload.new_password)
    return {"detail": "Your password has been changed. Log in with the new one."}


@auth_router.post("/google/", response=LoginOut, summary="Sign in (or up) with a Google ID token")
@raises(InvalidCredentials, Unavailable)
def google_sign_in(request: HttpRequest, payload: GoogleSignInIn) -> services.Login:
    """The same answer as `/auth/token/`. The first sign-in creates the account (its email counts as
    verified) or links an account with the same address. A token Google did not sign for this server,
    expired or without a verified email answers 401 `invalid_credentials`; 503 `unavailable` when
    Google sign-in is not configured or Google's keys cannot be fetched."""
    return services.google_sign_in(id_token=payload.id_token)


# --- /api/accounts/ -------------------------------------------------------------------------------


@accounts_router.get("/users/me/", response=ProfileOut, summary="Your profile")
def get_me(request: HttpRequest) -> services.Profile:
    """Your profile, tier and verification state."""
    return services.profile(request.auth)


@accounts_router.put("/users/me/", response=ProfileOut, summary="Replace your profile's writable fields")
def put_me(request: HttpRequest, payload: ProfileIn) -> services.Profile:
    """Every writable field at once. `id`, `email`, `subscription_tier`, `is_email_verified` and
    `date_joined` are read-only: sending them answers 422."""
    user = services.update_profile(user=request.auth, changes=payload.model_dump())
    return services.profile(user)


@accounts_router.patch("/users/me/", response=ProfileOut, summary="Change some of your profile's fields")
def patch_me(request: HttpRequest, payload: ProfilePatch) -> services.Profile:
    """Any subset of the writable fields (null is not a value); a new scheduler applies from the next
    review."""
    user = services.update_profile(user=request.auth, changes=payload.model_dump(exclude_unset=True))
    return services.profile(user)


@accounts_router.delete(
    "/users/me/", response={204: None}, summary="Delete your account and all its data (password required)"
)
@raises(Throttled)
def delete_me(request: HttpRequest, payload: AccountDeleteIn) -> Status:
    """Deletes the account and everything in it, for good. From the answer on, the account is gone for
    every purpose: its tokens and password no longer work, and its email address can register again at
    once. Its data (contents, reviews, AI questions, exports...) is erased by the background worker
    within moments of the answer, whatever its size. A wrong password answers 422 (`type`
    `invalid_password`) and counts against the account like a failed login: past the limit, 429
    `throttled` until `Retry-After`."""
    services.close_account_with_password(user=request.auth, password=payload.password)
    return Status(204, None)


@accounts_router.post(
    "/users/me/password/", response={204: None}, summary="Change your password (ends every session)"
)
@raises(Throttled)
def change_password(request: HttpRequest, payload: PasswordChangeIn) -> Status:
    """Every refresh and access token of the account stops working, this one included: log in again.
    A wrong current password answers 422 (`invalid_password`), a weak new one 422 (`weak_password`).
    A wrong current password counts against the account like a failed login: past the limit, 429
    `throttled` until `Retry-After`."""
    services.change_password(
        user=request.auth, current_password=payload.current_password, new_password=payload.new_password
    )
    return Status(204, None)


@accounts_router.get("/subscription/", response=SubscriptionOut, summary="Your tier and its limits")
def subscription(request: HttpRequest) -> services.SubscriptionInfo:
    """Your tier (FREE once a subscription expires), since and until when, and its limits: API requests
    per hour, AI questions per day, the review interval ladder."""
    return services.subscription_info(request.auth)
