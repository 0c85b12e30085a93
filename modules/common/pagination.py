"""Pagination of the contract: offset lists take ``limit`` (default 20, max 100) and ``offset``; cursor
lists take ``cursor`` and ``page_size`` (default 20, 1 to 100) and use ``CursorPagination`` below."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pydantic
from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Field, QuerySet
from django.http import HttpRequest
from ninja import Field as NinjaField
from ninja import Schema
from ninja import pagination as ninja_pagination
from ninja.errors import ValidationError

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_OFFSET = 1_000_000  # keeps OFFSET inside a 64-bit integer and a page within reach of an index scan
MAX_CURSOR_LENGTH = 512  # a cursor encodes a position, an offset and a direction: far less than this

PageUrl = Annotated[str, NinjaField(json_schema_extra={"format": "uri"})]


class LimitOffsetPagination(ninja_pagination.LimitOffsetPagination):
    """Ninja's offset pagination with ``offset`` bounded (``MAX_OFFSET``); use it for every offset list.

    Ninja's ``offset`` has no upper bound, and past PostgreSQL's ``bigint`` the query cannot run. Past
    ``MAX_OFFSET`` it answers 422 like any other out-of-range parameter, and the bound shows in the
    OpenAPI schema.
    """

    class Input(Schema):
        limit: int = NinjaField(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
        offset: int = NinjaField(0, ge=0, le=MAX_OFFSET)


class CursorPagination(ninja_pagination.CursorPagination):
    """Ninja's cursor pagination, with ``page_size`` bounded, the cursors in the answer and a crafted or
    corrupted ``cursor`` answered 422, never 500.

    Use it for every cursor list (``@paginate(CursorPagination, ordering=(...))``). ``page_size`` outside
    1..``MAX_PAGE_SIZE`` answers 422 (Ninja clamps it silently). A page gives ``next`` and ``previous`` as
    absolute URLs and, beside them, ``next_cursor`` and ``previous_cursor``: the ``cursor`` values those
    URLs carry, for a client that builds its own URLs. A cursor is base64
    of ``p`` (the position: the first ordering field's value), ``o`` (an offset) and ``r`` (reverse);
    Ninja checks none of them before querying, so garbage base64, a position of the wrong type (or with
    NUL characters) or an offset out of range reached the database or pydantic unguarded. Here the
    position must be a value the ordering field accepts (``Field.to_python``), or the list answers
    ``422 validation_error`` at ``["query", "cursor"]``.
    """

    class Input(Schema):
        page_size: int = NinjaField(
            DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description=f"Items per page, 1 to {MAX_PAGE_SIZE}."
        )
        cursor: str | None = NinjaField(
            None,
            max_length=MAX_CURSOR_LENGTH,
            description="A page's `next_cursor` or `previous_cursor`; omit it for the first page.",
        )

    class Output(Schema):
        next: PageUrl | None = NinjaField(description="The next page's URL; null on the last page.")
        previous: PageUrl | None = NinjaField(description="The previous page's URL; null on the first page.")
        next_cursor: str | None = NinjaField(
            description="The `cursor` of the next page; null on the last page."
        )
        previous_cursor: str | None = NinjaField(
            description="The `cursor` of the previous page; null on the first page."
        )
        results: list[Any]

    INVALID_CURSOR: ClassVar[dict[str, Any]] = {
        "type": "value_error",
        "loc": ["query", "cursor"],
        "msg": "Invalid cursor.",
    }

    def paginate_queryset(
        self, queryset: QuerySet, pagination: Any, request: HttpRequest, **params: Any
    ) -> Any:
        self._validated_cursor(queryset, pagination.cursor)
        page = super().paginate_queryset(queryset, pagination, request, **params)
        page["next_cursor"] = _cursor_of(page["next"])
        page["previous_cursor"] = _cursor_of(page["previous"])
        return page

    def _validated_cursor(
        self, queryset: QuerySet, encoded: str | None
    ) -> ninja_pagination.CursorPagination.Cursor:
        try:
            cursor = self.Cursor.from_encoded_param(encoded)
            if cursor.p is not None:
                if "\x00" in cursor.p:
                    raise ValueError("NUL in position")
                field = self._position_field(queryset)
                if field is not None:
                    field.to_python(cursor.p)
        except (pydantic.ValidationError, ValidationError, DjangoValidationError, ValueError) as exc:
            raise ValidationError([dict(self.INVALID_CURSOR)]) from exc
        return cursor

    def _position_field(self, queryset: QuerySet) -> Field | None:
        try:
            field = queryset.model._meta.get_field(self._order_attribute)
        except FieldDoesNotExist:  # an annotation or a related path: the database judges the value
            return None
        return field if isinstance(field, Field) else None


def _cursor_of(url: str | None) -> str | None:
    """The ``cursor`` query parameter of a page URL Ninja built."""
    if url is None:
        return None
    return parse_qs(urlsplit(url).query).get("cursor", [None])[0]
