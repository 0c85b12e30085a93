"""Learning's routers: ``content_router`` at /api/content/, ``review_router`` at /api/review/ (with
the memory models' fits, parameters and retention simulator, tagged "scheduling").

Thin: parse, call a service, shape the answer. Errors are the services' domain errors.
No ``from __future__ import annotations`` here: Ninja resolves the annotations of paginated views
outside this module, where string annotations would not resolve.
"""

import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Query, Router, Status
from ninja.pagination import paginate
from ninja.responses import NinjaJSONEncoder
from pydantic import BaseModel

from modules.common import headers
from modules.common.errors import Conflict, EmailNotVerified, NotFound, raises
from modules.common.fields import FilterId
from modules.common.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_OFFSET,
    CursorPagination,
    LimitOffsetPagination,
)
from modules.common.time import local_date
from modules.learning import services
from modules.learning.schemas import (
    CategoryIn,
    CategoryOut,
    CategoryPatch,
    CompleteIn,
    ContentFilters,
    ContentIn,
    ContentOut,
    ContentPageOut,
    ContentPatch,
    ForecastDayOut,
    HistoryOut,
    MemoryFitIn,
    MemoryFitOut,
    MemoryParametersOut,
    QueueOut,
    RetentionSimulationOut,
    ReviewOutcomeOut,
    SimulationQuery,
)

content_router = Router(tags=["content"])
review_router = Router(tags=["review"])


# --- Categories ----------------------------------------------------------------------------------


@content_router.get("/categories/", response=list[CategoryOut], summary="Your categories")
@paginate(LimitOffsetPagination)
def list_categories(request: HttpRequest) -> Any:
    """Your categories by name, each with its number of contents; an offset list."""
    return services.category_list(user=request.auth)


@content_router.post("/categories/", response={201: CategoryOut}, summary="Create a category")
@raises(Conflict, EmailNotVerified)
def create_category(request: HttpRequest, payload: CategoryIn) -> Status:
    """A new category; its slug is made from the name. Names are unique per user: 409 `conflict`.
    Needs a verified email (403 `email_not_verified`), like creating content."""
    return Status(
        201, services.create_category(user=request.auth, name=payload.name, description=payload.description)
    )


@content_router.patch(
    "/categories/{category_id}/", response=CategoryOut, summary="Rename or describe a category"
)
@raises(Conflict, NotFound)
def update_category(request: HttpRequest, category_id: int, payload: CategoryPatch) -> services.CategoryView:
    """A new name (unique per user: 409 `conflict`) or description."""
    return services.update_category(
        user=request.auth, category_id=category_id, changes=payload.model_dump(exclude_unset=True)
    )


@content_router.delete(
    "/categories/{category_id}/", response={204: None}, summary="Delete a category (its content stays)"
)
@raises(NotFound)
def delete_category(request: HttpRequest, category_id: int) -> Status:
    """The category goes; its contents stay, without a category."""
    services.delete_category(user=request.auth, category_id=category_id)
    return Status(204, None)


# --- Content -------------------------------------------------------------------------------------


def _cached_json(
    request: HttpRequest,
    *,
    name: str,
    variant: tuple[Any, ...],
    schema: type[BaseModel],
    compute: Callable[[], object],
) -> HttpResponse:
    """The answer of ``compute()`` shaped by ``schema``, rendered once and then served from the user's
    read cache as bytes (services.cached_read: every learning write invalidates it). The bytes are
    what Ninja would render for ``response=schema``."""

    def render() -> bytes:
        data = schema.model_validate(compute()).model_dump(by_alias=True)
        return json.dumps(data, cls=NinjaJSONEncoder).encode()

    body = services.cached_read(user=request.auth, name=name, variant=variant, compute=render)
    return HttpResponse(body, content_type="application/json; charset=utf-8")


@content_router.get("/", response=ContentPageOut, summary="Your content (filter, search, order)")
def list_content(
    request: HttpRequest,
    filters: Query[ContentFilters],
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Page size."),  # type: ignore[type-arg]
    offset: int = Query(0, ge=0, le=MAX_OFFSET, description="Items to skip."),  # type: ignore[type-arg]
) -> HttpResponse:
    """Your contents with their review state: filter by `category`, `search` the title and body, sort
    by `ordering`; an offset list (`limit` 1-100, `offset`)."""
    page = services.content_list(
        user=request.auth, category_id=filters.category, search=filters.search, ordering=filters.ordering
    )
    return _cached_json(
        request,
        name="content",
        variant=(filters.category, filters.search, filters.ordering, limit, offset),
        schema=ContentPageOut,
        compute=lambda: {"items": page[offset : offset + limit], "count": page.count()},
    )


@content_router.post("/", response={201: ContentOut}, summary="Save content; its first review is scheduled")
@raises(Conflict, EmailNotVerified, NotFound)
def create_content(
    request: HttpRequest,
    payload: ContentIn,
    idempotency_key: str | None = headers.idempotency_key(
        "Any printable ASCII string, e.g. a UUID: a retry with the same key and body creates nothing "
        "and answers the content the first request created."
    ),
) -> Status:
    """Saves something to learn and schedules its first review at once (on the ladder: your tier's
    first interval, tomorrow). Needs a verified email (403 `email_not_verified`); a `category_id` that
    is not one of yours answers 404. With an `Idempotency-Key`, a retry answers 201 with the content
    the first request created (as it is now) and creates nothing; the same key with a different body
    answers 409 `conflict`."""
    return Status(
        201,
        services.create_content(
            user=request.auth,
            title=payload.title,
            body=payload.body,
            category_id=payload.category_id,
            idempotency_key=idempotency_key,
        ),
    )


@content_router.get("/{content_id}/", response=ContentOut, summary="One content with its review state")
def get_content(request: HttpRequest, content_id: int) -> services.ContentView:
    """One of your contents with its review state (stage, next review, reviews so far, recall now).
    Another user's content answers 404 like a missing one."""
    return services.content_detail(user=request.auth, content_id=content_id)


@content_router.put("/{content_id}/", response=ContentOut, summary="Replace a content")
@raises(NotFound)
def replace_content(request: HttpRequest, content_id: int, payload: ContentIn) -> services.ContentView:
    """Replaces the title, body and category; the review schedule is kept."""
    return services.update_content(user=request.auth, content_id=content_id, changes=payload.model_dump())


@content_router.patch("/{content_id}/", response=ContentOut, summary="Change some fields of a content")
@raises(NotFound)
def update_content(request: HttpRequest, content_id: int, payload: ContentPatch) -> services.ContentView:
    """Changes any of title, body and category (`category_id` null: no category); the schedule is kept."""
    return services.update_content(
        user=request.auth, content_id=content_id, changes=payload.model_dump(exclude_unset=True)
    )


@content_router.delete("/{content_id}/", response={204: None}, summary="Delete a content and its reviews")
def delete_content(request: HttpRequest, content_id: int) -> Status:
    """Deletes the content with its schedule, review history and AI questions."""
    services.delete_content(user=request.auth, content_id=content_id)
    return Status(204, None)


# --- Reviews -------------------------------------------------------------------------------------


@review_router.get("/today/", response=QueueOut, summary="Everything due by the end of your local today")
def today(
    request: HttpRequest,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Page size."),  # type: ignore[type-arg]
    offset: int = Query(0, ge=0, le=MAX_OFFSET, description="Items to skip."),  # type: ignore[type-arg]
) -> HttpResponse:
    """Everything due by the end of your local today (your profile's time zone), most overdue first,
    with each card's stage, due date, days overdue and estimated recall now. `count` is everything due,
    `overdue_count` what was due on an earlier day; `limit` and `offset` page the items."""
    user = request.auth
    if offset:
        return _cached_json(
            request,
            name="queue",
            variant=(limit, offset),
            schema=QueueOut,
            compute=lambda: services.review_queue(user=user, limit=limit, offset=offset),
        )
    # The first page is what a learner reads after every answer: it is cached as a window with spare
    # items, which a review taking its card out of today's queue patches in Redis (readcache.Window).
    body = services.cached_window(
        user=user, name="queue", variant=(limit, 0), compute=lambda: _queue_window(user, limit)
    )
    return HttpResponse(body, content_type="application/json; charset=utf-8")


# Spare items cached after the first page of today's queue: the answers it can absorb before the next
# recompute (each answer that takes a card out of the page moves one spare item up).
QUEUE_SPARE = 20
# Rendered in place of the items and the totals to find them in the page's JSON (readcache.window_template)
_STAND_INS = {"items": 987654321987654320, "count": 987654321987654321, "overdue_count": 987654321987654322}


def _queue_window(user: Any, limit: int) -> services.Window:
    """The first page of today's queue as ``QueueOut`` renders it, kept as a window: the page's and the
    spare items rendered one by one (a list renders as its items joined by ", "), their order keys, the
    totals, the local day they are for."""
    now = timezone.now()
    queue = services.review_queue(user=user, now=now, limit=limit + QUEUE_SPARE)
    data = QueueOut.model_validate(queue).model_dump(by_alias=True)
    return services.Window(
        template=services.window_template(
            json.dumps({**data, **_STAND_INS}, cls=NinjaJSONEncoder).encode(),
            items=_STAND_INS["items"],
            total=_STAND_INS["count"],
            subtotal=_STAND_INS["overdue_count"],
        ),
        items=[json.dumps(item, cls=NinjaJSONEncoder).encode() for item in data["items"]],
        keys=[services.order_key(item.next_review_date, item.content.id) for item in queue.items],
        limit=limit,
        total=queue.count,
        subtotal=queue.overdue_count,
        scope=local_date(now, user.timezone).isoformat(),
    )


@review_router.post(
    "/complete/", response=ReviewOutcomeOut, summary="Record a review and reschedule the card"
)
@raises(Conflict, NotFound)
def complete(
    request: HttpRequest,
    payload: CompleteIn,
    idempotency_key: str | None = headers.idempotency_key(
        "Any printable ASCII string, e.g. a UUID: the same key answers the first response."
    ),
) -> services.ReviewOutcome:
    """Records how a review went (`remembered`, `partial`, `forgot`) and reschedules the card: the
    ladder moves up a stage, keeps it or restarts; FSRS updates its memory state. A review before the
    card is due is allowed (`early`). `reviewed_at` lets an offline client say when it happened (not
    in the future, at most 7 days old). With an `Idempotency-Key`, a retry answers the first outcome
    and records nothing; the same key with a different request answers 409 `conflict`."""
    return services.complete_review(
        user=request.auth,
        content_id=payload.content_id,
        result=payload.result,
        time_spent_seconds=payload.time_spent_seconds,
        reviewed_at=payload.reviewed_at,
        idempotency_key=idempotency_key,
    )


@review_router.get("/history/", response=list[HistoryOut], summary="Your reviews, newest first (read-only)")
@paginate(CursorPagination, ordering=("-reviewed_at", "-id"))
def history(
    request: HttpRequest,
    content_id: FilterId | None = Query(None, description="Only reviews of this content."),  # type: ignore[type-arg]  # noqa: B008 (Ninja reads the default)
) -> Any:
    """Your reviews, newest first, optionally of one content: read-only (no route edits or deletes
    history). A cursor list: follow `next` (a URL) or pass `next_cursor` as `cursor`; `page_size` is 1 to
    100."""
    return services.review_history(user=request.auth, content_id=content_id)


@review_router.get("/forecast/", response=list[ForecastDayOut], summary="Reviews due per local day ahead")
def forecast(
    request: HttpRequest,
    days: int = Query(30, ge=1, le=365),  # type: ignore[type-arg]
) -> list[services.ForecastDay]:
    """How many reviews fall due on each of your next `days` local days (1-365, default 30), today
    first; today includes the overdue ones."""
    return services.forecast(user=request.auth, days=days)


# --- Memory models: fits, parameters, the retention simulator ------------------------------------

_SCHEDULING = ["scheduling"]


@review_router.post(
    "/fits/",
    response={202: MemoryFitOut},
    tags=_SCHEDULING,
    summary="Fit your memory models to your reviews (a job)",
    description=(
        "Queues a fit of FSRS-6's 21 weights and of your ladder's per-stage stabilities to your whole "
        "review history, counted in your calendar days (your profile's zone, or `timezone`; the day "
        "starts at 4 am). Your most recent fifth of reviews is held back: a fitted model replaces the "
        "one in use only if it predicts those better (lower log loss); otherwise it is recorded, not "
        "applied. Answers 202 with the job; poll `GET /api/review/fits/{fit_id}/`. While a fit is "
        "queued or running, asking again answers that one. The daily round also refits learners with "
        "100 new reviews, or a week-old fit. 422 `validation_error` for fewer than 200 reviews "
        "(`type` `too_few_reviews`) or an unknown time zone."
    ),
)
def start_fit(request: HttpRequest, payload: MemoryFitIn) -> Status:
    return Status(202, services.start_memory_fit(user=request.auth, timezone_name=payload.timezone))


@review_router.get(
    "/fits/{fit_id}/",
    response=MemoryFitOut,
    tags=_SCHEDULING,
    summary="A fit job: its status and, once done, what it measured",
    description=(
        "`status`: queued, running, done or failed (`error` says why). Once done, `fsrs` and `ladder` "
        "give each model's outcome (`applied`, `not_better`, `too_few_reviews`), its log loss on your "
        "held-back reviews before (the parameters in use) and after (the candidate), and the fitted "
        "values; `version` is your parameters' version now."
    ),
)
@raises(NotFound)
def fit_detail(request: HttpRequest, fit_id: int) -> services.MemoryFitView:
    return services.memory_fit_detail(user=request.auth, fit_id=fit_id)


@review_router.get(
    "/parameters/",
    response=MemoryParametersOut,
    tags=_SCHEDULING,
    summary="Your memory models in use",
    description=(
        "The FSRS-6 weights (fitted or the published defaults) and the ladder's per-stage stabilities "
        "(calibrated for your tier's ladder, or null: the built-in estimate) that schedule your reviews "
        "and estimate your recall, with the version, when and on how many reviews they were fitted, and "
        "the log loss before and after on that fit's held-back reviews. The top-level fields describe "
        "the model of your scheduler."
    ),
)
def parameters(request: HttpRequest) -> services.MemoryParameters:
    return services.memory_parameters(user=request.auth)


@review_router.get(
    "/simulation/",
    response=RetentionSimulationOut,
    tags=_SCHEDULING,
    summary="Simulate your next days of reviews at a desired retention",
    description=(
        "Plays your next `days` days on your own cards (their memory after every review, under your "
        "FSRS weights; a deck of more than 300 cards on a sample of 300, each standing for its share: "
        "`sampled_cards`), scheduling at `desired_retention` within your tier's longest interval: "
        "reviews and minutes per day (from your answer times) and cards remembered. Also recommends "
        "the desired retention with the fewest reviews per remembered card and plays your tier ladder "
        "on the same cards. "
        "Deterministic (a fixed random seed). 422 `validation_error` for `days` outside 1-730, "
        "`desired_retention` outside 0.70-0.97, `new_cards_per_day` outside 0-500, or more cards x days "
        "than one answer simulates."
    ),
)
def simulation(request: HttpRequest, query: Query[SimulationQuery]) -> services.RetentionSimulation:
    return services.simulate_retention(
        user=request.auth,
        days=query.days,
        desired_retention=query.desired_retention,
        new_cards_per_day=query.new_cards_per_day,
    )
