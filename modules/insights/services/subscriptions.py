"""Subscription analytics for admins: users per tier, who is active, what they review and spend on AI,
and how tiers changed. Only admins reach it (its router is mounted staff-only)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from modules.ai import services as ai
from modules.common.db import replica_reads
from modules.identity import services as identity
from modules.learning import services as learning

SUBSCRIPTION_WINDOW_DAYS = 30
SUBSCRIPTION_ACTIVE_DAYS = 7


@dataclass(frozen=True)
class TierStats:
    tier: str
    users: int
    active_7d: int
    active_30d: int
    reviews_30d: int
    ai_questions_30d: int
    ai_cost_usd_30d: float


@dataclass(frozen=True)
class SubscriptionTotals:
    users: int
    active_7d: int
    active_30d: int
    reviews_30d: int
    ai_questions_30d: int
    ai_cost_usd_30d: float


@dataclass(frozen=True)
class TierTransition:
    from_tier: str | None  # None: the account's first tier
    to_tier: str
    count: int


@dataclass(frozen=True)
class TierChanges:
    total: int  # changes of existing accounts (a renewal on the same tier is one, neither up nor down)
    new_accounts: int
    upgrades: int
    downgrades: int
    transitions: tuple[TierTransition, ...]


@dataclass(frozen=True)
class SubscriptionAnalytics:
    generated_at: datetime
    window_days: int
    tiers: tuple[TierStats, ...]  # in the order of the tiers, lowest first
    totals: SubscriptionTotals
    tier_changes_30d: TierChanges


def _tier_rank(tier: str) -> int:
    return list(identity.Tier).index(identity.Tier(tier))


@replica_reads()
def subscription_analytics(*, now: datetime | None = None) -> SubscriptionAnalytics:
    """Users per tier, who is active, what they review and spend on AI, and how tiers changed.

    Activity is reviewing: a user is active in a window when they completed at least one review in
    it (rolling 7 and 30 days). Reviews and AI questions and cost are attributed to the tier the user
    is on now. Six queries; the per-tier sums run over the users active in the window (one row each),
    never over reviews.
    """
    now = now or timezone.now()
    since = now - timedelta(days=SUBSCRIPTION_WINDOW_DAYS)
    users = identity.users_by_tier()
    activity = learning.review_activity_by_user(
        since=since, recent_since=now - timedelta(days=SUBSCRIPTION_ACTIVE_DAYS)
    )
    ai_usage = ai.questions_and_cost_by_user(since=since)
    tier_of = identity.tier_for_user_ids(activity.keys() | ai_usage.keys())
    active_7d: Counter[str] = Counter()
    active_30d: Counter[str] = Counter()
    reviews_30d: Counter[str] = Counter()
    questions_30d: Counter[str] = Counter()
    cost_30d: defaultdict[str, float] = defaultdict(float)
    for user_id, (reviews, recent) in activity.items():
        tier = tier_of.get(user_id, "")
        if tier not in users:  # deleted since
            continue
        active_30d[tier] += 1
        active_7d[tier] += 1 if recent else 0
        reviews_30d[tier] += reviews
    for user_id, (questions, cost) in ai_usage.items():
        tier = tier_of.get(user_id, "")
        if tier not in users:
            continue
        questions_30d[tier] += questions
        cost_30d[tier] += cost
    tiers = tuple(
        TierStats(
            tier=tier,
            users=count,
            active_7d=active_7d[tier],
            active_30d=active_30d[tier],
            reviews_30d=reviews_30d[tier],
            ai_questions_30d=questions_30d[tier],
            ai_cost_usd_30d=round(cost_30d[tier], 6),
        )
        for tier, count in sorted(users.items(), key=lambda item: _tier_rank(item[0]))
    )
    totals = SubscriptionTotals(
        users=sum(row.users for row in tiers),
        active_7d=sum(row.active_7d for row in tiers),
        active_30d=sum(row.active_30d for row in tiers),
        reviews_30d=sum(row.reviews_30d for row in tiers),
        ai_questions_30d=sum(row.ai_questions_30d for row in tiers),
        ai_cost_usd_30d=round(sum(row.ai_cost_usd_30d for row in tiers), 6),
    )
    return SubscriptionAnalytics(
        generated_at=now,
        window_days=SUBSCRIPTION_WINDOW_DAYS,
        tiers=tiers,
        totals=totals,
        tier_changes_30d=_tier_changes(identity.tier_change_counts(since=since)),
    )


def _tier_changes(counts: dict[tuple[str, str], int]) -> TierChanges:
    new_accounts = upgrades = downgrades = 0
    transitions = []
    for (from_tier, to_tier), count in sorted(
        counts.items(), key=lambda item: (item[0][0] != "", item[0][0], item[0][1])
    ):
        transitions.append(TierTransition(from_tier=from_tier or None, to_tier=to_tier, count=count))
        if not from_tier:
            new_accounts += count
        elif _tier_rank(to_tier) > _tier_rank(from_tier):
            upgrades += count
        elif _tier_rank(to_tier) < _tier_rank(from_tier):
            downgrades += count
    return TierChanges(
        total=sum(count for (from_tier, _), count in counts.items() if from_tier),
        new_accounts=new_accounts,
        upgrades=upgrades,
        downgrades=downgrades,
        transitions=tuple(transitions),
    )
