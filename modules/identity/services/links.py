"""Links in emails: where a link to a frontend page may point, and the signed link that turns the daily
review reminders off without signing in (the page behind it is ``pages.reminders_off``).

The reminders-off token is ``django.core.signing.TimestampSigner`` output, ``<user id>:<timestamp>:<HMAC>``,
salted with ``REMINDERS_OFF_SALT`` (a signature made for anything else, such as an email confirmation
key, never verifies here) and signed with ``SECRET_KEY`` (``SECRET_KEY_FALLBACKS`` still verify after a
key rotation). No table: the token holds the user id and its time, the signature proves both.

It is valid for ``REMINDERS_OFF_MAX_AGE`` (90 days) and may be used any number of times: turning off
what is already off changes nothing, so single use would only break a second click. A long life is the
point of an unsubscribe link: people find the button in an email that is weeks old, and mailbox
providers act on ``List-Unsubscribe`` long after delivery. Someone holding a leaked link can only turn
one person's reminders off, which that person sees and undoes in the settings; and every reminder
carries a fresh link, so a person who still gets reminders always holds one that works. Ninety days
bounds how long a forwarded or archived email keeps that power.

The payload is the bare user id (not JSON): a ``payload:timestamp:signature`` value is what the log
redaction's "signed value" rule masks whole (config/logging.py), whereas base64 JSON would start
with ``eyJ`` and be cut in two by the JWT rule first, leaving the signature in the line.

"Reminders off" is ``notifications_enabled = False``, the contract's switch for reminder emails
(``users_due_for_reminder`` selects only users with it on); ``daily_reminder_hour`` (0-23, not
nullable in the contract) is kept, so turning notifications on again restores the person's hour.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing

from modules.common.errors import InvalidToken
from modules.identity.models import User
from modules.identity.services.accounts import plain_token

logger = logging.getLogger(__name__)

REMINDERS_OFF_PATH = "/reminders/off"
REMINDERS_OFF_SALT = "modules.identity.reminders-off"
REMINDERS_OFF_MAX_AGE = timedelta(days=90)
ONE_CLICK_BODY = ("List-Unsubscribe", "One-Click")  # RFC 8058: the form field the provider posts
_USER_ID = re.compile(r"[1-9][0-9]{0,18}")


@dataclass(frozen=True)
class ReminderSubscription:
    """Whom a reminders-off link is for, and whether their reminders are still on."""

    email: str
    reminders_on: bool


def frontend_page(path: str) -> str | None:
    """``FRONTEND_URL`` + ``path`` when ``FRONTEND_URL`` is a separate frontend; None while it is this
    backend, which serves no such page (only the pages of ``pages.py``), so an email leaves the link out
    rather than send one that answers 404."""
    if settings.FRONTEND_URL == settings.SITE_URL:
        return None
    return f"{settings.FRONTEND_URL}{path}"


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=REMINDERS_OFF_SALT)


def make_reminders_off_token(*, user_id: int) -> str:
    return _signer().sign(str(user_id))


def reminders_off_link(*, user_id: int) -> str:
    """The link that turns the user's reminders off: on this backend (``SITE_URL``) whatever
    ``FRONTEND_URL`` is, since a mailbox provider's RFC 8058 one-click POST must reach the backend."""
    query = urlencode({"token": make_reminders_off_token(user_id=user_id)})
    return f"{settings.SITE_URL}{REMINDERS_OFF_PATH}?{query}"


def one_click_unsubscribe_headers(link: str) -> dict[str, str]:
    """RFC 2369 / RFC 8058 headers for a message whose unsubscribe link is ``link``: mailbox providers
    show their own "Unsubscribe" button and POST ``List-Unsubscribe=One-Click`` to the link."""
    name, value = ONE_CLICK_BODY
    return {"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": f"{name}={value}"}


def _user_for_reminders_off_token(token: str) -> User | None:
    """The user a reminders-off token (raw or percent-encoded) names, if its signature, purpose and age
    are good and the account still exists and is open (a closed one's page would show its tombstone)."""
    try:
        value = _signer().unsign(plain_token(token), max_age=REMINDERS_OFF_MAX_AGE)
    except (signing.BadSignature, ValueError):  # tampered, another purpose's, expired, malformed
        return None
    if not _USER_ID.fullmatch(value):
        return None
    return User.objects.filter(pk=int(value), closed_at__isnull=True).first()


def reminders_off_subscription(*, token: str) -> ReminderSubscription | None:
    """Whom the token is for (None: not valid). Reads only: a page can show its button without a
    change."""
    user = _user_for_reminders_off_token(token)
    if user is None:
        return None
    return ReminderSubscription(email=user.email, reminders_on=user.notifications_enabled)


def turn_reminders_off(*, token: str) -> ReminderSubscription:
    """Turn the daily reminder emails off for the user the token names (idempotent); InvalidToken when
    the token is not a valid reminders-off token."""
    user = _user_for_reminders_off_token(token)
    if user is None:
        raise InvalidToken()
    if User.objects.filter(pk=user.pk, notifications_enabled=True).update(notifications_enabled=False):
        logger.info("daily reminders turned off from an email link", extra={"user_id": user.pk})
    return ReminderSubscription(email=user.email, reminders_on=False)
