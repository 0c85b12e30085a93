"""Work a serving process would otherwise do inside its first request or task, done when it starts.

A module lists, on its AppConfig, the dotted paths of functions that load what its first request or
task would load (``warm_ups``): the AI module imports the configured provider's SDK, which costs
anthropic's 2.2 s here, paid by the first AI call of every gunicorn worker and of every qcluster
worker process (recycled every 500 tasks). ``warm_up()`` runs them all:

- in each gunicorn worker from ``config/wsgi.py``, before it accepts a request, with ``urls=True``
  (the URLconf: the API, its routers and schemas, 0.2-0.3 s of the first request otherwise);
- in the qcluster master before it forks the sentinel (``manage.py qcluster``), so every worker
  process, recycled ones included, starts with the modules imported.

A warm-up imports; it opens no connection (a connection made before a fork would be shared by the
forked processes). One that fails is logged and skipped: the first call then pays it, as before.
"""

from __future__ import annotations

import logging
import time

from django.apps import apps
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


def warm_up(*, urls: bool = False) -> dict[str, float]:
    """Runs every installed app's ``warm_ups`` (and loads the URLconf when ``urls``); returns the
    seconds each took, by name."""
    spent: dict[str, float] = {}
    steps: list[str] = ["urls"] if urls else []
    for config in apps.get_app_configs():
        steps.extend(getattr(config, "warm_ups", ()))
    for step in steps:
        started = time.perf_counter()
        try:
            if step == "urls":
                from django.urls import get_resolver

                get_resolver().url_patterns  # noqa: B018 - imports config.urls and everything it routes
            else:
                import_string(step)()
        except Exception:
            logger.exception("warm-up %s failed; the first request or task will pay it", step)
            continue
        spent[step] = round(time.perf_counter() - started, 3)
    logger.info("warmed up", extra={"seconds": spent})
    return spent
