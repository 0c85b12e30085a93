"""The tier table: the single source of every tier's numbers (contract, Tiers)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Tier(StrEnum):
    FREE = "FREE"
    BASIC = "BASIC"
    PRO = "PRO"


@dataclass(frozen=True)
class TierSpec:
    tier: Tier
    api_requests_per_hour: int
    ai_questions_daily: int
    review_intervals: tuple[int, ...]

    @property
    def longest_interval(self) -> int:
        return self.review_intervals[-1]


TIER_SPECS: dict[Tier, TierSpec] = {
    Tier.FREE: TierSpec(Tier.FREE, api_requests_per_hour=500, ai_questions_daily=0, review_intervals=(1, 3)),
    Tier.BASIC: TierSpec(
        Tier.BASIC,
        api_requests_per_hour=1000,
        ai_questions_daily=30,
        review_intervals=(1, 3, 7, 14, 30, 60, 90),
    ),
    Tier.PRO: TierSpec(
        Tier.PRO,
        api_requests_per_hour=2000,
        ai_questions_daily=200,
        review_intervals=(1, 3, 7, 14, 30, 60, 120, 180),
    ),
}


def spec_for_tier(tier: str) -> TierSpec:
    return TIER_SPECS[Tier(tier)]
