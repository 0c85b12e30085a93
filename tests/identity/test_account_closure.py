"""Deleting an account: the request closes it at once (constant work), the queue erases it; the sweep
erases what a lost task left."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.test import Client
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ
from ninja_jwt.token_blacklist.models import OutstandingToken

from modules.identity import services, tasks
from modules.identity.apps import IdentityConfig
from modules.identity.models import EmailLog, Subscription, SubscriptionChange, User
from modules.identity.services.closure import ERASE_AFTER
from modules.identity.testing import DEFAULT_PASSWORD, make_user
from modules.learning.models import Category, Content, ReviewHistory, ReviewSchedule
from modules.learning.testing import make_category, make_content, record_review
from tests.concurrency import needs_row_locks, run_together

pytestmark = pytest.mark.django_db

ME = "/api/accounts/users/me/"
EMAIL = "ada@example.com"
STRONG = "a-Long-enough-passphrase-42"


def post(client: Client, path: str, body: dict, **kwargs) -> object:
    return client.post(path, body, content_type="application/json", **kwargs)


def delete_me(client: Client, access: str, password: str = DEFAULT_PASSWORD) -> object:
    return client.delete(
        ME,
        {"password": password},
        content_type="application/json",
        headers={"Authorization": f"Bearer {access}"},
    )


def login(client: Client, email: str = EMAIL, password: str = DEFAULT_PASSWORD) -> object:
    return post(client, "/api/auth/token/", {"email": email, "password": password})


@pytest.fixture
def queue_unserved(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tasks go to the real broker (the ORM queue) and no worker takes them, instead of running inline:
    the erasure stays queued, or is lost when a test deletes it from the queue."""
    monkeypatch.setattr(Conf, "SYNC", False)


def learner(email: str = EMAIL, *, contents: int = 2, reviews_each: int = 2) -> User:
    user = make_user(email=email)
    category = make_category(user=user, name="Biology")
    for index in range(contents):
        content = make_content(user=user, title=f"Card {index}", category=category)
        for _ in range(reviews_each):
            record_review(content=content)
    return user


def rows_of(user_id: int) -> dict[str, int]:
    return {
        "users": User.objects.filter(pk=user_id).count(),
        "subscriptions": Subscription.objects.filter(user_id=user_id).count(),
        "tier_changes": SubscriptionChange.objects.filter(user_id=user_id).count(),
        "categories": Category.objects.filter(user_id=user_id).count(),
        "contents": Content.objects.filter(user_id=user_id).count(),
        "schedules": ReviewSchedule.objects.filter(user_id=user_id).count(),
        "reviews": ReviewHistory.objects.filter(user_id=user_id).count(),
        "tokens": OutstandingToken.objects.filter(user_id=user_id).count(),
    }


# --- The request -------------------------------------------------------------------------------------


def test_delete_me_answers_204_without_a_body_and_closes_the_account_at_once(api_client: Client) -> None:
    user = learner()
    session = login(api_client).json()

    response = delete_me(api_client, session["access"])

    assert response.status_code == 204
    assert response.content == b""
    closed = User.objects.get(pk=user.pk)  # the erasure is queued on commit: the row is still here
    assert closed.closed_at is not None
    assert not closed.is_active
    assert not closed.has_usable_password()
    assert closed.email.startswith(f"closed-{user.pk}-") and closed.email.endswith("@closed.invalid")
    assert closed.token_version == user.token_version + 1


def test_after_delete_me_the_password_and_every_token_are_refused(api_client: Client) -> None:
    learner()
    session = login(api_client).json()
    other = login(api_client).json()  # a second session, on another device

    assert delete_me(api_client, session["access"]).status_code == 204

    assert login(api_client).status_code == 401
    assert login(api_client).json()["code"] == "invalid_credentials"
    for pair in (session, other):
        me = api_client.get(ME, headers={"Authorization": f"Bearer {pair['access']}"})
        assert me.status_code == 401
        assert post(api_client, "/api/auth/token/refresh/", {"refresh": pair["refresh"]}).status_code == 401


def test_the_same_email_registers_again_at_once(
    api_client: Client, django_capture_on_commit_callbacks
) -> None:
    old = learner()
    session = login(api_client).json()
    assert delete_me(api_client, session["access"]).status_code == 204  # erasure not run: still closed

    with django_capture_on_commit_callbacks(execute=True):
        again = post(api_client, "/api/auth/register/", {"email": "Ada@Example.com", "password": STRONG})

    assert again.status_code == 201, again.content
    assert again.json()["id"] != old.pk
    assert login(api_client, password=STRONG).status_code == 200
    assert User.objects.filter(pk=old.pk, closed_at__isnull=False).exists()


def test_closing_frees_the_address_its_email_log_and_google_link(api_client: Client) -> None:
    user = make_user(email=EMAIL)
    EmailAddress.objects.create(user=user, email=EMAIL, primary=True, verified=True)
    SocialAccount.objects.create(user=user, provider="google", uid="123")
    EmailLog.objects.create(to=EMAIL, template="identity/email/verify_email", subject="queued to Ada")
    EmailLog.objects.create(to="bob@example.com", template="identity/email/verify_email", subject="Bob's")
    session = login(api_client).json()

    assert delete_me(api_client, session["access"]).status_code == 204

    assert not EmailAddress.objects.filter(user_id=user.pk).exists()
    assert not SocialAccount.objects.filter(user_id=user.pk).exists()  # Google sign-in makes a new account
    assert list(EmailLog.objects.values_list("to", flat=True)) == ["bob@example.com"]
    assert not OutstandingToken.objects.filter(user_id=user.pk).exists()


def test_a_wrong_password_answers_as_before_and_changes_nothing(
    api_client: Client, django_capture_on_commit_callbacks
) -> None:
    user = learner()
    EmailLog.objects.create(to=EMAIL, template="identity/email/verify_email", subject="hi")
    session = login(api_client).json()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = delete_me(api_client, session["access"], password="not-the-password")

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert response.json()["detail"][0]["type"] == "invalid_password"
    assert response.json()["detail"][0]["loc"] == ["body", "payload", "password"]
    assert callbacks == []  # no erasure queued
    kept = User.objects.get(pk=user.pk)
    assert (kept.email, kept.is_active, kept.closed_at, kept.token_version) == (EMAIL, True, None, 0)
    assert kept.check_password(DEFAULT_PASSWORD)
    assert EmailLog.objects.filter(to=EMAIL).exists()
    assert rows_of(user.pk)["reviews"] == 4
    assert api_client.get(ME, headers={"Authorization": f"Bearer {session['access']}"}).status_code == 200
    assert post(api_client, "/api/auth/token/refresh/", {"refresh": session["refresh"]}).status_code == 200


def test_with_tasks_inline_the_data_is_gone_after_the_request(
    api_client: Client, django_capture_on_commit_callbacks
) -> None:
    user = learner(contents=3, reviews_each=3)
    kept = learner("bob@example.com")
    session = login(api_client).json()
    assert rows_of(user.pk)["reviews"] == 9

    with django_capture_on_commit_callbacks(execute=True):
        response = delete_me(api_client, session["access"])

    assert response.status_code == 204
    assert set(rows_of(user.pk).values()) == {0}
    assert rows_of(kept.pk)["reviews"] == 4  # another account is untouched


def test_the_request_costs_the_same_queries_for_a_small_and_a_larger_account(
    django_assert_max_num_queries,
) -> None:
    """Constant in the account's size: nothing in the request reads or deletes the learner's data."""
    counts = []
    for index, (contents, reviews_each, sessions) in enumerate(((1, 0, 1), (40, 10, 6))):
        email = f"learner{index}@example.com"
        user = learner(email, contents=contents, reviews_each=reviews_each)
        EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
        EmailLog.objects.bulk_create(
            EmailLog(to=email, template="identity/email/verify_email", subject="hi") for _ in range(contents)
        )
        pairs = [login(Client(), email).json() for _ in range(sessions)]
        with django_assert_max_num_queries(14) as captured:
            assert delete_me(Client(), pairs[0]["access"]).status_code == 204
        counts.append(len(captured))

    assert counts[0] == counts[1], counts


# --- The erasure task ---------------------------------------------------------------------------------


def test_the_erasure_task_erases_a_closed_account_and_logs_counts_without_the_address(
    caplog: pytest.LogCaptureFixture,
) -> None:
    user = learner(contents=2, reviews_each=3)
    assert services.close_account(user=user)

    with caplog.at_level(logging.INFO, logger="modules.identity.services.closure"):
        assert tasks.erase_closed_account(user.pk) == "erased"

    assert set(rows_of(user.pk).values()) == {0}
    (record,) = [r for r in caplog.records if r.getMessage() == "closed account erased"]
    assert record.user_id == user.pk
    assert record.rows["learning.ReviewHistory"] == 6
    assert record.rows["learning.Content"] == 2
    assert record.rows["identity.User"] == 1
    assert record.seconds >= 0
    assert "@" not in repr(record.__dict__)  # neither the address nor its tombstone


def _learner_with_reviews(moments: list[timedelta]) -> User:
    """A learner with one content reviewed at each of ``moments`` ago."""
    user = make_user(email=EMAIL)
    content = make_content(user=user, title="Card")
    now = timezone.now()
    for ago in moments:
        record_review(content=content, reviewed_at=now - ago)
    return user


def _counted_batches(monkeypatch: pytest.MonkeyPatch, after_each=None) -> list[int]:
    """The registered erasure batches, each call's deleted rows recorded (and ``after_each`` run)."""
    from modules.identity.services import accounts

    calls: list[int] = []
    wrapped = []
    for label, batch in accounts.erasure_batches():

        def counted(*, user_id: int, limit: int, batch=batch) -> int:
            deleted = batch(user_id=user_id, limit=limit)
            calls.append(deleted)
            if after_each is not None:
                after_each()
            return deleted

        wrapped.append((label, counted))
    monkeypatch.setattr(accounts, "_ERASURE_BATCHES", wrapped)
    return calls


def test_the_review_history_of_a_large_account_goes_in_batches_before_the_final_transaction(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from modules.identity.services import closure

    user = _learner_with_reviews([timedelta(hours=hours) for hours in range(15)])
    services.close_account(user=user)
    monkeypatch.setattr(closure, "ERASE_BATCH_ROWS", 4)
    calls = _counted_batches(monkeypatch)

    with caplog.at_level(logging.INFO, logger="modules.identity.services.closure"):
        assert tasks.erase_closed_account(user.pk) == "erased"

    assert calls == [4, 4, 4, 3]  # 15 reviews, four transactions; the last batch was short: done
    assert set(rows_of(user.pk).values()) == {0}
    (record,) = [r for r in caplog.records if r.getMessage() == "closed account erased"]
    assert record.rows["learning.ReviewHistory"] == 15  # the batches' rows in the same log line


def test_reviews_at_the_same_moment_as_a_batchs_last_go_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from modules.identity.services import closure

    # oldest first: 3 hours ago twice, then one at the same moment four times, then the newest
    moments = [timedelta(hours=3)] * 2 + [timedelta(hours=2)] * 4 + [timedelta(hours=1)]
    user = _learner_with_reviews(moments)
    services.close_account(user=user)
    monkeypatch.setattr(closure, "ERASE_BATCH_ROWS", 4)
    calls = _counted_batches(monkeypatch)

    assert tasks.erase_closed_account(user.pk) == "erased"

    assert calls == [6, 1]  # the 4th oldest is one of four at its moment: all of them in the first
    assert set(rows_of(user.pk).values()) == {0}


def test_an_erasure_past_half_the_task_timeout_hands_over_to_a_next_task(
    monkeypatch: pytest.MonkeyPatch, queue_unserved: None
) -> None:
    from modules.identity.services import closure

    class Clock:
        now = 0.0

        def monotonic(self) -> float:
            return self.now

        def time(self) -> float:
            return time.time()

    clock = Clock()
    user = _learner_with_reviews([timedelta(hours=hours) for hours in range(15)])
    services.close_account(user=user)
    OrmQ.objects.all().delete()  # the closure's own task: this test runs the erasure itself
    monkeypatch.setattr(closure, "ERASE_BATCH_ROWS", 4)
    monkeypatch.setattr(closure, "time", clock)
    monkeypatch.setattr(closure, "_slice_seconds", lambda: 10.0)

    def six_seconds_pass() -> None:
        clock.now += 6.0

    calls = _counted_batches(monkeypatch, after_each=six_seconds_pass)

    assert services.erase_closed_account(user_id=user.pk) == "continued"

    assert calls == [4, 4]  # the third batch would start past the slice
    assert rows_of(user.pk)["reviews"] == 7 and rows_of(user.pk)["users"] == 1  # closed, still there
    (queued,) = OrmQ.objects.all()
    assert queued.task["name"].startswith(f"erase-account-{user.pk}-continued-")
    assert queued.task["args"] == (user.pk,)

    clock.now = 0.0
    monkeypatch.setattr(closure, "_slice_seconds", lambda: 1000.0)
    assert services.erase_closed_account(user_id=user.pk) == "erased"  # what the next task does
    assert set(rows_of(user.pk).values()) == {0}


def test_the_erasure_task_refuses_an_open_account() -> None:
    user = learner()

    assert tasks.erase_closed_account(user.pk) == "open"

    assert rows_of(user.pk)["reviews"] == 4
    assert User.objects.get(pk=user.pk).is_active


def test_the_erasure_task_is_a_no_op_for_a_missing_account_or_a_second_delivery() -> None:
    user = learner()
    services.close_account(user=user)

    assert tasks.erase_closed_account(user.pk) == "erased"
    assert tasks.erase_closed_account(user.pk) == "missing"
    assert tasks.erase_closed_account(10**9) == "missing"


def test_closing_a_closed_account_again_changes_nothing(django_capture_on_commit_callbacks) -> None:
    user = learner()
    assert services.close_account(user=user)
    tombstone = User.objects.get(pk=user.pk).email

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert not services.close_account(user=User.objects.get(pk=user.pk))

    assert callbacks == []
    assert User.objects.get(pk=user.pk).email == tombstone


# --- The sweep ----------------------------------------------------------------------------------------


def test_the_sweep_erases_an_account_whose_erasure_was_lost_and_leaves_the_others(
    monkeypatch: pytest.MonkeyPatch, queue_unserved: None, django_capture_on_commit_callbacks
) -> None:
    now = timezone.now()
    lost = learner("lost@example.com")
    recent = learner("recent@example.com")
    still_open = learner("open@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        services.close_account(user=lost, now=now - ERASE_AFTER - timedelta(minutes=1))
        services.close_account(user=recent, now=now - timedelta(minutes=2))
    assert {task.name() for task in OrmQ.objects.all()} == {
        f"erase-account-{lost.pk}",
        f"erase-account-{recent.pk}",
    }
    OrmQ.objects.all().delete()  # the broker lost both tasks
    monkeypatch.setattr(Conf, "SYNC", True)  # a worker again (inline)

    assert services.erase_lost_closures(now=now) == 1

    assert set(rows_of(lost.pk).values()) == {0}
    assert rows_of(recent.pk)["users"] == 1 and rows_of(recent.pk)["reviews"] == 4  # its task may be late
    assert rows_of(still_open.pk)["reviews"] == 4
    assert services.erase_lost_closures(now=now) == 0


def test_the_sweep_is_scheduled_every_few_minutes() -> None:
    (spec,) = [s for s in IdentityConfig.schedules if s.name == "identity.erase_lost_closures"]

    assert spec.func == "modules.identity.tasks.erase_lost_closures"
    assert spec.cron.split()[0].startswith("*/") and int(spec.cron.split()[0][2:]) * 60 < ERASE_AFTER.seconds


# --- Concurrency --------------------------------------------------------------------------------------


@needs_row_locks
@pytest.mark.django_db(transaction=True)
def test_concurrent_deletes_of_one_account_close_it_once_and_erase_it_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Real threads on PostgreSQL: every request has passed the token and password checks before the
    first commits; the row lock orders them, and the later ones find the account closed. Tasks run
    inline (Q_SYNC), so the erasure runs in the winning request's thread after its commit."""
    user = learner(contents=3, reviews_each=2)
    pairs = [services.issue_tokens(user) for _ in range(4)]

    with caplog.at_level(logging.INFO, logger="modules.identity.services.closure"):
        statuses = run_together(lambda index: delete_me(Client(), pairs[index].access).status_code, 4)

    assert set(statuses) <= {204, 401}, statuses
    assert 204 in statuses
    messages = [record.getMessage() for record in caplog.records]
    assert messages.count("account closed; erasure queued") == 1
    assert messages.count("closed account erased") == 1
    assert set(rows_of(user.pk).values()) == {0}


@needs_row_locks
@pytest.mark.django_db(transaction=True)
def test_a_delete_racing_refreshes_of_the_same_account_never_deadlocks() -> None:
    """A refresh holds its token's row and checks its user at commit; the closure deletes the user's
    tokens. Locking the user for a key update before deleting them deadlocked (PostgreSQL aborted one
    side: a 503 for the learner)."""
    for round_ in range(5):
        user = learner(f"racer{round_}@example.com", contents=1, reviews_each=0)
        pairs = [services.issue_tokens(user) for _ in range(4)]

        def work(index: int, pairs: list = pairs) -> int:
            if index == 0:
                return delete_me(Client(), pairs[0].access).status_code
            return post(Client(), "/api/auth/token/refresh/", {"refresh": pairs[index].refresh}).status_code

        statuses = run_together(work, 4, timeout=60)

        assert statuses[0] == 204, statuses
        assert set(statuses[1:]) <= {200, 401}, statuses
        assert not User.objects.filter(pk=user.pk).exists()


@needs_row_locks
@pytest.mark.django_db(transaction=True)
def test_an_erasure_that_loses_a_race_with_a_write_is_rolled_back_and_the_sweep_finishes_it(
    monkeypatch: pytest.MonkeyPatch, queue_unserved: None
) -> None:
    """A write of the account that commits after the cascade read the user's rows (a review or an import
    in flight at the closure) still references the user at the erasure's commit: the erasure answers
    ``retry``, its final transaction is rolled back whole (the history batches before it stay deleted:
    a closed account is never read again), the account stays closed, and the sweep erases it later."""
    from django.db.models.signals import pre_delete

    user = learner(contents=1, reviews_each=1)
    services.close_account(user=user, now=timezone.now() - ERASE_AFTER - timedelta(minutes=1))
    assert OrmQ.objects.count() == 1  # queued, not run: the test runs the erasure itself
    Conf.SYNC = True  # the sweep's tasks run inline (monkeypatch restores the setting)

    def late_write(sender: type, instance: User, **kwargs: object) -> None:
        # Django's cascade has collected the user's categories; another connection commits one more
        run_together(lambda _: make_category(user=User(pk=instance.pk), name="Late"), 1)

    pre_delete.connect(late_write, sender=User, dispatch_uid="late-write")
    try:
        assert services.erase_closed_account(user_id=user.pk) == "retry"
    finally:
        pre_delete.disconnect(sender=User, dispatch_uid="late-write")
    assert User.objects.filter(pk=user.pk, closed_at__isnull=False, is_active=False).exists()
    assert rows_of(user.pk)["contents"] == 1  # rolled back as a whole
    assert rows_of(user.pk)["categories"] == 2

    assert services.erase_lost_closures() == 1
    assert set(rows_of(user.pk).values()) == {0}


# --- Nothing sends to or counts a closed account --------------------------------------------------------


def test_counts_and_readers_leave_closed_accounts_out() -> None:
    now = timezone.now()
    kept = make_user(email="kept@example.com", timezone="Europe/Paris", tier="PRO")
    closed = make_user(email="closed@example.com", timezone="Asia/Tokyo", tier="PRO")
    services.close_account(user=closed)

    assert services.count_users() == 1
    assert services.count_signups(since=now - timedelta(days=1)) == 1
    assert services.users_by_tier()["PRO"] == 1
    assert services.tier_for_user_ids([kept.pk, closed.pk]) == {kept.pk: "PRO"}
    assert services.timezones_for_user_ids([kept.pk, closed.pk]) == {kept.pk: "Europe/Paris"}
    assert services.account_is_open(user_id=kept.pk) and not services.account_is_open(user_id=closed.pk)


def test_a_closed_account_is_not_reminded(django_capture_on_commit_callbacks) -> None:
    from modules.learning.services import send_review_reminders
    from modules.learning.testing import make_due_content

    now = timezone.now().replace(minute=5)
    hour = now.hour
    kept = make_user(email="kept@example.com", daily_reminder_hour=hour)
    closed = make_user(email="closed@example.com", daily_reminder_hour=hour)
    for user in (kept, closed):
        make_due_content(user=user, overdue_days=1)
    services.close_account(user=closed)

    with django_capture_on_commit_callbacks(execute=False):
        assert send_review_reminders(now=now) == 1

    assert list(EmailLog.objects.values_list("to", flat=True)) == ["kept@example.com"]


def test_a_reminder_round_that_read_the_account_before_its_closure_sends_it_nothing(
    django_capture_on_commit_callbacks,
) -> None:
    """The round reads its recipients first; the account is closed before its turn comes."""
    from modules.learning.services import reminders
    from modules.learning.testing import make_due_content

    now = timezone.now().replace(minute=5)
    ada = make_user(email=EMAIL, daily_reminder_hour=now.hour)
    make_due_content(user=ada, overdue_days=1)
    recipients = services.users_due_for_reminder(utc_now=now)
    services.close_account(user=ada)

    with django_capture_on_commit_callbacks(execute=False):
        assert [reminders._remind(recipient=r, now=now) for r in recipients] == [False]

    assert not EmailLog.objects.exists()


def test_a_closed_accounts_reminders_off_link_is_refused(api_client: Client) -> None:
    user = make_user(email=EMAIL)
    token = services.make_reminders_off_token(user_id=user.pk)
    services.close_account(user=user)

    assert services.reminders_off_subscription(token=token) is None
