"""The console email backend, the default ``EMAIL_BACKEND``: it never prints a body.

It delivers nothing and logs one line per message (subject, recipient count), never the body, which
may hold a one-time link (a verification or reset link is a password for whoever reads the log). With
DEBUG on it also writes each whole message to ``EMAIL_FILE_PATH`` as a ``.eml`` file and logs its path
and recipients, so a developer still follows the link. Django's own console backend prints whole
messages to stdout, where the logs go: do not use it.

Real delivery goes through Django's SMTP backend or django-ses (``django_ses.SESBackend``,
docs/identity.md).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage

logger = logging.getLogger(__name__)


class ConsoleEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        sent = 0
        for message in email_messages:
            if not message.recipients():
                continue
            if settings.DEBUG:
                path = self._save(message)
                logger.info(
                    "email not sent (console backend); the whole message is in a file",
                    extra={"subject": message.subject, "to": ", ".join(message.recipients()), "file": path},
                )
            else:
                logger.warning(
                    "email not sent: EMAIL_BACKEND is the console backend (body not logged)",
                    extra={"subject": message.subject, "recipients": len(message.recipients())},
                )
            sent += 1
        return sent

    def _save(self, message: EmailMessage) -> str:
        folder = Path(settings.EMAIL_FILE_PATH)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        path = folder / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_bytes(message.message().as_bytes())
        except OSError:
            if not self.fail_silently:
                raise
        return str(path)
