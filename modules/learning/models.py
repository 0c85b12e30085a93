"""The learning module's tables. Nobody outside the module imports them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Value
from django.db.models.functions import Lower, Mod
from django.utils import timezone

from modules.common.enums import SCHEDULER_LABELS, SchedulerKind, model_choices
from modules.common.idempotency import IdempotentRequest
from modules.learning.scheduling import ReviewResult

TITLE_MAX_LENGTH = 200
BODY_MAX_LENGTH = 50_000
CATEGORY_NAME_MAX_LENGTH = 100
CATEGORY_DESCRIPTION_MAX_LENGTH = 1_000
EXTERNAL_SOURCE_MAX_LENGTH = 20
EXTERNAL_ID_MAX_LENGTH = 200


SCHEDULER_CHOICES = model_choices(SchedulerKind, SCHEDULER_LABELS)


class Category(models.Model):
    # no index of its own: the slug index (user, slug) leads with it
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="learning_categories", db_index=False
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


# Knuth's multiplicative hash of a content's id: an order of a learner's contents that does not depend
# on when or in which order they were made (``learning_content_sample_idx``, ``selectors.card_memories``)
CONTENT_SAMPLE_ORDER = Mod(F("id") * Value(2654435761), Value(4294967296))


class Content(models.Model):
    """One thing a learner saved. Search on PostgreSQL is backed by trigram indexes (migration 0002)."""

    # no index of its own: the indexes below lead with it
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="learning_contents", db_index=False
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
            # a fixed pseudo-random order of a learner's contents: the retention simulator's sample of
            # a large deck is the first few hundred entries, whatever the deck's size
            models.Index(F("user"), CONTENT_SAMPLE_ORDER, name="learning_content_sample_idx"),
        ]

    def __str__(self) -> str:
        return self.title


class ReviewSchedule(models.Model):
    """The review state of one content: its ladder stage, when it is due, FSRS's memory state."""

    content = models.OneToOneField(Content, on_delete=models.CASCADE, related_name="schedule")
    # Denormalised from content.user so today's queue is one index range scan (user, next_review_date).
    # no index of its own: the queue index (user, next_review_date) leads with it (one less to write)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
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
    # The card's FSRS-6 memory under the learner's weights, whatever schedules it, after every review so
    # far (services/card_memory.py): what the retention simulator starts from. ``memory_day`` is the
    # learner's day number of the last review, ``memory_basis`` the weights and zone it was computed
    # under; NULL (or another basis) with reviews: not kept, replayed from the history when needed.
    memory_stability = models.FloatField(null=True, blank=True)
    memory_difficulty = models.FloatField(null=True, blank=True)
    memory_day = models.IntegerField(null=True, blank=True)
    memory_basis = models.IntegerField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "next_review_date"], name="learning_schedule_queue_idx"),
            models.Index(fields=["next_review_date"], name="learning_schedule_due_idx"),
        ]

    def __str__(self) -> str:
        return f"content {self.content_id}: stage {self.stage}, due {self.next_review_date:%Y-%m-%d %H:%M}"


class ReviewHistory(models.Model):
    """Append-only: one row per completed review. No route edits or deletes it."""

    # no indexes of their own: (user, reviewed_at) and (content, reviewed_at) below lead with them
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    content = models.ForeignKey(Content, on_delete=models.CASCADE, related_name="history", db_index=False)
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
    # Days since the card's previous review (or its creation), as the review found them: the retention
    # analytics' bucket, written with the row (services/tallies.py fills rows written without it).
    elapsed_days = models.FloatField(null=True, blank=True)

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


class ReviewTallyState(models.Model):
    """The user's review tallies are complete, with their days cut in ``timezone_name`` (services/tallies.py).

    No row (the tallies were never built), an empty zone (a build under way) or another zone than the
    user's (they moved): analytics count from the history itself until the next build."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    timezone_name = models.CharField(max_length=64, blank=True)
    built_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"tallies of user {self.user_id} in {self.timezone_name or '(building)'}"


class ReviewTally(models.Model):
    """One user's reviews of one local day, category (0: none) and elapsed-time bucket, counted.

    Kept by every write of the history, in its transaction (services/tallies.py); the dashboard and the
    retention view read these instead of walking the history."""

    # no index of its own: the unique constraint below leads with it (one less to write)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    day = models.DateField()
    category_id = models.PositiveBigIntegerField(default=0)  # not a foreign key: 0 stands for none
    bucket = models.PositiveSmallIntegerField()
    remembered = models.IntegerField(default=0)
    partial = models.IntegerField(default=0)
    forgot = models.IntegerField(default=0)
    predicted_sum = models.FloatField(default=0.0)  # of retrievability_before, where recorded
    predicted_count = models.IntegerField(default=0)
    time_spent_seconds = models.BigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "review tallies"
        constraints = [
            # Also the index of every read: one user's days in a range.
            models.UniqueConstraint(
                fields=["user", "day", "category_id", "bucket"], name="learning_tally_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"user {self.user_id} on {self.day}, category {self.category_id}, bucket {self.bucket}"


class ReviewTotal(models.Model):
    """All of one user's reviews in one elapsed-time bucket, counted (the same writes keep it)."""

    # no index of its own: the unique constraint below leads with it (one less to write)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    bucket = models.PositiveSmallIntegerField()
    remembered = models.IntegerField(default=0)
    partial = models.IntegerField(default=0)
    forgot = models.IntegerField(default=0)
    predicted_sum = models.FloatField(default=0.0)
    predicted_count = models.IntegerField(default=0)
    time_spent_seconds = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "bucket"], name="learning_total_unique")]

    def __str__(self) -> str:
        return f"user {self.user_id}, bucket {self.bucket}"


class RecallGroup(models.Model):
    """One user's scheduled cards of one kind, ladder stage and anchor day, summed: how many, and the
    first two moments of their anchors' times within the day. The mean recall reads these few hundred
    rows instead of every card (services/recall.py, "The rollup").

    Kept by PostgreSQL triggers on the schedules (and on a content's ``created_at``, the anchor of a
    card never reviewed), in the transaction of every write, whatever wrote it (migration 0006). The
    anchor is the card's last review, or its content's creation; ``day`` counts UTC days since 1970."""

    # no index of its own: the unique constraint below leads with it (one less to write)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    fsrs = models.BooleanField()  # the card carries FSRS memory (its own stability): not summed here
    stage = models.IntegerField()
    day = models.IntegerField()
    cards = models.IntegerField()
    offset_sum = models.FloatField()  # of (anchor - day) in days, each in [0, 1)
    offset_square_sum = models.FloatField()
    # The latest anchor the group ever held (days since 1970): an upper bound of its anchors.
    anchor_max = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "fsrs", "stage", "day"], name="learning_recallgroup_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"user {self.user_id}: {self.cards} cards at stage {self.stage} on day {self.day}"


class ContentTotal(models.Model):
    """How many contents a user has, kept by PostgreSQL triggers on the contents (migration 0006): the
    unfiltered content list's total without counting every content."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    contents = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"user {self.user_id}: {self.contents} contents"


class CategoryTotal(models.Model):
    """How many of a user's contents are in one category, kept by PostgreSQL triggers on the contents
    (a creation, a deletion, a change of category or owner) and removed with the category (migration
    0007): the category list and the dashboard read these instead of counting every content.

    No foreign keys: the triggers remove the row with its category (and so with its user)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # the unique constraint's index serves
        related_name="+",
    )
    category_id = models.PositiveBigIntegerField()
    contents = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["category_id", "user"], name="learning_categorytotal_unique"),
        ]

    def __str__(self) -> str:
        return f"user {self.user_id}, category {self.category_id}: {self.contents} contents"


class ReviewDayTally(models.Model):
    """``ReviewTally`` summed over the elapsed-time buckets: one user's results of one local day and
    category (0: none). Kept from the tallies by a PostgreSQL statement trigger (migration 0007), in
    the transaction of every tally write, so the dashboard's 30-day window reads at most one row per
    day and category, however many reviews a day holds. Rows whose counts all fall to zero go.

    No foreign key: the rows follow the tallies (deleted with them, with the user)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # the unique constraint's index serves
        related_name="+",
    )
    day = models.DateField()
    category_id = models.PositiveBigIntegerField(default=0)
    remembered = models.IntegerField(default=0)
    partial = models.IntegerField(default=0)
    forgot = models.IntegerField(default=0)

    class Meta:
        verbose_name_plural = "review day tallies"
        constraints = [
            models.UniqueConstraint(fields=["user", "day", "category_id"], name="learning_daytally_unique"),
        ]

    def __str__(self) -> str:
        return f"user {self.user_id} on {self.day}, category {self.category_id}"


class IdempotencyRecord(models.Model):
    """The first answer to a request made with an ``Idempotency-Key`` (kept at least 24 hours)."""

    # no index of its own: the unique constraint below leads with it (one less to write)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    response = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="learning_idempotency_unique")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"


class RequestKey(IdempotentRequest):
    """An ``Idempotency-Key`` of a creating request other than a review's (``common.idempotency``):
    ``content.create`` stores ``{"content_id": ...}``."""

    class Meta(IdempotentRequest.Meta):
        verbose_name = "idempotency key"


class ReminderLog(models.Model):
    """One review reminder per user and local day, at most."""

    # no index of its own: the unique constraint below leads with it
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    local_date = models.DateField()
    due_count = models.PositiveIntegerField()
    sent_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "local_date"], name="learning_reminder_once_a_day")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.local_date}"


# --- Per-learner memory models (docs/scheduling.md, "Wiring") ----------------------------------------


class FitStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class FitTrigger(models.TextChoices):
    API = "api"  # the learner asked (POST /api/review/fits/)
    SCHEDULE = "schedule"  # the daily round: enough new reviews, or a week since the last fit


class FitOutcome(models.TextChoices):
    APPLIED = "applied"  # beat the current parameters on the held-back reviews: now in use
    NOT_BETTER = "not_better"  # recorded, not applied: the current parameters predicted as well or better
    TOO_FEW_REVIEWS = "too_few_reviews"  # not fitted: the current parameters (the defaults at first) stay


class MemoryModelFit(models.Model):
    """One fit of a learner's memory models (FSRS-6 weights and the calibrated ladder): the job and
    its result. Kept whether or not it was applied."""

    # no index of its own: the index below (user, requested_at) leads with it
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    status = models.CharField(max_length=10, choices=FitStatus.choices, default=FitStatus.QUEUED)
    trigger = models.CharField(max_length=10, choices=FitTrigger.choices, default=FitTrigger.API)
    # the learner calendar the reviews' days were counted in
    timezone_name = models.CharField(max_length=64)
    day_start_hour = models.PositiveSmallIntegerField()
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    seconds = models.FloatField(null=True, blank=True)  # the fit's wall time, loading included
    review_count = models.PositiveIntegerField(null=True, blank=True)  # the learner's reviews it read
    holdout_count = models.PositiveIntegerField(null=True, blank=True)  # held-back reviews scored
    fsrs_outcome = models.CharField(max_length=20, choices=FitOutcome.choices, blank=True)
    fsrs_trained_on = models.PositiveIntegerField(null=True, blank=True)
    fsrs_weights = models.JSONField(null=True, blank=True)
    fsrs_log_loss_before = models.FloatField(null=True, blank=True)
    fsrs_log_loss_after = models.FloatField(null=True, blank=True)
    ladder_outcome = models.CharField(max_length=20, choices=FitOutcome.choices, blank=True)
    ladder_intervals = models.JSONField(null=True, blank=True)
    ladder_stabilities = models.JSONField(null=True, blank=True)
    ladder_log_loss_before = models.FloatField(null=True, blank=True)
    ladder_log_loss_after = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            # one fit at a time per learner: a second request answers the first (services.start_memory_fit)
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(status__in=["queued", "running"]),
                name="learning_memoryfit_one_active",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "-requested_at"], name="learning_memoryfit_user_idx"),
            models.Index(fields=["status", "requested_at"], name="learning_memoryfit_status_idx"),
        ]

    def __str__(self) -> str:
        return f"fit {self.pk} of user {self.user_id} ({self.status})"


class LearnerMemoryModel(models.Model):
    """The memory models in use for one learner: fitted FSRS-6 weights and calibrated ladder stage
    stabilities. No row: the published FSRS defaults and the ladder's built-in estimate."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="learning_memory"
    )
    # The fit that last changed this row (its id): a new value on every change, so a version names one
    # immutable set of parameters.
    version = models.PositiveBigIntegerField()
    timezone_name = models.CharField(max_length=64)  # the calendar the applied fits counted days in
    day_start_hour = models.PositiveSmallIntegerField()
    fsrs_weights = models.JSONField(null=True, blank=True)  # 21 floats; null: the published defaults
    fsrs_fit = models.ForeignKey(
        MemoryModelFit, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ladder_key = models.CharField(max_length=100, blank=True)  # the ladder fitted, "1,3,7"; "" none
    ladder_stabilities = models.JSONField(null=True, blank=True)  # one per stage of that ladder (days)
    ladder_decay = models.FloatField(null=True, blank=True)
    ladder_fit = models.ForeignKey(
        MemoryModelFit, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What the hot reads (queue, content) need to estimate recall, in one short string they carry
    # along their rows (services/memory.py, RecallCurves): denormalised from the fields above.
    recall_curve = models.CharField(max_length=1000)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"memory model v{self.version} of user {self.user_id}"
