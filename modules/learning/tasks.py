"""The learning module's Django-Q2 task functions (thin: call a service; safe to run twice)."""

from __future__ import annotations

from modules.learning import services


def send_review_reminders() -> int:
    """One round of review reminders (hourly); a user is reminded at most once per local day."""
    return services.send_review_reminders()


def prune_idempotency_records() -> int:
    """Daily: forget Idempotency-Key answers older than 24 hours."""
    return services.prune_idempotency_records()


def run_memory_fit(user_id: int, fit_id: int) -> str | None:
    """One fit of a learner's memory models (queued by the API or the daily round)."""
    return services.run_memory_fit(user_id=user_id, fit_id=fit_id)


def enqueue_memory_fits() -> int:
    """Daily: queue a fit for learners with enough new reviews, or a week-old fit."""
    return services.enqueue_memory_fits()


def rebuild_card_memory(user_id: int) -> int:
    """After new weights, an import or a simulation that found much unkept: replay the learner's log
    into every card's kept memory (services/card_memory.py)."""
    return services.rebuild_card_memory(user_id=user_id)
