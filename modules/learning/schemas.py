"""The learning module's request and response shapes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from ninja import Schema
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from modules.common.enums import SchedulerKind, literal
from modules.common.fields import ClientDatetime
from modules.learning.models import (
    BODY_MAX_LENGTH,
    CATEGORY_DESCRIPTION_MAX_LENGTH,
    CATEGORY_NAME_MAX_LENGTH,
    TITLE_MAX_LENGTH,
)
from modules.learning.scheduling import ReviewResult

ResultLiteral = literal(ReviewResult)
SchedulerLiteral = literal(SchedulerKind)
OrderingLiteral = Literal["created_at", "-created_at", "title", "-title", "next_review", "-next_review"]


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; rejecting it here keeps such input a 422, not a 500.
    if "\x00" in value:
        raise ValueError("may not contain NUL characters")
    return value


NoNul = AfterValidator(_no_nul)
CategoryName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=CATEGORY_NAME_MAX_LENGTH), NoNul
]
Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX_LENGTH), NoNul
]
Body = Annotated[str, StringConstraints(min_length=1, max_length=BODY_MAX_LENGTH), NoNul]
Description = Annotated[str, StringConstraints(max_length=CATEGORY_DESCRIPTION_MAX_LENGTH), NoNul]
SearchTerm = Annotated[str, StringConstraints(max_length=200), NoNul]


class StrictIn(Schema):
    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    """Response shapes read from the facade's frozen dataclasses (``from_attributes``): plain pydantic
    models, validated by pydantic-core alone (Ninja's ``Schema`` wraps every nested object in a
    ``DjangoGetter`` for ORM attribute access, which these answers do not need and which dominated the
    queue's time)."""

    model_config = ConfigDict(from_attributes=True)


# --- Categories ----------------------------------------------------------------------------------


class CategoryIn(StrictIn):
    name: CategoryName
    description: Description = ""


class CategoryPatch(StrictIn):
    name: CategoryName | None = None
    description: Description | None = None

    @field_validator("name", "description")
    @classmethod
    def _not_null(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("may be left out, not null")
        return value


class CategoryOut(Out):
    id: int
    name: str
    slug: str
    description: str
    content_count: int


class CategoryRefOut(Out):
    id: int
    name: str
    slug: str


# --- Content -------------------------------------------------------------------------------------


class ContentIn(StrictIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "Osmosis",
                    "body": "Water crosses a semi-permeable membrane toward the higher solute concentration.",
                    "category_id": 3,
                }
            ]
        }
    )

    title: Title
    body: Body
    category_id: int | None = None


class ContentPatch(StrictIn):
    title: Title | None = None
    body: Body | None = None
    category_id: int | None = Field(None, description="null moves the content out of its category.")

    @field_validator("title", "body")
    @classmethod
    def _not_null(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("may be left out, not null")
        return value


class ReviewSummaryOut(Out):
    stage: int
    next_review_date: datetime
    last_reviewed_at: datetime | None
    review_count: int
    retrievability: float = Field(description="Estimated probability of recall now (0-1).")


class ContentOut(Out):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 17,
                    "title": "Osmosis",
                    "body": "Water crosses a semi-permeable membrane toward the higher solute concentration.",
                    "category": {"id": 3, "name": "Biology", "slug": "biology"},
                    "created_at": "2026-11-30T08:00:00Z",
                    "updated_at": "2026-11-30T08:00:00Z",
                    "review": {
                        "stage": 0,
                        "next_review_date": "2026-12-01T08:00:00Z",
                        "last_reviewed_at": None,
                        "review_count": 0,
                        "retrievability": 1.0,
                    },
                }
            ]
        }
    )

    id: int
    title: str
    body: str
    category: CategoryRefOut | None
    created_at: datetime
    updated_at: datetime
    review: ReviewSummaryOut | None


class ContentPageOut(Out):
    items: list[ContentOut]
    count: int = Field(description="Contents matching the filters.")


class ContentFilters(Schema):
    category: int | None = Field(None, description="Only content of this category id.")
    search: SearchTerm = Field("", description="Case-insensitive substring of the title or body.")
    ordering: OrderingLiteral = "-created_at"


# --- Reviews -------------------------------------------------------------------------------------


class QueueContentOut(Out):
    id: int
    title: str
    body: str
    category: CategoryRefOut | None


class QueueItemOut(Out):
    content: QueueContentOut
    stage: int
    next_review_date: datetime
    overdue_days: int
    retrievability: float


class QueueOut(Out):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "content": {
                                "id": 17,
                                "title": "Osmosis",
                                "body": "Water crosses a semi-permeable membrane toward the higher solute "
                                "concentration.",
                                "category": {"id": 3, "name": "Biology", "slug": "biology"},
                            },
                            "stage": 1,
                            "next_review_date": "2026-11-28T08:00:00Z",
                            "overdue_days": 2,
                            "retrievability": 0.71,
                        }
                    ],
                    "count": 1,
                    "overdue_count": 1,
                }
            ]
        }
    )

    items: list[QueueItemOut]
    count: int = Field(description="Reviews due by the end of your local today.")
    overdue_count: int = Field(description="Of those, the ones due on an earlier day.")


class CompleteIn(StrictIn):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"content_id": 17, "result": "remembered", "time_spent_seconds": 25}]}
    )

    content_id: int
    result: ResultLiteral
    time_spent_seconds: int | None = Field(None, ge=0, le=86_400)
    reviewed_at: ClientDatetime | None = Field(
        None, description="When the review happened (offline clients): not in the future, at most 7 days old."
    )


class ReviewOutcomeOut(Out):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "content_id": 17,
                    "result": "remembered",
                    "previous_stage": 1,
                    "stage": 2,
                    "interval_days": 7,
                    "next_review_date": "2026-12-07T08:00:00Z",
                    "retrievability_before": 0.71,
                    "reviewed_at": "2026-11-30T08:00:00Z",
                    "early": False,
                }
            ]
        }
    )

    content_id: int
    result: ResultLiteral
    previous_stage: int
    stage: int
    interval_days: int
    next_review_date: datetime
    retrievability_before: float
    reviewed_at: datetime
    early: bool = Field(description="The review happened before the card was due (before its due day).")


class HistoryOut(Schema):
    id: int
    content_id: int
    result: ResultLiteral
    reviewed_at: datetime
    stage_before: int
    stage_after: int
    interval_days: int
    time_spent_seconds: int | None
    early: bool
    retrievability_before: float | None


class ForecastDayOut(Out):
    date: date
    due: int
