"""Learning's routers: ``content_router`` at /api/content/, ``review_router`` at /api/review/.

Thin: parse, call a service, shape the answer. Errors are the services' domain errors.
No ``from __future__ import annotations`` here: Ninja resolves the annotations of paginated views
outside this module, where string annotations would not resolve.
"""

from typing import Any

import pydantic
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.dateparse import parse_datetime
from ninja import Header, Query, Router, Status
from ninja.errors import ValidationError
from ninja.pagination import CursorPagination, LimitOffsetPagination, paginate

from modules.learning import services
from modules.learning.schemas import (
    CategoryIn,
    CategoryOut,
    CategoryPatch,
    CompleteIn,
    ContentFilters,
    ContentIn,
    ContentOut,
    ContentPatch,
    ForecastDayOut,
    HistoryOut,
    QueueOut,
    ReviewOutcomeOut,
)

content_router = Router(tags=["content"])
review_router = Router(tags=["review"])


class HistoryCursorPagination(CursorPagination):
    """Ninja's cursor pagination, with a crafted or corrupted cursor answered 422, not 500.

    A cursor is base64 of ``p`` (the position: a ``reviewed_at``), ``o`` (an offset) and ``r``;
    Ninja checks neither the position's format nor the offset's range before querying.
    """

    def paginate_queryset(
        self, queryset: QuerySet, pagination: Any, request: HttpRequest, **params: Any
    ) -> Any:
        try:
            cursor = self.Cursor.from_encoded_param(pagination.cursor)
            if cursor.p is not None and parse_datetime(cursor.p) is None:
                raise ValueError(cursor.p)
        except (pydantic.ValidationError, ValidationError, ValueError, UnicodeDecodeError) as exc:
            raise ValidationError(
                [{"loc": ["query", "cursor"], "msg": "Invalid cursor.", "type": "value_error"}]
            ) from exc
        return super().paginate_queryset(queryset, pagination, request, **params)


# --- Categories ----------------------------------------------------------------------------------


@content_router.get("/categories/", response=list[CategoryOut], summary="Your categories")
@paginate(LimitOffsetPagination)
def list_categories(request: HttpRequest) -> Any:
    return services.category_list(user=request.auth)


@content_router.post("/categories/", response={201: CategoryOut}, summary="Create a category")
def create_category(request: HttpRequest, payload: CategoryIn) -> Status:
    return Status(
        201, services.create_category(user=request.auth, name=payload.name, description=payload.description)
    )


@content_router.patch(
    "/categories/{category_id}/", response=CategoryOut, summary="Rename or describe a category"
)
def update_category(request: HttpRequest, category_id: int, payload: CategoryPatch) -> dict[str, Any]:
    return services.update_category(
        user=request.auth, category_id=category_id, changes=payload.model_dump(exclude_unset=True)
    )


@content_router.delete(
    "/categories/{category_id}/", response={204: None}, summary="Delete a category (its content stays)"
)
def delete_category(request: HttpRequest, category_id: int) -> Status:
    services.delete_category(user=request.auth, category_id=category_id)
    return Status(204, None)


# --- Content -------------------------------------------------------------------------------------


@content_router.get("/", response=list[ContentOut], summary="Your content (filter, search, order)")
@paginate(LimitOffsetPagination)
def list_content(request: HttpRequest, filters: Query[ContentFilters]) -> Any:
    return services.content_list(
        user=request.auth, category_id=filters.category, search=filters.search, ordering=filters.ordering
    )


@content_router.post("/", response={201: ContentOut}, summary="Save content; its first review is scheduled")
def create_content(request: HttpRequest, payload: ContentIn) -> Status:
    return Status(
        201,
        services.create_content(
            user=request.auth, title=payload.title, body=payload.body, category_id=payload.category_id
        ),
    )


@content_router.get("/{content_id}/", response=ContentOut, summary="One content with its review state")
def get_content(request: HttpRequest, content_id: int) -> dict[str, Any]:
    return services.content_detail(user=request.auth, content_id=content_id)


@content_router.put("/{content_id}/", response=ContentOut, summary="Replace a content")
def replace_content(request: HttpRequest, content_id: int, payload: ContentIn) -> dict[str, Any]:
    return services.update_content(user=request.auth, content_id=content_id, changes=payload.model_dump())


@content_router.patch("/{content_id}/", response=ContentOut, summary="Change some fields of a content")
def update_content(request: HttpRequest, content_id: int, payload: ContentPatch) -> dict[str, Any]:
    return services.update_content(
        user=request.auth, content_id=content_id, changes=payload.model_dump(exclude_unset=True)
    )


@content_router.delete("/{content_id}/", response={204: None}, summary="Delete a content and its reviews")
def delete_content(request: HttpRequest, content_id: int) -> Status:
    services.delete_content(user=request.auth, content_id=content_id)
    return Status(204, None)


# --- Reviews -------------------------------------------------------------------------------------


@review_router.get("/today/", response=QueueOut, summary="Everything due by the end of your local today")
def today(
    request: HttpRequest,
    limit: int | None = Query(None, ge=1, le=1000, description="Return at most this many items."),  # type: ignore[type-arg]
) -> dict[str, Any]:
    return services.review_queue(user=request.auth, limit=limit)


@review_router.post(
    "/complete/", response=ReviewOutcomeOut, summary="Record a review and reschedule the card"
)
def complete(
    request: HttpRequest,
    payload: CompleteIn,
    idempotency_key: str | None = Header(  # type: ignore[type-arg]
        None,
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x20-\x7e]+$",
        description="Any printable ASCII string, e.g. a UUID: the same key answers the first response.",
    ),
) -> dict[str, Any]:
    return services.complete_review(
        user=request.auth,
        content_id=payload.content_id,
        result=payload.result,
        time_spent_seconds=payload.time_spent_seconds,
        reviewed_at=payload.reviewed_at,
        idempotency_key=idempotency_key,
    )


@review_router.get("/history/", response=list[HistoryOut], summary="Your reviews, newest first (read-only)")
@paginate(HistoryCursorPagination, ordering=("-reviewed_at", "-id"))
def history(
    request: HttpRequest,
    content_id: int | None = Query(None, description="Only reviews of this content."),  # type: ignore[type-arg]
) -> Any:
    return services.review_history(user=request.auth, content_id=content_id)


@review_router.get("/forecast/", response=list[ForecastDayOut], summary="Reviews due per local day ahead")
def forecast(
    request: HttpRequest,
    days: int = Query(30, ge=1, le=365),  # type: ignore[type-arg]
) -> list[dict[str, Any]]:
    return services.forecast(user=request.auth, days=days)
