"""The insights module's Django-Q2 task functions (thin: call a service; safe to run twice)."""

from __future__ import annotations

from modules.insights import services
from modules.learning import services as learning


def snapshot_learning_metrics() -> int:
    """Hourly: snapshot every active user's complete local days (an upsert; idempotent)."""
    return services.snapshot_learning_metrics()


def build_review_tallies() -> int:
    """Hourly: build the review tallies of active learners who lack them (idempotent)."""
    return learning.build_review_tallies()


def build_learner_tallies(user_id: int) -> None:
    """Queued when a learner's analytics found their review tallies not ready (idempotent)."""
    learning.build_review_tallies_of(user_id=user_id)
