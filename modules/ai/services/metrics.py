"""AI usage and cost for ops and insights."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from modules.ai import selectors


@dataclass(frozen=True)
class AIUsageTotals:
    requests: int
    errors: int
    cost_usd: float
    tokens: int
    questions: int


def usage_totals(*, since: datetime) -> AIUsageTotals:
    """Provider calls, failures, spend and tokens from the request log, questions stored, since ``since``."""
    totals = selectors.log_totals(since=since)
    return AIUsageTotals(
        requests=totals["requests"] or 0,
        errors=totals["errors"] or 0,
        cost_usd=float(totals["cost"] or 0),
        tokens=int((totals["tokens_in"] or 0) + (totals["tokens_out"] or 0)),
        questions=selectors.questions_since(since=since),
    )


def cost_since(*, since: datetime) -> float:
    """What the AI provider calls cost (US dollars) since ``since``, failed calls included."""
    return float(selectors.cost_since(since=since))


def questions_and_cost_by_user(*, since: datetime) -> dict[int, tuple[int, float]]:
    """{user_id: (questions generated, provider cost in USD)} since ``since``."""
    questions = selectors.questions_by_user(since=since)
    costs = selectors.cost_by_user(since=since)
    return {
        user_id: (questions.get(user_id, 0), float(costs.get(user_id, Decimal(0))))
        for user_id in questions.keys() | costs.keys()
    }
