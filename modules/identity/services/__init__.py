"""Identity's facade: the one door other modules, identity's own api, admin, tasks and commands use.

It is split by sub-domain: ``tiers`` (effective tier, limits, recorded subscription changes),
``accounts`` (registration, verification, passwords, profile, deletion, the checks on a user),
``sessions`` (tokens, login, Google sign-in), ``outbox`` (queue, deliver and retry emails),
``readers`` (counts and DTOs for ops, insights and learning) and ``demo``. ``__all__`` below is the
list of public names; anything else in the sub-modules is identity's own.

``User`` is the model itself: the authenticated user every endpoint receives is one, and other
modules read its fields (``timezone``, ``scheduler``, ...) rather than a copy made on every request.
"""

from modules.identity.models import User
from modules.identity.services.accounts import (
    Profile,
    UserSummary,
    change_password,
    confirm_password_reset,
    delete_account,
    delete_account_with_password,
    ensure_email_verified,
    make_password_reset_token,
    password_reset_token_valid,
    profile,
    register,
    request_password_reset,
    request_verification_email,
    require_admin,
    send_password_reset,
    send_verification_email,
    summary,
    update_profile,
    verification_token_valid,
    verify_email,
)
from modules.identity.services.demo import DemoUser, ensure_demo_user
from modules.identity.services.outbox import deliver_email, requeue_stuck_emails, retry_delay, send_email
from modules.identity.services.readers import (
    ReminderRecipient,
    TierChange,
    count_failed_emails,
    count_signups,
    count_users,
    tier_change_counts,
    tier_changes,
    tier_for_user_ids,
    timezones_for_user_ids,
    users_by_tier,
    users_due_for_reminder,
)
from modules.identity.services.sessions import (
    Login,
    google_sign_in,
    issue_tokens,
    logout,
    obtain_tokens,
    refresh_tokens,
    revoke_all_sessions,
)
from modules.identity.services.tiers import (
    SubscriptionInfo,
    change_subscription,
    change_tier,
    change_tier_by_email,
    effective_tier,
    subscription_info,
    tier_spec_for,
)
from modules.identity.tiers import Tier, TierSpec
from modules.identity.tokens import TokenPair

__all__ = [
    "DemoUser",
    "Login",
    "Profile",
    "ReminderRecipient",
    "SubscriptionInfo",
    "Tier",
    "TierChange",
    "TierSpec",
    "TokenPair",
    "User",
    "UserSummary",
    "change_password",
    "change_subscription",
    "change_tier",
    "change_tier_by_email",
    "confirm_password_reset",
    "count_failed_emails",
    "count_signups",
    "count_users",
    "delete_account",
    "delete_account_with_password",
    "deliver_email",
    "effective_tier",
    "ensure_demo_user",
    "ensure_email_verified",
    "google_sign_in",
    "issue_tokens",
    "logout",
    "make_password_reset_token",
    "obtain_tokens",
    "password_reset_token_valid",
    "profile",
    "refresh_tokens",
    "register",
    "request_password_reset",
    "request_verification_email",
    "requeue_stuck_emails",
    "require_admin",
    "retry_delay",
    "revoke_all_sessions",
    "send_email",
    "send_password_reset",
    "send_verification_email",
    "subscription_info",
    "summary",
    "tier_change_counts",
    "tier_changes",
    "tier_for_user_ids",
    "tier_spec_for",
    "timezones_for_user_ids",
    "update_profile",
    "users_by_tier",
    "users_due_for_reminder",
    "verification_token_valid",
    "verify_email",
]
