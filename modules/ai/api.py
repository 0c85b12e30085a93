"""The AI router, mounted at /api/ai-review/."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["ai-review"])
