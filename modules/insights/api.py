"""The insights router, mounted at /api/analytics/."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["analytics"])
