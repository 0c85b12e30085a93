"""gunicorn's logger, with the redaction of ``config.logging`` on its access and error logs.

gunicorn writes both through handlers of its own, never through the app's JSON root logger. Its access
line holds the request line with its query string and the ``Referer`` (where a one-time link lands:
the page at ``/reset-password?token=...`` calls the API, and the browser sends that URL along), its
error log quotes malformed request lines. Select it with
``--logger-class config.gunicorn_logger.RedactingLogger`` (``docker/entrypoint.sh`` does).
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from config.logging import RedactingFilter


class RedactingLogger(Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)  # (re)creates the handlers, also on a configuration reload
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if not any(isinstance(existing, RedactingFilter) for existing in handler.filters):
                    handler.addFilter(RedactingFilter())
