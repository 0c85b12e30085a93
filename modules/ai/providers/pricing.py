"""What a Claude call costs, from the token usage the API reports and a price table per model.

Prices are US dollars per million tokens (Anthropic's published list prices, 2025-2026). Prompt
caching, when it shows up in the usage, is billed at 1.25x the input price for cache writes and
0.1x for cache reads. A model missing from the table is priced at the table's highest rate and
logged, so a new model never makes spend look smaller than it is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

logger = logging.getLogger(__name__)

MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class Price:
    input_per_mtok: Decimal
    output_per_mtok: Decimal


def _price(inp: str, out: str) -> Price:
    return Price(Decimal(inp), Decimal(out))


# Longest matching prefix wins, so dated ids ("claude-sonnet-4-5-20250929") find their family.
PRICES: dict[str, Price] = {
    "claude-opus-4-6": _price("5", "25"),
    "claude-opus-4-5": _price("5", "25"),
    "claude-opus-4-1": _price("15", "75"),
    "claude-opus-4": _price("15", "75"),
    "claude-sonnet-4-6": _price("3", "15"),
    "claude-sonnet-4-5": _price("3", "15"),
    "claude-sonnet-4": _price("3", "15"),
    "claude-3-7-sonnet": _price("3", "15"),
    "claude-haiku-4-5": _price("1", "5"),
    "claude-3-5-haiku": _price("0.80", "4"),
    "claude-3-haiku": _price("0.25", "1.25"),
}
FALLBACK = max(PRICES.values(), key=lambda p: p.output_per_mtok)
CACHE_WRITE_FACTOR = Decimal("1.25")
CACHE_READ_FACTOR = Decimal("0.1")


def price_for(model: str) -> Price:
    matches = [prefix for prefix in PRICES if model.startswith(prefix)]
    if not matches:
        logger.warning("no price for model %s; using the highest known rate", model)
        return FALLBACK
    return PRICES[max(matches, key=len)]


def cost_usd(
    model: str,
    *,
    input_tokens: int,
    output_tokens: int,
    cache_creation_input_tokens: int = 0,
    cache_read_input_tokens: int = 0,
) -> Decimal:
    price = price_for(model)
    total = (
        Decimal(input_tokens) * price.input_per_mtok
        + Decimal(cache_creation_input_tokens) * price.input_per_mtok * CACHE_WRITE_FACTOR
        + Decimal(cache_read_input_tokens) * price.input_per_mtok * CACHE_READ_FACTOR
        + Decimal(output_tokens) * price.output_per_mtok
    ) / MILLION
    return total.quantize(Decimal("0.000001"))
