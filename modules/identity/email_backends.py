"""Email backends of our own: the console default (which never prints a body) and Amazon SES.

``ConsoleEmailBackend`` is the default ``EMAIL_BACKEND``: it delivers nothing and logs one line per
message (subject, recipient count), never the body, which may hold a one-time link (a verification or
reset link is a password for whoever reads the log). With DEBUG on it also writes each whole message to
``EMAIL_FILE_PATH`` as a ``.eml`` file and logs its path and recipients, so a developer still follows
the link. Django's own console backend prints whole messages to stdout, where the logs go: do not use it.

Amazon SES as a Django email backend (SES API v2 through boto3):

Select it with ``EMAIL_BACKEND=modules.identity.email_backends.SESEmailBackend``. The region comes
from ``AWS_SES_REGION`` (default ``AWS_REGION``, then us-east-1), an optional configuration set from
``AWS_SES_CONFIGURATION_SET``; credentials from boto3's usual chain (environment, shared files, the
instance or task role), never from settings. boto3 is imported only when this backend is used.

Each message goes out whole as a raw MIME message (text, HTML alternative, headers), so what SES
sends is exactly what Django built. Errors raise unless ``fail_silently``: the outbox records them
and retries.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


class SESEmailBackend(BaseEmailBackend):
    def __init__(
        self,
        fail_silently: bool = False,
        *,
        region_name: str | None = None,
        configuration_set: str | None = None,
        client: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(fail_silently=fail_silently, **kwargs)
        self.region_name = region_name or settings.AWS_SES_REGION
        self.configuration_set = (
            configuration_set if configuration_set is not None else settings.AWS_SES_CONFIGURATION_SET
        )
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # lazily: only deployments that send through SES pay for the import

            self._client = boto3.client("sesv2", region_name=self.region_name)
        return self._client

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        sent = 0
        for message in email_messages:
            recipients = message.recipients()
            if not recipients:
                continue
            request: dict[str, Any] = {
                "FromEmailAddress": message.from_email,
                "Destination": {"ToAddresses": recipients},
                "Content": {"Raw": {"Data": message.message().as_bytes(linesep="\r\n")}},
            }
            if self.configuration_set:
                request["ConfigurationSetName"] = self.configuration_set
            try:
                response = self.client.send_email(**request)
            except Exception:
                if not self.fail_silently:
                    raise
                logger.warning("SES refused a message", exc_info=True)
                continue
            logger.info("email sent through SES", extra={"ses_message_id": response.get("MessageId")})
            sent += 1
        return sent
