"""The functions other modules call (analytics, ops, reminders, tiers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from modules.common.errors import Forbidden
from modules.identity import services
from modules.identity.models import EmailLog, EmailStatus, Subscription, SubscriptionChange, User
from modules.identity.testing import make_admin, make_user
from modules.identity.tiers import Tier

pytestmark = pytest.mark.django_db


def test_count_users_counts_active_accounts() -> None:
    make_user()
    make_user()
    make_user(is_active=False)

    assert services.count_users() == 2


def test_count_signups_counts_accounts_joined_since() -> None:
    now = timezone.now()
    make_user(date_joined=now - timedelta(days=8))
    make_user(date_joined=now - timedelta(days=2))
    make_user(date_joined=now)

    assert services.count_signups(since=now - timedelta(days=7)) == 2


def test_count_failed_emails_counts_latest_attempts_that_failed_since() -> None:
    now = timezone.now()
    recent, old = now - timedelta(minutes=5), now - timedelta(hours=2)
    EmailLog.objects.create(
        to="a@x.io", template="t", subject="s", status=EmailStatus.FAILED, attempts=5, last_attempt_at=recent
    )
    EmailLog.objects.create(
        to="b@x.io", template="t", subject="s", status=EmailStatus.QUEUED, attempts=1, last_attempt_at=recent
    )
    EmailLog.objects.create(
        to="c@x.io", template="t", subject="s", status=EmailStatus.FAILED, attempts=5, last_attempt_at=old
    )
    EmailLog.objects.create(
        to="d@x.io", template="t", subject="s", status=EmailStatus.SENT, attempts=2, last_attempt_at=recent
    )
    EmailLog.objects.create(to="e@x.io", template="t", subject="s", status=EmailStatus.QUEUED, attempts=0)

    assert services.count_failed_emails(since=now - timedelta(hours=1)) == 2


def test_users_by_tier_counts_effective_tiers_with_every_tier_present() -> None:
    make_user(tier=Tier.PRO)
    make_user(tier=Tier.PRO)
    expired = make_user(tier=Tier.PRO)
    Subscription.objects.filter(user=expired).update(expires_at=timezone.now() - timedelta(days=1))
    deactivated = make_user(tier=Tier.PRO)
    Subscription.objects.filter(user=deactivated).update(is_active=False)
    make_user(tier=Tier.FREE)
    User.objects.create_user(email="nosub@example.com", password="x")
    make_user(tier=Tier.BASIC, is_active=False)  # inactive accounts are not counted

    assert services.users_by_tier() == {"FREE": 4, "BASIC": 0, "PRO": 2}


def test_users_by_tier_is_one_query(django_assert_num_queries) -> None:
    for tier in Tier:
        make_user(tier=tier)

    with django_assert_num_queries(1):
        services.users_by_tier()


def test_tier_for_user_ids_answers_effective_tiers_of_known_ids(django_assert_num_queries) -> None:
    pro, basic = make_user(tier=Tier.PRO), make_user(tier=Tier.BASIC)
    expired = make_user(tier=Tier.PRO)
    Subscription.objects.filter(user=expired).update(expires_at=timezone.now() - timedelta(seconds=1))

    with django_assert_num_queries(1):
        tiers = services.tier_for_user_ids([pro.pk, basic.pk, expired.pk, 987654])

    assert tiers == {pro.pk: "PRO", basic.pk: "BASIC", expired.pk: "FREE"}
    assert services.tier_for_user_ids([]) == {}


def test_tier_changes_lists_changes_since_oldest_first() -> None:
    user = make_user(tier=Tier.FREE)
    start = timezone.now()
    services.change_tier(user=user, tier=Tier.BASIC, source="admin")
    services.change_tier(user=user, tier=Tier.PRO, source="command")

    changes = services.tier_changes(since=start)

    assert [(c.user_id, c.from_tier, c.to_tier, c.source) for c in changes] == [
        (user.pk, "FREE", "BASIC", "admin"),
        (user.pk, "BASIC", "PRO", "command"),
    ]
    assert all(isinstance(c, services.TierChange) for c in changes)


def test_tier_change_counts_groups_changes_since_by_from_and_to(django_assert_num_queries) -> None:
    start = timezone.now()
    ada, bob = make_user(tier=Tier.FREE), make_user(tier=Tier.FREE)
    services.change_tier(user=ada, tier=Tier.PRO, source="admin")
    services.change_tier(user=bob, tier=Tier.PRO, source="admin")
    services.change_tier(user=bob, tier=Tier.BASIC, source="admin")
    SubscriptionChange.objects.create(
        user=ada, from_tier="BASIC", to_tier="FREE", changed_at=start - timedelta(days=40)
    )

    with django_assert_num_queries(1):
        counts = services.tier_change_counts(since=start)

    assert counts == {("", "FREE"): 2, ("FREE", "PRO"): 2, ("PRO", "BASIC"): 1}


def test_timezones_for_user_ids_answers_each_known_users_zone(django_assert_num_queries) -> None:
    paris, utc = make_user(timezone="Europe/Paris"), make_user()

    with django_assert_num_queries(1):
        zones = services.timezones_for_user_ids([paris.pk, utc.pk, 987654])

    assert zones == {paris.pk: "Europe/Paris", utc.pk: "UTC"}
    assert services.timezones_for_user_ids([]) == {}


def test_change_tier_records_the_effective_previous_tier_and_skips_no_ops() -> None:
    user = make_user(tier=Tier.PRO)
    Subscription.objects.filter(user=user).update(expires_at=timezone.now() - timedelta(days=1))
    user = User.objects.select_related("subscription").get(pk=user.pk)

    change = services.change_tier(user=user, tier=Tier.PRO, source="admin")

    assert (change.from_tier, change.to_tier) == ("FREE", "PRO")
    assert services.effective_tier(user) is Tier.PRO
    assert services.change_tier(user=user, tier=Tier.PRO, source="admin") is None


def test_change_tier_creates_a_missing_subscription_as_the_accounts_first_tier() -> None:
    user = User.objects.create_user(email="root@example.com", password="x")

    change = services.change_tier(user=user, tier=Tier.BASIC, source="admin")

    assert Subscription.objects.get(user=user).tier == "BASIC"
    assert (change.from_tier, change.to_tier) == ("", "BASIC")


def test_change_subscription_records_a_renewal_on_the_same_tier() -> None:
    user = make_user(tier=Tier.PRO)
    until = timezone.now() + timedelta(days=30)

    change = services.change_subscription(
        user=user, tier=Tier.PRO, expires_at=until, is_active=True, source="admin"
    )

    assert (change.from_tier, change.to_tier) == ("PRO", "PRO")
    assert Subscription.objects.get(user=user).expires_at == until


def test_change_subscription_records_a_deactivation_as_a_move_to_free() -> None:
    user = make_user(tier=Tier.PRO)

    change = services.change_subscription(
        user=user, tier=Tier.PRO, expires_at=None, is_active=False, source="admin"
    )

    assert (change.from_tier, change.to_tier) == ("PRO", "FREE")
    assert services.effective_tier(user) is Tier.FREE
    again = services.change_subscription(
        user=user, tier=Tier.PRO, expires_at=None, is_active=False, source="admin"
    )
    assert again is None
    assert SubscriptionChange.objects.filter(user=user, source="admin").count() == 1


def test_change_tier_with_an_expiry_ends_on_time() -> None:
    user = make_user(tier=Tier.FREE)
    until = timezone.now() + timedelta(days=30)

    services.change_tier(user=user, tier=Tier.PRO, source="admin", expires_at=until)

    assert services.effective_tier(user) is Tier.PRO
    assert services.effective_tier(user, at=until + timedelta(seconds=1)) is Tier.FREE


def test_require_admin_lets_staff_through_and_refuses_others() -> None:
    services.require_admin(make_admin())

    with pytest.raises(Forbidden):
        services.require_admin(make_user())
    with pytest.raises(Forbidden):
        services.require_admin(make_admin(is_active=False))


# --- users_due_for_reminder -----------------------------------------------------------------------

AT = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # 08:00 UTC: 09:00 in Paris, 13:30 in Kolkata, 03:00 in New York


def test_users_due_for_reminder_picks_users_whose_local_hour_is_their_reminder_hour(
    django_assert_num_queries,
) -> None:
    paris = make_user(timezone="Europe/Paris", daily_reminder_hour=9, first_name="Amélie")
    kolkata = make_user(timezone="Asia/Kolkata", daily_reminder_hour=13)
    utc = make_user(timezone="UTC", daily_reminder_hour=8)
    make_user(timezone="America/New_York", daily_reminder_hour=9)  # 03:00 there
    make_user(timezone="Europe/Paris", daily_reminder_hour=8)

    with django_assert_num_queries(2):
        due = services.users_due_for_reminder(utc_now=AT)

    assert {r.id for r in due} == {paris.pk, kolkata.pk, utc.pk}
    amelie = next(r for r in due if r.id == paris.pk)
    assert amelie == services.ReminderRecipient(
        id=paris.pk, email=paris.email, timezone="Europe/Paris", first_name="Amélie"
    )


def test_users_due_for_reminder_leaves_out_muted_unverified_and_inactive_users() -> None:
    make_user(timezone="UTC", daily_reminder_hour=8, notifications_enabled=False)
    make_user(timezone="UTC", daily_reminder_hour=8, verified=False)
    make_user(timezone="UTC", daily_reminder_hour=8, is_active=False)

    assert services.users_due_for_reminder(utc_now=AT) == []


def test_users_due_for_reminder_follows_daylight_saving_time() -> None:
    user = make_user(timezone="Europe/Paris", daily_reminder_hour=9)
    summer = datetime(2026, 7, 1, 7, 0, tzinfo=UTC)  # CEST: 09:00 in Paris

    assert [r.id for r in services.users_due_for_reminder(utc_now=summer)] == [user.pk]
    assert services.users_due_for_reminder(utc_now=summer.replace(hour=8)) == []


# --- set_tier -------------------------------------------------------------------------------------


def test_set_tier_command_changes_the_tier_and_records_it() -> None:
    user = make_user(email="ada@example.com", tier=Tier.FREE)
    out = StringIO()

    call_command("set_tier", "ADA@example.com", "pro", stdout=out)

    assert "ada@example.com is now on PRO" in out.getvalue()
    assert Subscription.objects.get(user=user).tier == "PRO"
    change = SubscriptionChange.objects.filter(user=user).order_by("-changed_at", "-pk").first()
    assert (change.from_tier, change.to_tier, change.source) == ("FREE", "PRO", "command")


def test_set_tier_command_with_days_sets_an_expiry() -> None:
    user = make_user(email="ada@example.com", tier=Tier.FREE)
    out = StringIO()

    call_command("set_tier", "ada@example.com", "BASIC", "--days", "30", stdout=out)

    sub = Subscription.objects.get(user=user)
    assert timedelta(days=29) < sub.expires_at - timezone.now() <= timedelta(days=30)
    assert "until" in out.getvalue()


def test_set_tier_command_refuses_unknown_users_and_tiers() -> None:
    make_user(email="ada@example.com")

    with pytest.raises(CommandError, match="No user"):
        call_command("set_tier", "nobody@example.com", "PRO")
    with pytest.raises(CommandError):
        call_command("set_tier", "ada@example.com", "GOLD")
    with pytest.raises(CommandError):
        call_command("set_tier", "ada@example.com", "PRO", "--days", "0")


@pytest.mark.parametrize("days", ["99999999", "36501", "-1"])
def test_set_tier_command_refuses_days_past_100_years_without_a_traceback(days: str) -> None:
    user = make_user(email="ada@example.com", tier=Tier.FREE)

    with pytest.raises(CommandError, match="between 1 and 36500"):
        call_command("set_tier", "ada@example.com", "PRO", "--days", days)

    assert Subscription.objects.get(user=user).tier == "FREE"  # nothing changed


def test_set_tier_command_accepts_100_years() -> None:
    user = make_user(email="ada@example.com", tier=Tier.FREE)

    call_command("set_tier", "ada@example.com", "PRO", "--days", "36500", stdout=StringIO())

    assert Subscription.objects.get(user=user).expires_at.year >= timezone.now().year + 99


def test_ensure_demo_user_creates_a_verified_pro_account_once() -> None:
    first = services.ensure_demo_user(email="demo@resee.local")
    second = services.ensure_demo_user(email="demo@resee.local")

    assert first.created and first.password
    assert not second.created and second.password is None
    assert first.user.check_password(first.password)
    assert services.effective_tier(first.user) is Tier.PRO
