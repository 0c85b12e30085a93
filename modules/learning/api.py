"""Learning's routers: ``content_router`` at /api/content/, ``review_router`` at /api/review/."""

from __future__ import annotations

from ninja import Router

content_router = Router(tags=["content"])
review_router = Router(tags=["review"])
