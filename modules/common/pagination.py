"""Offset pagination defaults of the contract: ``limit`` (default 20, max 100) and ``offset``."""

from __future__ import annotations

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
