"""The doors of the per-user read cache (``modules/learning/readcache.py``) outside the facade's own
writes: the routers' cached reads, and the admin's writes that bypass the facade."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.utils import timezone

from modules.common.time import local_date
from modules.identity.services import User
from modules.learning import readcache
from modules.learning.services.schedulers import ladder_for

T = TypeVar("T")


def cached_read(
    *,
    user: User,
    name: str,
    variant: tuple[Any, ...],
    compute: Callable[[], T],
) -> T:
    """A read of the user's learning data through the per-user read cache.

    The key holds what changes an answer without a write: the user's local date and zone, scheduler
    and tier ladder, plus the caller's ``variant`` (page, filters). Every write of this facade
    invalidates it: the write functions are decorated ``@readcache.learning_write``
    (tests/learning/test_read_cache.py calls every public function and fails on a write that does not).
    """
    return readcache.cached(user_id=user.pk, name=name, variant=_key(user, variant), compute=compute)


def cached_window(
    *, user: User, name: str, variant: tuple[Any, ...], compute: Callable[[], readcache.Window]
) -> bytes:
    """``cached_read`` of a list's first page kept as a ``readcache.Window``: a write that declares its
    ``readcache.Change`` patches it instead of making the next read recompute it."""
    return readcache.cached_window(user_id=user.pk, name=name, variant=_key(user, variant), compute=compute)


def _key(user: User, variant: tuple[Any, ...]) -> tuple[Any, ...]:
    return (
        local_date(timezone.now(), user.timezone),
        user.timezone,
        user.scheduler,
        ladder_for(user),
        *variant,
    )


def forget_cached_reads(*, user_id: int) -> None:
    """For writes that do not go through this facade (Django admin): the next read recomputes."""
    readcache.invalidate(user_id)
