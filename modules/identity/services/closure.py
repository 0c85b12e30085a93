"""Closing an account at once, and erasing it on the queue.

An account's deletion (``DELETE /api/accounts/users/me/``, or an admin deleting users) *closes* it in
the request, in one transaction whose cost does not grow with the account:

- the user's row is locked and marked closed (``closed_at``), inactive, with an unusable password and
  a bumped ``token_version``: every access and refresh token stops at once (the token records go too);
- the email is freed: the row's address becomes a tombstone that cannot collide with another one or be
  delivered to (``closed-<id>-<random>@closed.invalid``, RFC 2606 reserves ``.invalid``), and allauth's
  addresses and social accounts of the user go, so the same person can register (or sign in with
  Google) again at once and get a new account;
- the email log of the address goes too: it is keyed by the address, not the user, so once the address
  is free its rows would otherwise end up in the next owner's log (and a queued email to the closed
  account is no longer sent: its delivery finds no row).

When the transaction commits, ``erase_closed_account`` is queued: the largest tables in batches of
their own transactions (``accounts.on_account_erasure_batch``; a very large account over several
tasks), then ``accounts.delete_account`` (the modules' deletion steps, then the cascades) on the
worker, where a heavy learner's seconds of deletes harm nobody. It erases only a closed account and does nothing for an account already gone, so a
second delivery, or a stray task naming an open account, changes nothing.

``erase_lost_closures`` is the safety net (every five minutes): an account closed more than
``ERASE_AFTER`` ago and still present lost its task (the enqueue failed after the commit, a worker died
past the queue's retries, an erasure lost a race with a write) and is queued again.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import Counter
from datetime import datetime, timedelta

from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from modules.identity import tokens
from modules.identity.models import EmailLog, User
from modules.identity.services.accounts import _check_current_password, delete_account, erasure_batches

logger = logging.getLogger(__name__)

ERASE_TASK = "modules.identity.tasks.erase_closed_account"
# Past this, a closed account still present lost its erasure: longer than a task may wait for a free
# worker and run (Q_RETRY 180 s, Q_TIMEOUT 120 s by default). A task merely late still meets the sweep's
# second one harmlessly: the first to lock the row erases, the other finds it gone.
ERASE_AFTER = timedelta(minutes=10)
# Rows a batch of the erasure deletes in one transaction (``on_account_erasure_batch``)
ERASE_BATCH_ROWS = 50_000
TOMBSTONE_DOMAIN = "closed.invalid"


def tombstone_email(user_id: int) -> str:
    """An address for a closed account: unique (its id and a random part), lower case, and in a
    reserved top-level domain that no mail ever reaches."""
    return f"closed-{user_id}-{secrets.token_hex(8)}@{TOMBSTONE_DOMAIN}"


def is_closed(user: User) -> bool:
    """Whether the account is closed (its erasure is queued or under way)."""
    return user.closed_at is not None


def account_is_open(*, user_id: int) -> bool:
    """Whether the account exists and is not closed, as committed now (one query): long-running work
    for a learner (an AI job, an import) asks between its steps and stops when the answer is no."""
    return User.objects.filter(pk=user_id, closed_at__isnull=True).exists()


def hold_open_account(*, user_id: int) -> bool:
    """Inside the caller's transaction: whether the account is open, and if so it stays open until the
    transaction ends (``FOR SHARE`` on its row: a closure waits for the transaction, and a transaction
    that comes after a closure's commit finds the account closed). For work that sends to the account's
    address or writes its rows after reading it earlier (a reminder round, a job)."""
    # SQLite (``make run``) has no row locks and no FOR clause: its one writer at a time serializes
    # the closure's write with the caller's.
    lock = " FOR SHARE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT 1 FROM "{User._meta.db_table}" WHERE "id" = %s AND "closed_at" IS NULL{lock}',  # noqa: S608 (the table's name, not input)
            [user_id],
        )
        return cursor.fetchone() is not None


def close_account_with_password(*, user: User, password: str) -> None:
    """The learner's own deletion: the password is checked as for a password change (a wrong one is
    422 and counts against the account), then the account is closed."""
    _check_current_password(user, password, field="password")
    close_account(user=user)


@transaction.atomic
def close_account(*, user: User, now: datetime | None = None) -> bool:
    """Closes the account (module docstring) and queues its erasure; a constant number of queries,
    whatever the account holds. False when it was closed (or erased) already: of two concurrent
    closures the second waits for the first's lock, then finds the account closed and does nothing.

    Lock order: the row is held ``FOR NO KEY UPDATE`` (closures wait for each other; a write that
    checks its foreign key to the user at commit does not wait for it), the user's other rows are
    deleted (waiting, if need be, for a token rotation holding one), and only then the row itself is
    rewritten, which takes the key lock (the email is a unique key). Locking it ``FOR UPDATE`` first
    deadlocked with a refresh that held its token's row and checked its user at commit."""
    locked = User.objects.select_for_update(no_key=True).filter(pk=user.pk).first()
    if locked is None or locked.closed_at is not None:
        return False
    address = locked.email
    EmailAddress.objects.filter(user_id=locked.pk).delete()
    SocialAccount.objects.filter(user_id=locked.pk).delete()
    EmailLog.objects.filter(to=address).delete()
    tokens.forget(locked)
    closed = {
        "closed_at": now or timezone.now(),
        "is_active": False,
        "password": make_password(None),  # unusable
        "email": tombstone_email(locked.pk),
        "token_version": locked.token_version + 1,  # the row is locked: no one else bumps it meanwhile
    }
    User.objects.filter(pk=locked.pk).update(**closed)
    for name, value in closed.items():  # the caller's instance tells the same story
        setattr(user, name, value)
    user_id = locked.pk
    # robust: the closure has committed; a broker that refuses the task now leaves it to the sweep
    transaction.on_commit(lambda: _enqueue_erasure(user_id), robust=True)
    logger.info("account closed; erasure queued", extra={"user_id": user_id})
    return True


def _enqueue_erasure(user_id: int, *, suffix: str = "") -> None:
    from django_q.tasks import async_task

    async_task(ERASE_TASK, user_id, task_name=f"erase-account-{user_id}{suffix}")


def _slice_seconds() -> float:
    """How long one erasure task deletes in batches before it hands over to the next: half the queue's
    task timeout, as AI jobs slice their work."""
    return max(1.0, float(settings.Q_CLUSTER["timeout"]) / 2)


def _locked_user(user_id: int) -> User | None:
    """Inside a transaction: the user's row, locked ``FOR NO KEY UPDATE``. A second delivery running at
    the same moment waits here, then finds no row. Not FOR UPDATE: a review in flight holds its card
    (which the erasure deletes first, waiting for it) and checks its user at commit; a key lock on the
    user here would deadlock with it."""
    return User.objects.select_for_update(no_key=True).filter(pk=user_id).first()


def _refusal(user: User | None) -> str | None:
    """``missing`` (gone already), ``open`` (only a closed account is erased), or None: erase it."""
    if user is None:
        return "missing"
    return "open" if user.closed_at is None else None


def _refused(state: str, user_id: int) -> str:
    if state == "open":
        logger.warning("account erasure refused: the account is open", extra={"user_id": user_id})
    else:
        logger.info("account erasure: nothing left to erase", extra={"user_id": user_id})
    return state


def _erase_in_batches(*, user_id: int, deadline: float) -> tuple[str | None, Counter[str]]:
    """Deletes the account's largest tables in batches (``on_account_erasure_batch``), each in its own
    transaction that first checks the account is still closed. Answers what stopped it (``missing``,
    ``open``, ``continued`` past the deadline, None when every batch step is done) and the rows deleted."""
    deleted: Counter[str] = Counter()
    for label, batch in erasure_batches():
        while True:
            if time.monotonic() >= deadline:
                return "continued", deleted
            with transaction.atomic():
                state = _refusal(_locked_user(user_id))
                if state is not None:
                    return state, deleted
                count = batch(user_id=user_id, limit=ERASE_BATCH_ROWS)
            deleted[label] += count
            if count < ERASE_BATCH_ROWS:
                break
    return None, deleted


def erase_closed_account(*, user_id: int) -> str:
    """Task body: erases a closed account and everything it owns. Answers ``erased``, ``missing`` (gone
    already: a second delivery), ``open`` (refused: only a closed account is ever erased), ``continued``
    (a very large account: this task deleted batches for half the task timeout and queued the next
    one) or ``retry`` (a write of the account committed during the final transaction, which was rolled
    back; the sweep queues it again). Logs what it erased and how long it took; never the address or
    anything secret.

    The largest tables go first, in batches of ``ERASE_BATCH_ROWS`` rows, each batch its own
    transaction (a million reviews are 20 of them), so no transaction's work grows with the account and
    a task never runs into the queue's timeout; the rest goes in one final transaction. A closed
    account is never read again, so the batches already deleted need no rolling back."""
    started = time.monotonic()
    stopped, batched = _erase_in_batches(user_id=user_id, deadline=started + _slice_seconds())
    if stopped == "continued":
        _enqueue_erasure(user_id, suffix=f"-continued-{int(time.time())}")
        logger.info(
            "account erasure continues in the next task",
            extra={
                "user_id": user_id,
                "seconds": round(time.monotonic() - started, 3),
                "rows": dict(batched),
            },
        )
        return "continued"
    if stopped is not None:
        return _refused(stopped, user_id)
    try:
        with transaction.atomic():
            user = _locked_user(user_id)
            refusal = _refusal(user)
            if refusal is not None:
                return _refused(refusal, user_id)
            assert user is not None and user.closed_at is not None
            closed_at = user.closed_at
            erased = Counter(delete_account(user=user))
    except IntegrityError:
        # A row of the account written by a transaction that committed after this one's deletes (an
        # import, a review in flight at the closure) still references the user at commit.
        logger.warning(
            "account erasure raced a write of the account and was rolled back; the sweep retries it",
            extra={"user_id": user_id},
        )
        return "retry"
    erased.update(batched)
    logger.info(
        "closed account erased",
        extra={
            "user_id": user_id,
            "seconds": round(time.monotonic() - started, 3),
            "closed_seconds_ago": round((timezone.now() - closed_at).total_seconds(), 1),
            "rows": {label: count for label, count in sorted(erased.items()) if count},
        },
    )
    return "erased"


def erase_lost_closures(*, now: datetime | None = None, limit: int = 100) -> int:
    """Queues again the erasure of accounts closed more than ``ERASE_AFTER`` ago and still present
    (the oldest first, at most ``limit`` a run); returns how many. An erasure is idempotent, so one
    whose task is merely late runs once all the same."""
    cutoff = (now or timezone.now()) - ERASE_AFTER
    lost = list(
        User.objects.filter(closed_at__lt=cutoff).order_by("closed_at").values_list("pk", flat=True)[:limit]
    )
    for user_id in lost:
        _enqueue_erasure(user_id, suffix="-swept")
    if lost:
        logger.warning("closed accounts still present: erasure queued again", extra={"count": len(lost)})
    return len(lost)
