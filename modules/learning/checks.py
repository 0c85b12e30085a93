"""System checks of the learning module (``manage.py check``, ``migrate``, ``runserver``)."""

from __future__ import annotations

from typing import Any

from django.core import checks

from modules.learning import readcache


def read_cache_is_shared(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``learning.W001``: the read cache is configured on but switched off, because the default cache
    is local to each process and DEBUG is off (see ``readcache.switched_off_reason``)."""
    reason = readcache.switched_off_reason()
    if reason is None:
        return []
    return [checks.Warning(reason, hint=readcache.SHARED_CACHE_HINT, id="learning.W001")]
