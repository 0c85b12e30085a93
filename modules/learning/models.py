"""The learning module's tables. Nobody outside the module imports them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F
from django.db.models.functions import Lower
from django.utils import timezone

from modules.common.enums import SCHEDULER_LABELS, SchedulerKind, model_choices
from modules.learning.scheduling import ReviewResult

TITLE_MAX_LENGTH = 200
BODY_MAX_LENGTH = 50_000
CATEGORY_NAME_MAX_LENGTH = 100
CATEGORY_DESCRIPTION_MAX_LENGTH = 1_000
EXTERNAL_SOURCE_MAX_LENGTH = 20
EXTERNAL_ID_MAX_LENGTH = 200


SCHEDULER_CHOICES = model_choices(SchedulerKind, SCHEDULER_LABELS)


class Category(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="learning_categories"
    )
    name = models.CharField(max_length=CATEGORY_NAME_MAX_LENGTH)
    slug = models.SlugField(max_length=120, allow_unicode=True)
    description = models.TextField(blank=True, max_length=CATEGORY_DESCRIPTION_MAX_LENGTH)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "categories"
        constraints = [
            models.UniqueConstraint(F("user"), Lower("name"), name="learning_category_name_ci_unique"),
        ]
        indexes = [models.Index(fields=["user", "slug"], name="learning_category_slug_idx")]

    def __str__(self) -> str:
        return self.name


class Content(models.Model):
    """One thing a learner saved. Search on PostgreSQL is backed by trigram indexes (migration 0002)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="learning_contents"
    )
    category = models.ForeignKey(
        Category, on_delete=models.SET_NULL, null=True, blank=True, related_name="contents"
    )
    title = models.CharField(max_length=TITLE_MAX_LENGTH)
    body = models.TextField(max_length=BODY_MAX_LENGTH)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # Where an imported content came from ("anki", "csv", "resee") and its key there (an Anki note's
    # guid, ...): a second import of the same file finds it instead of copying it (portability).
    external_source = models.CharField(max_length=EXTERNAL_SOURCE_MAX_LENGTH, null=True, blank=True)
    external_id = models.CharField(max_length=EXTERNAL_ID_MAX_LENGTH, null=True, blank=True)

    class Meta:
        verbose_name_plural = "content"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "external_source", "external_id"],
                condition=models.Q(external_id__isnull=False),
                name="learning_content_external_unique",
            ),
        ]
        indexes = [
            # the list's default ordering and its category filter; ordering by title
            models.Index(fields=["user", "-created_at", "-id"], name="learning_content_user_new_idx"),
            models.Index(fields=["user", "category", "-created_at"], name="learning_content_cat_idx"),
            models.Index(fields=["user", "title"], name="learning_content_title_idx"),
        ]

    def __str__(self) -> str:
        return self.title


class ReviewSchedule(models.Model):
    """The review state of one content: its ladder stage, when it is due, FSRS's memory state."""

    content = models.OneToOneField(Content, on_delete=models.CASCADE, related_name="schedule")
    # Denormalised from content.user so today's queue is one index range scan (user, next_review_date).
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    stage = models.PositiveSmallIntegerField(default=0)
    next_review_date = models.DateTimeField()
    last_reviewed_at = models.DateTimeField(null=True, blank=True)
    review_count = models.PositiveIntegerField(default=0)
    interval_days = models.PositiveIntegerField(default=1)
    # The scheduler that produced the state below; FSRS memory is rebuilt when they differ.
    scheduler = models.CharField(max_length=10, choices=SCHEDULER_CHOICES, default=SchedulerKind.LADDER)
    stability = models.FloatField(null=True, blank=True)
    difficulty = models.FloatField(null=True, blank=True)
    fsrs_state = models.PositiveSmallIntegerField(null=True, blank=True)
    fsrs_step = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "next_review_date"], name="learning_schedule_queue_idx"),
            models.Index(fields=["next_review_date"], name="learning_schedule_due_idx"),
        ]

    def __str__(self) -> str:
        return f"content {self.content_id}: stage {self.stage}, due {self.next_review_date:%Y-%m-%d %H:%M}"


class ReviewHistory(models.Model):
    """Append-only: one row per completed review. No route edits or deletes it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    content = models.ForeignKey(Content, on_delete=models.CASCADE, related_name="history")
    result = models.CharField(max_length=10, choices=model_choices(ReviewResult))
    reviewed_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now)
    stage_before = models.PositiveSmallIntegerField()
    stage_after = models.PositiveSmallIntegerField()
    interval_days = models.PositiveIntegerField()
    time_spent_seconds = models.PositiveIntegerField(null=True, blank=True)
    early = models.BooleanField(default=False)
    retrievability_before = models.FloatField(null=True, blank=True)
    scheduler = models.CharField(max_length=10, choices=SCHEDULER_CHOICES, default=SchedulerKind.LADDER)
    # An imported review's origin and key there (an Anki revlog entry, ...); see Content.
    external_source = models.CharField(max_length=EXTERNAL_SOURCE_MAX_LENGTH, null=True, blank=True)
    external_id = models.CharField(max_length=EXTERNAL_ID_MAX_LENGTH, null=True, blank=True)

    class Meta:
        verbose_name_plural = "review history"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "external_source", "external_id"],
                condition=models.Q(external_id__isnull=False),
                name="learning_history_external_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "reviewed_at"], name="learning_history_user_idx"),
            models.Index(fields=["content", "reviewed_at"], name="learning_history_content_idx"),
            models.Index(fields=["reviewed_at"], name="learning_history_time_idx"),
        ]

    def __str__(self) -> str:
        return f"content {self.content_id}: {self.result} at {self.reviewed_at:%Y-%m-%d %H:%M}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("Review history is append-only.")
        super().save(*args, **kwargs)


class IdempotencyRecord(models.Model):
    """The first answer to a request made with an ``Idempotency-Key`` (kept at least 24 hours)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    response = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="learning_idempotency_unique")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"


class ReminderLog(models.Model):
    """One review reminder per user and local day, at most."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    local_date = models.DateField()
    due_count = models.PositiveIntegerField()
    sent_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "local_date"], name="learning_reminder_once_a_day")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.local_date}"
