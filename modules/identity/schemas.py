"""Identity's request and response shapes."""

from __future__ import annotations

from datetime import datetime

from ninja import Schema
from pydantic import ConfigDict, Field


class StrictIn(Schema):
    model_config = ConfigDict(extra="forbid")


class TokenObtainIn(StrictIn):
    email: str = Field(max_length=254)
    password: str = Field(max_length=256)


class UserSummaryOut(Schema):
    id: int
    email: str
    subscription_tier: str
    is_email_verified: bool


class TokenPairOut(Schema):
    access: str
    refresh: str


class LoginOut(TokenPairOut):
    user: UserSummaryOut


class ProfileOut(Schema):
    id: int
    email: str
    first_name: str
    last_name: str
    timezone: str
    daily_reminder_hour: int
    notifications_enabled: bool
    scheduler: str
    desired_retention: float
    subscription_tier: str
    is_email_verified: bool
    date_joined: datetime
