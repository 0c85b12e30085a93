"""Identity's request and response shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from ninja import Schema
from pydantic import AfterValidator, ConfigDict, Field, StrictBool, StrictFloat, StrictInt

from modules.common.enums import SchedulerKind, literal
from modules.common.time import is_valid_timezone

Scheduler = literal(SchedulerKind)
TierName = Literal["FREE", "BASIC", "PRO"]
PasswordField = Field(max_length=256)
# A new password: the service checks it with Django's validators (AUTH_PASSWORD_VALIDATORS, whose
# minimum length this mirrors: a test keeps them equal) and answers every problem at once (422
# ``weak_password``), so the minimum is stated here, not enforced twice.
PASSWORD_MIN_LENGTH = 8
NewPasswordField = Field(
    max_length=256,
    json_schema_extra={"minLength": PASSWORD_MIN_LENGTH},
    description=f"At least {PASSWORD_MIN_LENGTH} characters, not too common, not all digits, not like your email.",
)
# IANA names are letters, digits, '_', '+', '-' in '/'-separated parts (Europe/Paris, Etc/GMT+5,
# America/Port-au-Prince). The names themselves are the server's zone database (about 600): an enum
# of them would change with the machine's tzdata, so the schema gives the form and the validator the
# list.
TIMEZONE_PATTERN = r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$"


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


Email = Annotated[
    str, Field(max_length=254, json_schema_extra={"format": "email"}), AfterValidator(_valid_email)
]
IanaTimezone = Annotated[
    str,
    Field(
        max_length=64,
        pattern=TIMEZONE_PATTERN,
        description="An IANA time zone name known to the server's zone database, e.g. Europe/Paris, "
        "America/New_York, UTC; an unknown name answers 422.",
        examples=["Europe/Paris"],
    ),
    AfterValidator(_valid_timezone),
]


# --- Auth -----------------------------------------------------------------------------------------


class TokenObtainIn(StrictIn):
    """Any email and password are checked: a wrong pair answers 401 ``invalid_credentials``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"email": "ada@example.com", "password": "a-Long-enough-passphrase-42"}]
        }
    )

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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIn0.c2lnbmF0dXJl",
                    "refresh": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCJ9.c2lnbmF0dXJl",
                    "user": {
                        "id": 42,
                        "email": "ada@example.com",
                        "subscription_tier": "FREE",
                        "is_email_verified": True,
                    },
                }
            ]
        }
    )

    user: UserSummaryOut


class RefreshIn(StrictIn):
    refresh: str = Field(max_length=2048)


class RegisterIn(StrictIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "email": "ada@example.com",
                    "password": "a-Long-enough-passphrase-42",
                    "first_name": "Ada",
                    "timezone": "Europe/London",
                }
            ]
        },
    )

    email: Email
    password: str = NewPasswordField
    first_name: str = Field("", max_length=150)
    last_name: str = Field("", max_length=150)
    timezone: IanaTimezone = "UTC"


class EmailIn(StrictIn):
    email: Email


class TokenIn(StrictIn):
    token: str = Field(min_length=1, max_length=512)


class PasswordResetConfirmIn(StrictIn):
    token: str = Field(min_length=1, max_length=512)
    new_password: str = NewPasswordField


class GoogleSignInIn(StrictIn):
    id_token: str = Field(min_length=1, max_length=8192, description="A Google ID token (JWT)")


class MessageOut(Schema):
    detail: str


class VerifyEmailOut(Schema):
    email: str
    is_email_verified: bool


# --- Accounts -------------------------------------------------------------------------------------


class ProfileOut(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 42,
                    "email": "ada@example.com",
                    "first_name": "Ada",
                    "last_name": "",
                    "timezone": "Europe/London",
                    "daily_reminder_hour": 9,
                    "notifications_enabled": True,
                    "scheduler": "ladder",
                    "desired_retention": 0.9,
                    "subscription_tier": "FREE",
                    "is_email_verified": False,
                    "date_joined": "2026-11-30T08:00:00Z",
                }
            ]
        }
    )

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
    daily_reminder_hour: StrictInt = Field(ge=0, le=23)
    notifications_enabled: StrictBool
    scheduler: Scheduler
    desired_retention: StrictFloat = Field(ge=0.70, le=0.97)


class ProfilePatch(StrictIn):
    """PATCH: any subset of the writable fields (null is not a value)."""

    first_name: str = Field(None, max_length=150)
    last_name: str = Field(None, max_length=150)
    timezone: IanaTimezone = None
    daily_reminder_hour: StrictInt = Field(None, ge=0, le=23)
    notifications_enabled: StrictBool = None
    scheduler: Scheduler = None
    desired_retention: StrictFloat = Field(None, ge=0.70, le=0.97)


class PasswordChangeIn(StrictIn):
    current_password: str = PasswordField
    new_password: str = NewPasswordField


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
