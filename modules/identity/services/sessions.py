"""Sessions: JWT pairs, password login, refresh, logout, revocation, and Google sign-in."""

from __future__ import annotations

from dataclasses import dataclass

from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import authenticate
from django.db import IntegrityError, transaction

from modules.common.errors import InvalidCredentials
from modules.identity import google, tokens
from modules.identity.models import User
from modules.identity.services.accounts import UserSummary, mark_verified, summary
from modules.identity.services.lockout import password_check
from modules.identity.services.tiers import open_subscription
from modules.identity.tiers import Tier
from modules.identity.tokens import TokenPair

WRONG_CREDENTIALS = "No active account found with the given credentials."
GOOGLE_PROVIDER = "google"


@dataclass(frozen=True)
class Login:
    access: str
    refresh: str
    user: UserSummary


def issue_tokens(user: User) -> TokenPair:
    """A fresh refresh/access pair carrying the user's current token version (and nothing secret)."""
    return tokens.issue_pair(user)


def _login(user: User) -> Login:
    pair = issue_tokens(user)
    return Login(access=pair.access, refresh=pair.refresh, user=summary(user))


def obtain_tokens(*, email: str, password: str) -> Login:
    """Email + password -> tokens. The same answer for every kind of failure, and about the same time:
    Django's ModelBackend hashes the given password even when no account has that email. Too many
    wrong passwords for the address raise ``Throttled`` until the window ends (services/lockout.py)."""
    email = User.objects.normalize_email(email)
    with password_check(email) as check:
        user = authenticate(email=email, password=password)
        if user is None:
            check.wrong()
            raise InvalidCredentials(WRONG_CREDENTIALS)
    return _login(user)


def refresh_tokens(*, refresh: str) -> TokenPair:
    """Rotate a refresh token: a new pair, the old refresh blacklisted (reuse -> TokenInvalid)."""
    _, pair = tokens.rotate(refresh)
    return pair


def logout(*, user: User, refresh: str) -> None:
    """Blacklist one of the user's refresh tokens; the access token lives until it expires."""
    tokens.blacklist(user=user, raw_refresh=refresh)


def revoke_all_sessions(user: User) -> None:
    """Every access and refresh token of the user stops working (password reset or change, admin)."""
    tokens.revoke_all(user)


# --- Google sign-in --------------------------------------------------------------------------------


def google_sign_in(*, id_token: str) -> Login:
    """Sign in (or up) with a Google ID token: same answer as ``obtain_tokens``."""
    identity = google.verify_id_token(id_token)
    try:
        user = _google_user(identity)
    except IntegrityError:
        # A concurrent first sign-in (or registration) created the rows first: read them.
        user = _google_user(identity)
    if not user.is_active:
        raise InvalidCredentials(WRONG_CREDENTIALS)
    return _login(user)


@transaction.atomic
def _google_user(identity: google.GoogleIdentity) -> User:
    account = (
        SocialAccount.objects.select_related("user", "user__subscription")
        .filter(provider=GOOGLE_PROVIDER, uid=identity.sub)
        .first()
    )
    if account is not None:
        account.extra_data = identity.claims
        account.save(update_fields=["extra_data", "last_login"])
        return account.user
    user = (
        User.objects.select_related("subscription")
        .select_for_update(of=("self",))
        .filter(email=identity.email)
        .first()
    )
    if user is None:
        user = User(
            email=identity.email,
            first_name=identity.given_name,
            last_name=identity.family_name,
            is_email_verified=True,
        )
        user.set_unusable_password()
        user.save()
        open_subscription(user=user, tier=Tier.FREE, source="google")
        EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    elif not user.is_email_verified:
        # Someone registered this address with a password but never proved they own it; Google just
        # proved the signer does. Drop that password and its sessions, so a squatter who registered
        # first keeps no way in (account pre-hijacking).
        user.set_unusable_password()
        user.save(update_fields=["password"])
        revoke_all_sessions(user)
        mark_verified(user)
    SocialAccount.objects.create(
        user=user, provider=GOOGLE_PROVIDER, uid=identity.sub, extra_data=identity.claims
    )
    return user
