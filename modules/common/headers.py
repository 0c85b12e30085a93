"""Request headers shared by several routers."""

from __future__ import annotations

from typing import Any

from ninja import Header

from modules.common.idempotency import KEY_MAX_LENGTH


def idempotency_key(description: str) -> Any:
    """An optional ``Idempotency-Key`` header (printable ASCII, 1-255 characters) for a view
    parameter: ``key: str | None = idempotency_key("...")``."""
    return Header(
        None,
        alias="Idempotency-Key",
        min_length=1,
        max_length=KEY_MAX_LENGTH,
        pattern=r"^[\x20-\x7e]+$",
        description=description,
    )
