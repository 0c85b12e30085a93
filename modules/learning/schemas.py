"""The learning module's request and response shapes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from ninja import Schema
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    field_validator,
)

from modules.common.enums import SchedulerKind, literal
from modules.common.fields import ClientDatetime, FilterId
from modules.identity.schemas import IanaTimezone
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


def _not_blank(value: str) -> str:
    # A body keeps its whitespace (indentation, line breaks), but one of whitespace alone has nothing to learn.
    if not value.strip():
        raise ValueError("may not be blank")
    return value


CategoryName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=CATEGORY_NAME_MAX_LENGTH), NoNul
]
Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX_LENGTH), NoNul
]
Body = Annotated[
    str, StringConstraints(min_length=1, max_length=BODY_MAX_LENGTH), NoNul, AfterValidator(_not_blank)
]
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
    category_id: StrictInt | None = None


class ContentPatch(StrictIn):
    title: Title | None = None
    body: Body | None = None
    category_id: StrictInt | None = Field(None, description="null moves the content out of its category.")

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
    category: FilterId | None = Field(None, description="Only content of this category id.")
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

    content_id: StrictInt
    result: ResultLiteral
    time_spent_seconds: StrictInt | None = Field(None, ge=0, le=86_400)
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


# --- Memory models: fits, parameters, the retention simulator ----------------------------------------

FitStatusLiteral = Literal["queued", "running", "done", "failed"]
FitOutcomeLiteral = Literal["applied", "not_better", "too_few_reviews"]


class MemoryFitIn(StrictIn):
    timezone: IanaTimezone | None = Field(
        None,
        description=(
            "The calendar to count your reviews' days in (IANA name, e.g. Europe/Paris); default: your "
            "profile's zone. Useful when your history was recorded while you lived in another zone."
        ),
    )


class FsrsFitOut(Out):
    outcome: FitOutcomeLiteral = Field(
        description=(
            "applied: beat the parameters in use on your held-back reviews and replaced them; not_better: "
            "recorded, not applied; too_few_reviews: not fitted (FSRS needs 800 training reviews), the "
            "parameters in use (the defaults at first) stay."
        )
    )
    applied: bool
    trained_on: int | None = Field(
        description="Training reviews (not a card's first, not a same-day review)."
    )
    weights: list[float] | None = Field(description="FSRS-6's 21 fitted weights (null when not fitted).")
    log_loss_before: float | None = Field(
        description="Mean log loss of the parameters in use on your most recent, held-back reviews."
    )
    log_loss_after: float | None = Field(description="The same for the fitted candidate (lower is better).")


class LadderFitOut(Out):
    outcome: FitOutcomeLiteral
    applied: bool
    intervals: list[int] = Field(description="The tier ladder the stage stabilities were fitted for.")
    stabilities: list[float] | None = Field(
        description="Fitted stability per ladder stage, in days (recall is 90% after that long)."
    )
    log_loss_before: float | None
    log_loss_after: float | None


class MemoryFitOut(Out):
    id: int
    status: FitStatusLiteral
    trigger: Literal["api", "schedule"]
    timezone: str
    day_start_hour: int = Field(description="Local hour your review day starts at (4 am, as in Anki).")
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str
    seconds: float | None = Field(description="How long the fit took, loading your history included.")
    review_count: int | None = Field(description="Your reviews the fit read.")
    holdout_count: int | None = Field(
        description="Your most recent reviews held back to compare the candidates with the parameters in use."
    )
    version: int | None = Field(description="Your parameters' version now (null: never fitted).")
    fsrs: FsrsFitOut | None = Field(description="FSRS-6's fit (null until the job is done).")
    ladder: LadderFitOut | None = Field(
        description="The calibrated ladder's fit (null until the job is done)."
    )


class FsrsParametersOut(Out):
    weights: list[float]
    is_default: bool
    trained_on: int
    fit_id: int | None
    fitted_at: datetime | None
    review_count: int
    log_loss_before: float | None
    log_loss_after: float | None


class LadderRecallOut(Out):
    intervals: list[int] = Field(description="Your tier ladder now.")
    stabilities: list[float] | None = Field(
        description="Calibrated stability per stage (days); null: the built-in estimate is used."
    )
    built_in_stabilities: list[float] = Field(
        description="The built-in estimate's per-stage strength, interval / -ln 0.9 (exponential curve)."
    )
    fit_id: int | None
    fitted_at: datetime | None
    review_count: int
    log_loss_before: float | None
    log_loss_after: float | None


class MemoryParametersOut(Out):
    version: int | None = Field(
        description="Changes with every applied fit; null: never fitted (the defaults)."
    )
    scheduler: SchedulerLiteral
    timezone: str
    day_start_hour: int
    fitted_at: datetime | None = Field(description="When the parameters your scheduler uses were fitted.")
    review_count: int = Field(description="Reviews those parameters were fitted on (0: the defaults).")
    log_loss_before: float | None = Field(
        description="Their fit's log loss on your held-back reviews with the parameters they replaced."
    )
    log_loss_after: float | None = Field(description="The same with them (lower is better).")
    fsrs: FsrsParametersOut
    ladder: LadderRecallOut


class SimulationQuery(Schema):
    days: int = Field(365, ge=1, le=730, description="Days to simulate, from today.")
    desired_retention: float | None = Field(
        None,
        ge=0.70,
        le=0.97,
        description="Recall probability to schedule at (0.70-0.97); default: your profile's.",
    )
    new_cards_per_day: int | None = Field(
        None, ge=0, le=500, description="New contents a day; default: your average over the last 30 days."
    )


class SimulatedDayOut(Out):
    date: date
    reviews: int
    minutes: float
    remembered: float = Field(description="Expected cards you would recall that day.")


class PolicyOutcomeOut(Out):
    desired_retention: float | None = Field(description="null: your tier ladder.")
    reviews: int
    minutes: float
    remembered: float = Field(description="Expected cards you would recall on the last day.")
    reviews_per_remembered_card: float | None


class RetentionSimulationOut(Out):
    days: int
    desired_retention: float
    cards: int = Field(description="Your cards at the start.")
    sampled_cards: int = Field(
        description="Of those, the cards simulated: all of them, or an even sample of a large deck "
        "(each standing for its share of the deck)."
    )
    new_cards_per_day: int
    max_interval: int = Field(description="Your tier's longest interval: FSRS never schedules further.")
    parameters_version: int | None = Field(
        description="Your fitted FSRS parameters' version (null: the defaults)."
    )
    seconds_per_recalled: float = Field(description="Your median answer time when you recall.")
    seconds_per_forgotten: float
    partial_share: float = Field(description="Your share of 'partial' among recalled answers.")
    outcome: PolicyOutcomeOut
    per_day: list[SimulatedDayOut]
    recommended_desired_retention: float = Field(
        description="The desired retention with the fewest reviews per remembered card after the run."
    )
    candidates: list[PolicyOutcomeOut] = Field(description="Every retention tried for the recommendation.")
    ladder: PolicyOutcomeOut = Field(description="Your tier ladder on the same cards, for comparison.")
