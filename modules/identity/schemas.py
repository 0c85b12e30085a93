"""Identity's request and response shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from ninja import Schema
from pydantic import AfterValidator, ConfigDict, Field

from modules.common.enums import SchedulerKind, literal
from modules.common.time import is_valid_timezone

Scheduler = literal(SchedulerKind)
TierName = Literal["FREE", "BASIC", "PRO"]
PasswordField = Field(max_length=256)


class StrictIn(Schema):
    """Request bodies reject unknown fields (no mass assignment): 422."""

    model_config = ConfigDict(extra="forbid")


def _valid_email(value: str) -> str:
    value = value.strip()
    try:
        validate_email(value)
    except DjangoValidationError as exc:
        raise ValueError("Enter a valid email address.") from exc
    return value.lower()


def _valid_timezone(value: str) -> str:
    if not is_valid_timezone(value):
        raise ValueError("Unknown time zone; use an IANA name such as Europe/Paris.")
    return value


Email = Annotated[str, Field(max_length=254), AfterValidator(_valid_email)]
IanaTimezone = Annotated[
    str,
    Field(max_length=64, description="IANA time zone name, e.g. Europe/Paris"),
    AfterValidator(_valid_timezone),
]


# --- Auth -----------------------------------------------------------------------------------------


class TokenObtainIn(StrictIn):
    email: str = Field(max_length=254)
    password: str = PasswordField


class UserSummaryOut(Schema):
    id: int
    email: str
    subscription_tier: TierName
    is_email_verified: bool


class TokenPairOut(Schema):
    access: str
    refresh: str


class LoginOut(TokenPairOut):
    user: UserSummaryOut


class RefreshIn(StrictIn):
    refresh: str = Field(max_length=2048)


class RegisterIn(StrictIn):
    email: Email
    password: str = PasswordField
    first_name: str = Field("", max_length=150)
    last_name: str = Field("", max_length=150)
    timezone: IanaTimezone = "UTC"


class EmailIn(StrictIn):
    email: Email


class TokenIn(StrictIn):
    token: str = Field(min_length=1, max_length=512)


class PasswordResetConfirmIn(StrictIn):
    token: str = Field(min_length=1, max_length=512)
    new_password: str = PasswordField


class GoogleSignInIn(StrictIn):
    id_token: str = Field(min_length=1, max_length=8192, description="A Google ID token (JWT)")


class MessageOut(Schema):
    detail: str


class ErrorOut(Schema):
    """Every error answer: ``detail`` (a message, or for 422 the list of field errors) and ``code``."""

    detail: str | list[dict]
    code: str


class VerifyEmailOut(Schema):
    email: str
    is_email_verified: bool


# --- Accounts -------------------------------------------------------------------------------------


class ProfileOut(Schema):
    id: int
    email: str
    first_name: str
    last_name: str
    timezone: str
    daily_reminder_hour: int
    notifications_enabled: bool
    scheduler: Scheduler
    desired_retention: float
    subscription_tier: TierName
    is_email_verified: bool
    date_joined: datetime


class ProfileIn(StrictIn):
    """PUT: every writable field. ``id``, ``email``, ``subscription_tier``, ``is_email_verified`` and
    ``date_joined`` are read-only: sending them answers 422."""

    first_name: str = Field(max_length=150)
    last_name: str = Field(max_length=150)
    timezone: IanaTimezone
    daily_reminder_hour: int = Field(ge=0, le=23)
    notifications_enabled: bool
    scheduler: Scheduler
    desired_retention: float = Field(ge=0.70, le=0.97)


class ProfilePatch(StrictIn):
    """PATCH: any subset of the writable fields (null is not a value)."""

    first_name: str = Field(None, max_length=150)
    last_name: str = Field(None, max_length=150)
    timezone: IanaTimezone = None
    daily_reminder_hour: int = Field(None, ge=0, le=23)
    notifications_enabled: bool = None
    scheduler: Scheduler = None
    desired_retention: float = Field(None, ge=0.70, le=0.97)


class PasswordChangeIn(StrictIn):
    current_password: str = PasswordField
    new_password: str = PasswordField


class AccountDeleteIn(StrictIn):
    password: str = PasswordField


class TierLimitsOut(Schema):
    api_requests_per_hour: int
    ai_questions_daily: int
    review_intervals: list[int]


class SubscriptionOut(Schema):
    tier: TierName
    limits: TierLimitsOut
    started_at: datetime
    expires_at: datetime | None
