"""The insights module's tables. Nobody outside the module imports them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone as dj_timezone


class LearningMetrics(models.Model):
    """One user's reviews on one of their local calendar days, as the daily snapshot job counted them.

    ``is_final`` marks a snapshot taken after the day could no longer change (a review may be
    recorded up to ``learning.services.MAX_REVIEWED_AT_AGE`` after it happened, for offline
    clients); only final snapshots stand in for a live count on the dashboard. ``timezone`` is the
    zone the day was cut in: a user who moves to another zone gets their days recounted.
    """

    # no index of its own: the unique constraint (user, date) below leads with it (one less to write)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    date = models.DateField(help_text="The user's local calendar day.")
    timezone = models.CharField(max_length=64)
    reviews = models.PositiveIntegerField(default=0)
    remembered = models.PositiveIntegerField(default=0)
    partial = models.PositiveIntegerField(default=0)
    forgot = models.PositiveIntegerField(default=0)
    success_rate = models.FloatField(
        null=True, blank=True, help_text="(remembered + partial / 2) / reviews; empty without reviews."
    )
    time_spent_seconds = models.PositiveBigIntegerField(default=0)
    is_final = models.BooleanField(default=False)
    computed_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        verbose_name = "learning metrics snapshot"
        verbose_name_plural = "learning metrics snapshots"
        constraints = [
            # Also the index of the dashboard's read: one user's days in a date range.
            models.UniqueConstraint(fields=["user", "date"], name="insights_metrics_user_date_unique"),
            models.CheckConstraint(
                condition=models.Q(reviews=models.F("remembered") + models.F("partial") + models.F("forgot")),
                name="insights_metrics_reviews_add_up",
            ),
        ]
        indexes = [models.Index(fields=["date"], name="insights_metrics_date_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.date}: {self.reviews} reviews"
