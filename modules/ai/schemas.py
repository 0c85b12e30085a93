"""The ai module's request and response shapes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from ninja import Field, Schema
from pydantic import ConfigDict, StrictInt, field_validator

from modules.ai.providers.base import QuestionType
from modules.common.enums import literal

QuestionTypeName = literal(QuestionType)
DifficultyName = Literal["beginner", "intermediate", "advanced"]
JobStatusName = Literal["queued", "running", "done", "failed"]


def _unique(values: list) -> list:
    if len(set(values)) != len(values):
        raise ValueError("must not repeat a value")
    return values


UNIQUE = {"uniqueItems": True}  # enforced by the ``_unique`` validators, stated in the schema
QuestionTypes = Field(
    ...,
    min_length=1,
    max_length=3,
    json_schema_extra=UNIQUE,
    description="One or more question types, each at most once.",
)


class GenerateIn(Schema):
    model_config = ConfigDict(extra="forbid")

    content_id: StrictInt = Field(..., ge=1)
    question_types: list[QuestionTypeName] = QuestionTypes
    difficulty_level: DifficultyName
    count: StrictInt = Field(..., ge=1, le=10)

    _unique_types = field_validator("question_types")(_unique)


class QuestionOut(Schema):
    id: int
    content_id: int
    type: QuestionTypeName
    question: str
    options: list[str]
    correct_answer: str = Field(..., description="blur: the hidden terms in order, separated by '; '")
    explanation: str
    difficulty: DifficultyName
    tokens_used: int
    generation_time_ms: int
    created_at: dt.datetime


class GenerateOut(Schema):
    questions: list[QuestionOut]
    total_tokens: int
    remaining_daily_quota: int


class EvaluateIn(Schema):
    model_config = ConfigDict(extra="forbid")

    question_id: StrictInt = Field(..., ge=1)
    answer: str = Field(
        ...,
        max_length=5000,
        description="multiple_choice: the option text (or its letter); blur: the terms in order, separated by ';'",
    )


class EvaluateOut(Schema):
    is_correct: bool
    score: float = Field(..., ge=0, le=1)
    feedback: str


class AnalyzeIn(Schema):
    model_config = ConfigDict(extra="forbid")

    content_id: StrictInt = Field(..., ge=1)


class AnalyzeOut(Schema):
    difficulty: DifficultyName
    key_concepts: list[str]
    summary: str
    estimated_study_minutes: int


class QuestionFilters(Schema):
    content_id: int | None = Field(None, ge=1)


class UsageOut(Schema):
    date: dt.date
    questions_generated: int
    daily_limit: int
    remaining: int
    tokens_used: int
    cost_usd: float


class JobIn(Schema):
    model_config = ConfigDict(extra="forbid")

    content_ids: list[Annotated[StrictInt, Field(ge=1)]] = Field(
        ..., min_length=1, max_length=20, json_schema_extra=UNIQUE, description="1 to 20 of your contents."
    )
    question_types: list[QuestionTypeName] = QuestionTypes
    difficulty_level: DifficultyName
    count: StrictInt = Field(..., ge=1, le=10, description="questions per content")

    _unique_types = field_validator("question_types")(_unique)
    _unique_ids = field_validator("content_ids")(_unique)


class JobAcceptedOut(Schema):
    id: int
    status: JobStatusName


class JobOut(Schema):
    id: int
    status: JobStatusName
    questions: list[QuestionOut]
    error: str
    content_ids: list[int]
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
