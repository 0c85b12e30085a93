from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone as dj_timezone

from modules.common.enums import SCHEDULER_LABELS, SchedulerKind, model_choices
from modules.identity.tiers import Tier


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def normalize_email(self, email: str | None) -> str:  # type: ignore[override]
        return (email or "").strip().lower()

    def _create(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email is required")
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.update(is_staff=True, is_superuser=True, is_email_verified=True)
        return self._create(email, password, **extra)

    def get_by_natural_key(self, email: str) -> User:  # type: ignore[override]
        # Emails are stored lower-cased (User.save), so an exact match on the normalized address
        # uses the unique index; the subscription comes along because every login needs the tier.
        return self.select_related("subscription").get(email=self.normalize_email(email))


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(unique=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    daily_reminder_hour = models.PositiveSmallIntegerField(
        default=9, validators=[MinValueValidator(0), MaxValueValidator(23)]
    )
    notifications_enabled = models.BooleanField(default=True)
    scheduler = models.CharField(
        max_length=10, choices=model_choices(SchedulerKind, SCHEDULER_LABELS), default=SchedulerKind.LADDER
    )
    desired_retention = models.FloatField(
        default=0.9, validators=[MinValueValidator(0.70), MaxValueValidator(0.97)]
    )
    is_email_verified = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=dj_timezone.now)
    # Bumped to revoke every token of the user at once (password reset, deactivation): tokens carry
    # the version they were issued under and stop working when it no longer matches.
    token_version = models.PositiveIntegerField(default=0)
    # Set when the account is closed (services/closure.py): from then on it is inactive, its address a
    # tombstone, and the worker erases it with all its data; nothing sends to or counts it meanwhile.
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="identity_user_email_ci_unique"),
            models.CheckConstraint(
                condition=models.Q(daily_reminder_hour__gte=0, daily_reminder_hour__lte=23),
                name="identity_user_reminder_hour_range",
            ),
            models.CheckConstraint(
                condition=models.Q(desired_retention__gte=0.70, desired_retention__lte=0.97),
                name="identity_user_retention_range",
            ),
        ]
        indexes = [
            models.Index(fields=["date_joined"], name="identity_user_joined_idx"),
            # The hourly reminder query: who wants a reminder at this local hour (users_due_for_reminder).
            models.Index(
                fields=["daily_reminder_hour", "timezone"],
                name="identity_user_reminder_idx",
                condition=models.Q(notifications_enabled=True, is_active=True, is_email_verified=True),
            ),
            # The erasure's safety net (erase_lost_closures): the few closed accounts not erased yet.
            models.Index(
                fields=["closed_at"],
                name="identity_user_closed_idx",
                condition=models.Q(closed_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.email

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.email = (self.email or "").strip().lower()
        super().save(*args, **kwargs)


class Subscription(models.Model):
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="subscription")
    tier = models.CharField(max_length=10, choices=[(t.value, t.value) for t in Tier], default=Tier.FREE)
    started_at = models.DateTimeField(default=dj_timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        indexes = [models.Index(fields=["tier"], name="identity_sub_tier_idx")]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.tier}"


class SubscriptionChange(models.Model):
    """Append-only history of tier changes (for analytics and audit)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="subscription_changes")
    from_tier = models.CharField(max_length=10, blank=True)
    to_tier = models.CharField(max_length=10)
    changed_at = models.DateTimeField(default=dj_timezone.now, db_index=True)
    source = models.CharField(max_length=40, default="admin")

    class Meta:
        ordering = ["-changed_at"]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.from_tier or '-'} -> {self.to_tier}"


class EmailStatus(models.TextChoices):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


class EmailLog(models.Model):
    """One row per outgoing email; ``attempts`` counts tries, ``error`` keeps the last failure.

    The message is rendered once, when it is queued, and kept here until it is delivered (or given
    up on): retries need only the row's id, and the bodies and extra headers (which may hold a link
    with a token) are cleared as soon as they are no longer needed.
    """

    to = models.EmailField(db_index=True)
    template = models.CharField(max_length=120)
    subject = models.CharField(max_length=255)
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True)
    # Extra message headers ({name: value}), e.g. List-Unsubscribe; cleared with the bodies.
    headers = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=EmailStatus.choices, default=EmailStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=dj_timezone.now, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="identity_email_status_idx"),
            models.Index(fields=["status", "last_attempt_at"], name="identity_email_attempt_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.template} -> {self.to} ({self.status})"
