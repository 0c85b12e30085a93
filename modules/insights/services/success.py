"""What counts as a success: ``remembered`` counts 1, ``partial`` 1/2, ``forgot`` 0, and a success rate
is the mean over the reviews it covers (``None`` when there are none).

The same rule gives the dashboard's rates, the categories' rates, the snapshots' ``success_rate`` and
the observed recall of the retention view, so every number agrees with every other.
"""

from __future__ import annotations

from collections.abc import Sequence

from modules.learning import services as learning

PARTIAL_CREDIT = 0.5


def success_rate(*, remembered: int, partial: int, forgot: int) -> float | None:
    """(remembered + partial / 2) / reviews, rounded to 4 places; None without reviews."""
    total = remembered + partial + forgot
    if not total:
        return None
    return round((remembered + PARTIAL_CREDIT * partial) / total, 4)


def rate_of(counts: Sequence[learning.ResultCounts]) -> float | None:
    """The success rate of all the reviews in ``counts`` together."""
    return success_rate(
        remembered=sum(c.remembered for c in counts),
        partial=sum(c.partial for c in counts),
        forgot=sum(c.forgot for c in counts),
    )


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
