"""Read queries of the identity module (QuerySets stay inside the module; the facade returns DTOs)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Case, CharField, Count, Q, QuerySet, Value, When

from modules.common import compiled
from modules.common.time import zone
from modules.identity.models import EmailLog, EmailStatus, Subscription, SubscriptionChange, User
from modules.identity.tiers import Tier

_USER_FIELDS = tuple(field.attname for field in User._meta.concrete_fields)
_SUBSCRIPTION_FIELDS = tuple(field.attname for field in Subscription._meta.concrete_fields)


def _active_user_columns(*, user_id: int) -> QuerySet:
    return User.objects.filter(pk=user_id, is_active=True).values_list(
        *_USER_FIELDS, *(f"subscription__{name}" for name in _SUBSCRIPTION_FIELDS)
    )


def active_user_with_subscription(*, user_id: int) -> User | None:
    """The active user with its subscription loaded (as ``select_related`` would), in one query.

    Every authenticated request runs this, so it goes through the compiled-query shortcut (see
    modules/common/compiled.py): the same SQL as the ORM's, without compiling it each time, the two
    model instances built from the row with ``from_db`` and tied together by assigning the relation.
    With the shortcut off (``COMPILED_QUERIES=0``) it is the ORM's own ``select_related`` query.
    """
    if not compiled.enabled():
        return User.objects.select_related("subscription").filter(pk=user_id, is_active=True).first()
    rows = compiled.fetch_rows(_active_user_columns, shape="identity.active_user", args={"user_id": user_id})
    if not rows:
        return None
    row = rows[0]
    split = len(_USER_FIELDS)
    user = User.from_db(DEFAULT_DB_ALIAS, _USER_FIELDS, row[:split])
    subscription_values = row[split:]
    if subscription_values[0] is not None:
        # the reverse one-to-one's own assignment caches both sides, as select_related does
        user.subscription = Subscription.from_db(DEFAULT_DB_ALIAS, _SUBSCRIPTION_FIELDS, subscription_values)
    return user


def active_user_by_email(email: str) -> User | None:
    return User.objects.select_related("subscription").filter(email=email, is_active=True).first()


def _effective_tier_expression(*, now: datetime, prefix: str = "subscription__") -> Case:
    """SQL for services.effective_tier: no, inactive or expired subscription -> FREE."""
    return Case(
        When(**{f"{prefix}isnull": True}, then=Value(Tier.FREE.value)),
        When(**{f"{prefix}is_active": False}, then=Value(Tier.FREE.value)),
        When(**{f"{prefix}expires_at__lte": now}, then=Value(Tier.FREE.value)),
        default=f"{prefix}tier",
        output_field=CharField(),
    )


def count_users() -> int:
    return User.objects.filter(is_active=True).count()


def count_signups(*, since: datetime) -> int:
    return User.objects.filter(date_joined__gte=since, closed_at__isnull=True).count()


def count_failed_emails(*, since: datetime) -> int:
    """Emails whose latest attempt failed since ``since``: given up on, or waiting for a retry."""
    return (
        EmailLog.objects.filter(last_attempt_at__gte=since)
        .filter(Q(status=EmailStatus.FAILED) | Q(status=EmailStatus.QUEUED, attempts__gt=0))
        .count()
    )


def users_by_tier(*, now: datetime) -> dict[str, int]:
    counts = {tier.value: 0 for tier in Tier}
    rows = (
        User.objects.filter(is_active=True)
        .annotate(effective=_effective_tier_expression(now=now))
        .values("effective")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        counts[row["effective"]] = counts.get(row["effective"], 0) + row["n"]
    return counts


def tier_for_user_ids(ids: Iterable[int], *, now: datetime) -> dict[int, str]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = (
        User.objects.filter(pk__in=wanted, closed_at__isnull=True)
        .annotate(effective=_effective_tier_expression(now=now))
        .values_list("pk", "effective")
    )
    return dict(rows)


def tier_changes(*, since: datetime) -> QuerySet[SubscriptionChange]:
    return SubscriptionChange.objects.filter(changed_at__gte=since).order_by("changed_at", "pk")


def tier_change_counts(*, since: datetime) -> dict[tuple[str, str], int]:
    rows = (
        SubscriptionChange.objects.filter(changed_at__gte=since)
        .values("from_tier", "to_tier")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {(row["from_tier"], row["to_tier"]): row["n"] for row in rows}


def timezones_for_user_ids(ids: Iterable[int]) -> dict[int, str]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    return dict(User.objects.filter(pk__in=wanted, closed_at__isnull=True).values_list("pk", "timezone"))


def reminder_candidates(*, utc_now: datetime) -> QuerySet[User]:
    """Users who want a reminder now: notifications on, verified, active, and their local hour at
    ``utc_now`` is their ``daily_reminder_hour``. Two queries whatever the number of users: the
    distinct time zones in use, then the users, filtered on (hour, zones with that local hour)."""
    wanting = User.objects.filter(notifications_enabled=True, is_active=True, is_email_verified=True)
    zones_by_hour: dict[int, list[str]] = defaultdict(list)
    for name in wanting.order_by().values_list("timezone", flat=True).distinct():
        zones_by_hour[utc_now.astimezone(zone(name)).hour].append(name)
    if not zones_by_hour:
        return wanting.none()
    matches = Q()
    for hour, names in zones_by_hour.items():
        matches |= Q(daily_reminder_hour=hour, timezone__in=names)
    return wanting.filter(matches).order_by("pk")
