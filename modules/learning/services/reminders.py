"""Daily review reminders: one email per user and local day, at the user's reminder hour.

Every reminder carries identity's signed link that turns reminders off, in its text and in the
``List-Unsubscribe`` / ``List-Unsubscribe-Post`` headers (RFC 8058 one-click); links to the review and
settings pages only when ``FRONTEND_URL`` is a separate frontend (the backend has no such pages)."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from modules.common.time import local_date, local_day_bounds, zone
from modules.identity import services as identity
from modules.learning import selectors
from modules.learning.models import ReminderLog

logger = logging.getLogger(__name__)

REMINDER_TEMPLATE = "learning/email/review_reminder"
REMINDER_TITLES = 5


def send_review_reminders(*, now: datetime | None = None) -> int:
    """One round: email everyone whose local reminder hour is now and who has reviews due today.

    Identity picks the recipients (verified, active, notifications on, local hour == their
    ``daily_reminder_hour``); a ``ReminderLog`` row per (user, local date) makes a second run in the
    same day (a retried task, a second worker) send nothing. Returns how many emails were queued.
    """
    now = now or timezone.now()
    sent = 0
    for recipient in identity.users_due_for_reminder(utc_now=now):
        if _remind(recipient=recipient, now=now):
            sent += 1
    logger.info("review reminders sent", extra={"sent": sent})
    return sent


def _remind(*, recipient: identity.ReminderRecipient, now: datetime) -> bool:
    tz_name = recipient.timezone
    today = local_date(now, tz_name)
    start_of_today, end_of_today = local_day_bounds(today, tz_name)
    if ReminderLog.objects.filter(user_id=recipient.id, local_date=today).exists():
        return False
    due, due_count, overdue_count = selectors.due_page(
        user_id=recipient.id, before=end_of_today, overdue_before=start_of_today, limit=REMINDER_TITLES
    )
    if not due:
        return False
    titles = [row[1] for row in due]
    # The signed link that turns reminders off always works (identity serves it on this backend); the
    # review and settings pages exist only on a separate frontend, so without one they are left out.
    reminders_off_url = identity.reminders_off_link(user_id=recipient.id)
    try:
        with transaction.atomic():
            # The round's recipients were read at its start; an account closed since has its address
            # freed (it may already be someone else's): it gets nothing. Held open until the email is
            # queued, so a closure waits for it and then deletes its email log row with the others.
            if not identity.hold_open_account(user_id=recipient.id):
                return False
            ReminderLog.objects.create(
                user_id=recipient.id, local_date=today, due_count=due_count, sent_at=now
            )
            identity.send_email(
                to=recipient.email,
                template=REMINDER_TEMPLATE,
                context={
                    "first_name": recipient.first_name,
                    "due_count": due_count,
                    "overdue_count": overdue_count,
                    "titles": titles,
                    "more_count": max(due_count - len(titles), 0),
                    "reminder_hour": now.astimezone(zone(tz_name)).hour,
                    "review_url": identity.frontend_page("/review"),
                    "settings_url": identity.frontend_page("/settings"),
                    "reminders_off_url": reminders_off_url,
                },
                headers=identity.one_click_unsubscribe_headers(reminders_off_url),
            )
    except IntegrityError:  # another worker reminded this user today, a moment ago
        return False
    return True
