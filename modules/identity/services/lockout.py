"""Password guessing, limited per account: every check of an account's password counts against that
account, from whatever address it comes.

The per-IP auth throttle alone lets an attacker who rotates addresses guess one account's password
without limit. Here at most ``settings.LOGIN_FAILURE_RATE`` (default ``10/15m``) wrong passwords are
accepted per account (the normalised email) and fixed window; past that every check of that account is
refused with ``Throttled`` (429 ``throttled``, ``Retry-After`` the end of the window) without looking at
the password, a right one included, so the refusal tells nothing about the guess and costs no hash.

- Counted per address typed, whether or not an account has it: a lockout that only existing accounts
  reached would tell which addresses are registered.
- Each check takes a slot before the password is hashed (one atomic ``incr``), and gives it back unless
  the password was wrong: parallel guesses cannot all pass the check before any of them is counted,
  and right passwords never fill the budget.
- Nothing resets a window early but a password reset through the emailed link (only the inbox's owner
  can do that): no successful login, by the attacker on another account or by anyone, clears a count.
- A lockout lasts until its window ends (at most the window's length) and is never extended by the
  refused attempts: an attacker can keep a victim out only by spending ``LOGIN_FAILURE_RATE`` requests
  per window on them (and the per-IP budget), and the victim keeps the password reset link and Google
  sign-in. docs/identity.md, "Throttles", has the trade-off.

Counts live in Django's cache (Redis), in this process's memory while it is unreachable, like the
other throttles (modules/common/throttles.py); ``THROTTLES_ENABLED=0`` turns this off too.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings

from modules.common.errors import Throttled
from modules.common.throttles import (
    count_in_window,
    forget_window,
    parse_rate,
    throttles_enabled,
)
from modules.identity.models import User

logger = logging.getLogger(__name__)

LOCKED = "Too many wrong passwords for this account. Try again later, or reset the password."


@dataclass
class PasswordCheck:
    """One check of an account's password in progress: call ``wrong()`` once the password failed."""

    failed: bool = False

    def wrong(self) -> None:
        self.failed = True


def _digest(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()[:32]


def _key(email: str) -> str:
    # A digest: the cache's keys do not list the addresses people type, and their length is bounded.
    return f"identity:password-failures:{_digest(email)}"


def _limit() -> tuple[int, int]:
    return parse_rate(settings.LOGIN_FAILURE_RATE)


@contextmanager
def password_check(email: str) -> Iterator[PasswordCheck]:
    """Wraps one check of the password of the account with this (normalised) email: raises
    ``Throttled`` when the account has had its wrong passwords for the window; inside, call
    ``check.wrong()`` when the password was wrong. Anything else (a right password, an error before the
    answer) does not count."""
    limit, duration = _limit()
    if not throttles_enabled() or not limit or not duration:
        yield PasswordCheck()
        return
    hit = count_in_window(_key(email), duration)
    if hit.count > limit:
        raise Throttled(LOCKED, retry_after_seconds=math.ceil(hit.wait))
    check = PasswordCheck()
    try:
        yield check
    finally:
        if not check.failed:
            hit.take_back()
        elif hit.count == limit:
            _log_lockout(email, limit=limit, duration=duration, locked_seconds=math.ceil(hit.wait))


def _log_lockout(email: str, *, limit: int, duration: int, locked_seconds: int) -> None:
    # Never the typed address itself (people type passwords into the email field): the account's id
    # when there is one, and the digest that names its counter.
    user_id = User.objects.filter(email=email).values_list("pk", flat=True).first()
    logger.warning(
        "account locked: %d wrong passwords within %d s; refused for %d s",
        limit,
        duration,
        locked_seconds,
        extra={"user_id": user_id, "account_digest": _digest(email)},
    )


def clear_password_failures(email: str) -> None:
    """Forgets this window's wrong passwords of the account (its owner has just proved the inbox)."""
    limit, duration = _limit()
    if limit and duration:
        forget_window(_key(email), duration)
