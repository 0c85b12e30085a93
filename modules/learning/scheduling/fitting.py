"""Per-learner FSRS-6 fitting on numpy/scipy: ``fit_fsrs(events, timezone=..., day_start_hour=...)``.

Preprocessing follows the open-spaced-repetition benchmark (srs-benchmark) and fsrs-optimizer:

1. each card's reviews in time order; elapsed time in the learner's calendar days (``days``);
2. every review stays in its card's history, so same-day reviews still move the memory state
   (FSRS-6's short-term formula), but a review is a *training target* only if it is not the card's
   first and not on the same day as the previous review;
3. the outlier filter of fsrs-optimizer: for each first rating, the second reviews are grouped by
   their interval; the rarest intervals are dropped (fewest reviews first, longest interval first on
   ties) until 5% of that rating's second reviews (at least 20) would be exceeded; past that point a
   group is still dropped when it has fewer than 6 reviews or its interval is over 100 days (365 after
   Easy). A card whose second review is dropped gives no targets at all.

Fitting: the recency-weighted mean log loss of the targets (``recency_weights``: recent reviews
count more, the benchmark's "FSRS-6 recency") plus a weak Gaussian prior on the weights (centred on
the published defaults, spread = each weight's range, ``PRIOR_STRENGTH`` reviews' worth of pull; it
keeps weights the data cannot identify, e.g. Easy's for a learner who never answers Easy, where they
are) is minimised within the published bounds by full-batch L-BFGS-B. The gradient is exact: a
reverse pass over the vectorised forward (``fsrs6.log_loss_and_gradient``, checked against the
complex-step derivative ``Im f(w + ih e_k) / h`` in the tests). The complex-step Jacobian of every
prediction also scales the weights once by the Fisher information's diagonal (``_fisher_scale``).

Below ``MIN_TRAINING_REVIEWS`` targets the fit is not run and the defaults are returned (measured in
docs/scheduling.md: with fewer, a fit predicts the learner's next reviews worse than the defaults).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from modules.learning.scheduling.base import ReviewResult
from modules.learning.scheduling.days import DEFAULT_DAY_START_HOUR, LearnerDays
from modules.learning.scheduling.fsrs6 import (
    DEFAULT_FSRS_PARAMETERS,
    DEFAULT_WEIGHTS,
    LOWER_BOUNDS,
    UPPER_BOUNDS,
    WEIGHT_COUNT,
    CardHistories,
    FsrsParameters,
    forward,
    log_loss_and_gradient,
)

RATING_OF_RESULT: dict[ReviewResult, int] = {
    ReviewResult.FORGOT: 1,
    ReviewResult.PARTIAL: 2,
    ReviewResult.REMEMBERED: 3,
}
MIN_TRAINING_REVIEWS = 800
PRIOR_STRENGTH = 3.0
# the prior's spread per weight: its published range (a weak pull; measured in docs/scheduling.md)
PRIOR_SPREAD: tuple[float, ...] = tuple(
    high - low for low, high in zip(LOWER_BOUNDS, UPPER_BOUNDS, strict=True)
)
# L-BFGS-B's stopping rule. Measured on the benchmark's five folds (bench/recall_eval.py): 1e-12 /
# 1e-9 took 247-683 evaluations per fit; these take 131-372 and give the same log loss and RMSE(bins)
# to four digits (0.4324 / 0.0327); 1e-9 / 1e-6 moves RMSE(bins) to 0.0330.
FTOL = 1e-10
GTOL = 1e-7
_COMPLEX_STEP = 1e-30
_EPS = 1e-7


@dataclass(frozen=True)
class ReviewEvent:
    """One review of a learner: which card, when (timezone-aware), and the answer."""

    card_id: Hashable
    reviewed_at: datetime
    result: ReviewResult


@dataclass(frozen=True)
class ReviewTable:
    """A learner's reviews prepared for FSRS: histories plus, per review, what the benchmark needs.

    Every matrix is ``(cards, steps)`` aligned with ``histories`` (row = card, longest history
    first; column = review number - 1); padding past a card's end is False / 0 / +inf.
    """

    histories: CardHistories
    target: np.ndarray  # bool: a training/scoring target (not first, not same-day, not an outlier)
    recalled: np.ndarray  # float: 1.0 unless the rating was Again
    reviewed_at: np.ndarray  # float: POSIX seconds (inf in padding), for time-ordered splits
    lapses: np.ndarray  # int: Again answers on earlier days before this review (benchmark's binning)
    day_number: np.ndarray  # int: 1 + reviews on a later day than the previous, up to this one (its ``i``)
    card_ids: tuple[Hashable, ...]  # per row

    @property
    def target_count(self) -> int:
        return int(self.target.sum())

    @property
    def review_count(self) -> int:
        return int(self.histories.lengths.sum())


def prepare(
    card_ids: Sequence[Hashable],
    reviewed_at: Sequence[datetime],
    ratings: Sequence[int],
    *,
    days: LearnerDays,
) -> ReviewTable:
    """Group reviews by card, count calendar days, mark targets and apply the outlier filter.

    ``ratings`` are FSRS ratings 1..4. Reviews of one card at the same instant keep their input order.
    """
    if not len(card_ids) == len(reviewed_at) == len(ratings):
        raise ValueError("card_ids, reviewed_at and ratings must have the same length")
    for at in reviewed_at:
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("review times must be timezone-aware")
    epochs = np.fromiter((at.timestamp() for at in reviewed_at), dtype=np.float64, count=len(reviewed_at))
    return prepare_epochs(card_ids, epochs, ratings, days=days)


def prepare_epochs(
    card_ids: Sequence[Hashable],
    epochs: np.ndarray,
    ratings: Sequence[int] | np.ndarray,
    *,
    days: LearnerDays,
) -> ReviewTable:
    """``prepare`` with review times as POSIX seconds (what a database hands over fastest)."""
    epochs = np.asarray(epochs, dtype=np.float64)
    rating_values = np.asarray(ratings, dtype=np.int64)
    if not len(card_ids) == len(epochs) == len(rating_values):
        raise ValueError("card_ids, reviewed_at and ratings must have the same length")
    bad = ~np.isin(rating_values, (1, 2, 3, 4))
    if bad.any():
        raise ValueError(f"ratings are 1..4, got {ratings[int(np.argmax(bad))]!r}")
    if not np.isfinite(epochs).all():
        raise ValueError("review times must be finite")
    codes, cards = _card_codes(card_ids)
    # by card (in order of first appearance), then time, then input order
    order = np.lexsort((np.arange(len(codes)), epochs, codes))
    codes, epochs, rating_values = codes[order], epochs[order], rating_values[order]
    day_numbers = days.days_of_epochs(epochs)
    first_of_card = np.ones(len(codes), dtype=bool)
    first_of_card[1:] = codes[1:] != codes[:-1]
    elapsed = np.zeros(len(codes))
    elapsed[1:] = np.maximum(day_numbers[1:] - day_numbers[:-1], 0)
    elapsed[first_of_card] = 0.0
    histories = CardHistories.from_flat(codes, elapsed, rating_values, card_count=len(cards))
    shape = histories.elapsed.shape
    present = np.arange(shape[1])[None, :] < histories.lengths[:, None]
    reviewed = np.full(shape, np.inf)
    reviewed[histories.flat_rows, histories.flat_steps] = epochs
    recalled = (histories.ratings > 1).astype(np.float64)
    later = present & (np.arange(shape[1]) > 0)[None, :]  # not a card's first review
    lapse_now = later & (histories.ratings == 1) & (histories.elapsed >= 1)
    lapses = np.zeros(shape, dtype=np.int64)
    lapses[:, 1:] = np.cumsum(lapse_now, axis=1)[:, :-1]
    target = later & (histories.elapsed >= 1)
    day_number = 1 + np.cumsum(target, axis=1)
    target &= _kept_by_outlier_filter(histories)[:, None]
    return ReviewTable(
        histories=histories,
        target=target,
        recalled=recalled,
        reviewed_at=reviewed,
        lapses=lapses,
        day_number=day_number,
        card_ids=tuple(cards[int(card)] for card in histories.order),
    )


def _card_codes(card_ids: Sequence[Hashable] | np.ndarray) -> tuple[np.ndarray, list[Hashable]]:
    """Each review's card numbered 0.. in order of first appearance, and the cards in that order.
    Integer ids in a numpy array are numbered by numpy (a million reviews: 0.1 s, not 0.6)."""
    if isinstance(card_ids, np.ndarray) and card_ids.dtype.kind in "iu":
        unique, first, inverse = np.unique(card_ids, return_index=True, return_inverse=True)
        appearance = np.argsort(first, kind="stable")
        rank = np.empty(len(unique), dtype=np.int64)
        rank[appearance] = np.arange(len(unique))
        return rank[inverse.reshape(-1)], unique[appearance].tolist()
    index: dict[Hashable, int] = {}
    codes = np.fromiter((index.setdefault(card, len(index)) for card in card_ids), np.int64, len(card_ids))
    return codes, list(index)


def _kept_by_outlier_filter(histories: CardHistories) -> np.ndarray:
    """Cards kept by fsrs-optimizer's outlier filter on (first rating, interval to the second review).

    As in the benchmark, a card's "second review" is its first review on a later day than its first
    (same-day reviews are not counted: ``i`` there numbers only reviews after at least a day), and
    its interval is that review's elapsed days.
    """
    kept = np.ones(len(histories.lengths), dtype=bool)
    if histories.elapsed.shape[1] < 2:
        return kept
    steps = np.arange(histories.elapsed.shape[1])
    present = steps[None, :] < histories.lengths[:, None]
    later_day = present & (steps > 0)[None, :] & (histories.elapsed >= 1)
    has_second = later_day.any(axis=1)
    second_step = np.argmax(later_day, axis=1)
    first = histories.ratings[:, 0]
    second_interval = histories.elapsed[np.arange(len(second_step)), second_step]
    for rating in np.unique(first[has_second]):
        in_group = has_second & (first == rating)
        intervals, counts = np.unique(second_interval[in_group], return_counts=True)
        total = int(counts.sum())
        budget = max(total * 0.05, 20)
        longest_limit = 365 if rating == 4 else 100
        removed = 0
        # rarest interval first; among equally rare ones, the longest first
        for index in sorted(range(len(intervals)), key=lambda i: (counts[i], -intervals[i])):
            count, interval = int(counts[index]), float(intervals[index])
            if removed + count >= budget and not (count < 6 or interval > longest_limit):
                continue
            kept[in_group & (second_interval == interval)] = False
            removed += count
    return kept


def table_from_events(events: Sequence[ReviewEvent], *, days: LearnerDays) -> ReviewTable:
    for event in events:
        if not isinstance(event.result, ReviewResult):
            raise ValueError(f"result must be a ReviewResult, got {event.result!r}")
    return prepare(
        [event.card_id for event in events],
        [event.reviewed_at for event in events],
        [RATING_OF_RESULT[event.result] for event in events],
        days=days,
    )


# --- loss and fit -----------------------------------------------------------------------------------


def mean_log_loss(weights: Sequence[float], table: ReviewTable, mask: np.ndarray | None = None) -> float:
    """Mean log loss of the model's predictions on the targets (``mask`` narrows them further)."""
    chosen = table.target if mask is None else table.target & mask
    if not chosen.any():
        raise ValueError("no targets to score")
    p = np.clip(forward(np.asarray(weights, dtype=np.float64), table.histories)[0][chosen], _EPS, 1 - _EPS)
    y = table.recalled[chosen]
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def predict(weights: Sequence[float], table: ReviewTable) -> np.ndarray:
    """The model's recall prediction before every review, ``(cards, steps)`` (1 for first reviews)."""
    return forward(np.asarray(weights, dtype=np.float64), table.histories)[0]


@dataclass(frozen=True)
class FitReport:
    parameters: FsrsParameters
    log_loss_default: float
    log_loss_fitted: float
    targets: int
    evaluations: int
    converged: bool


def _fisher_scale(weights: np.ndarray, table: ReviewTable, chosen: np.ndarray) -> np.ndarray:
    """sqrt of the Fisher information's diagonal per weight: how sharply the data pins each weight.

    Per-review derivatives of R come from one complex-step forward pass (21 perturbed copies).
    L-BFGS-B then works on ``w * scale``, which makes the problem far better conditioned (about three
    times fewer evaluations than on raw or range-scaled weights, measured on the shared log).
    """
    perturbed = weights[None, :] + np.eye(WEIGHT_COUNT) * (1j * _COMPLEX_STEP)
    predictions = forward(perturbed, table.histories)[:, chosen]
    p = np.clip(np.real(predictions[0]), _EPS, 1 - _EPS)
    jacobian = np.imag(predictions) / _COMPLEX_STEP  # (21, targets)
    information = (jacobian**2 / (p * (1 - p))).mean(axis=1)
    return np.sqrt(information) + 1e-3


def recency_weights(table: ReviewTable, chosen: np.ndarray) -> np.ndarray:
    """Per-target weights growing with time: ``0.25 + 0.75 x^3``, x the target's rank in time (0..1).

    The benchmark's "FSRS-6 recency" variant: a learner changes (this log's recall rate climbs from
    0.58 to 0.82), so recent reviews say more about the next ones.
    """
    flat = np.flatnonzero(chosen.ravel())
    weights = np.zeros(chosen.size)
    if len(flat) == 1:
        weights[flat] = 1.0
    elif len(flat) > 1:
        ranks = np.empty(len(flat))
        ranks[np.argsort(table.reviewed_at.ravel()[flat], kind="stable")] = np.arange(len(flat))
        weights[flat] = 0.25 + 0.75 * (ranks / (len(flat) - 1)) ** 3
    return weights.reshape(chosen.shape)


def fit_table(
    table: ReviewTable,
    mask: np.ndarray | None = None,
    *,
    initial: Sequence[float] = DEFAULT_WEIGHTS,
    prior_strength: float = PRIOR_STRENGTH,
    recency: bool = True,
    max_iterations: int = 1000,
) -> FitReport:
    """Fit the 21 weights to ``table``'s targets (narrowed by ``mask``); no fallback here.

    Minimises the (recency-weighted) mean log loss plus the prior, by L-BFGS-B within the bounds.
    """
    from scipy.optimize import minimize  # imported when fitting: the web process rarely needs scipy
    from threadpoolctl import threadpool_limits

    chosen = table.target if mask is None else table.target & mask
    targets = int(chosen.sum())
    if not targets:
        raise ValueError("no targets to fit")
    sample_weight = recency_weights(table, chosen) if recency else chosen.astype(np.float64)
    sample_weight = sample_weight / sample_weight.sum()
    lower, upper = np.array(LOWER_BOUNDS), np.array(UPPER_BOUNDS)
    defaults = np.array(DEFAULT_WEIGHTS)
    prior_scale = np.array(PRIOR_SPREAD)
    start = np.clip(np.asarray(initial, dtype=np.float64), lower, upper)
    scale = _fisher_scale(start, table, chosen)
    evaluations = 0

    def loss_and_gradient(x: np.ndarray) -> tuple[float, np.ndarray]:
        nonlocal evaluations
        evaluations += 1
        w = np.clip(x / scale, lower, upper)
        value, gradient = log_loss_and_gradient(w, table.histories, sample_weight, table.recalled, _EPS)
        z = (w - defaults) / prior_scale
        value += prior_strength / targets * float(z @ z)
        gradient = gradient + 2 * prior_strength / targets * z / prior_scale
        return value, gradient / scale

    # one BLAS thread: L-BFGS-B's calls are tiny, and extra threads only spin (measured: 40% more CPU)
    with threadpool_limits(limits=1):
        result = minimize(
            loss_and_gradient,
            start * scale,
            jac=True,
            method="L-BFGS-B",
            bounds=list(zip(lower * scale, upper * scale, strict=True)),
            options={"maxiter": max_iterations, "ftol": FTOL, "gtol": GTOL},
        )
    weights = tuple(float(value) for value in np.clip(result.x / scale, lower, upper))
    return FitReport(
        parameters=FsrsParameters(weights=weights, trained_on=targets),
        log_loss_default=mean_log_loss(DEFAULT_WEIGHTS, table, chosen),
        log_loss_fitted=mean_log_loss(weights, table, chosen),
        targets=targets,
        evaluations=evaluations,
        converged=bool(result.success),
    )


def fit_fsrs(
    events: Sequence[ReviewEvent], *, timezone: str = "UTC", day_start_hour: int = DEFAULT_DAY_START_HOUR
) -> FsrsParameters:
    """FSRS-6 weights fitted to one learner's reviews; the defaults when there are too few.

    ``timezone`` is the learner's IANA zone (:class:`~modules.learning.scheduling.days.InvalidTimezone`
    when it does not exist) and ``day_start_hour`` the local hour their day starts. The result's
    ``trained_on`` counts the reviews it was fitted on (0: the defaults).
    """
    table = table_from_events(events, days=LearnerDays(timezone, day_start_hour))
    if table.target_count < MIN_TRAINING_REVIEWS:
        return DEFAULT_FSRS_PARAMETERS
    return fit_table(table).parameters
