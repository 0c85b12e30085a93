"""FSRS-6's memory model as plain math: one review at a time (floats) and many cards at once (numpy).

Memory state: stability ``S`` (days until recall falls to 90%) and difficulty ``D`` (1..10). With the
21 weights ``w`` and a rating ``G`` (1 Again, 2 Hard, 3 Good, 4 Easy):

- first review: ``S = w[G-1]``, ``D = D0(G) = w4 - exp(w5 (G-1)) + 1`` (clamped to 1..10);
- recall after ``t`` whole days: ``R = (1 + F t / S)^(-w20)`` with ``F = 0.9^(-1/w20) - 1``;
- a later review on another day (``t >= 1``), success (G > 1):
  ``S' = S (1 + e^w8 (11 - D) S^-w9 (e^(w10 (1 - R)) - 1) * (w15 if Hard) * (w16 if Easy))``;
  lapse (G = 1): ``S' = min(w11 D^-w12 ((S + 1)^w13 - 1) e^(w14 (1 - R)), S / e^(w17 w18))``;
- a same-day review (``t = 0``): ``S' = S e^(w17 (G - 3 + w18)) S^-w19``, never shrinking for G >= 3;
- difficulty after every review: ``D' = w7 D0(4) + (1 - w7) (D - w6 (G - 3) (10 - D) / 9)``, clamped;
- ``S`` is kept within [0.001, 36500] days.

This is the model of the ``fsrs`` package (py-fsrs 6) and of the open-spaced-repetition benchmark; the
weights' bounds are the package's published ones. :func:`forward` runs it over many cards at once, one
review step at a time (cards sorted by history length, so the cards still active at step ``k`` are a
prefix), and accepts complex weights (complex-step derivatives: the per-review Jacobian the fit uses to
scale the weights, and the check of :func:`log_loss_and_gradient`, the exact reverse-mode gradient).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from fsrs.scheduler import DEFAULT_PARAMETERS, LOWER_BOUNDS_PARAMETERS, UPPER_BOUNDS_PARAMETERS

WEIGHT_COUNT = 21
S_MIN, S_MAX = 0.001, 36_500.0
D_MIN, D_MAX = 1.0, 10.0
DEFAULT_WEIGHTS: tuple[float, ...] = tuple(float(value) for value in DEFAULT_PARAMETERS)
LOWER_BOUNDS: tuple[float, ...] = tuple(float(value) for value in LOWER_BOUNDS_PARAMETERS)
UPPER_BOUNDS: tuple[float, ...] = tuple(float(value) for value in UPPER_BOUNDS_PARAMETERS)


@dataclass(frozen=True)
class FsrsParameters:
    """FSRS-6's 21 weights, within their published bounds.

    ``trained_on`` is the number of reviews the weights were fitted on (0: the published defaults, or
    a learner with too little history, see ``fitting.MIN_TRAINING_REVIEWS``).
    """

    weights: tuple[float, ...] = DEFAULT_WEIGHTS
    trained_on: int = 0

    def __post_init__(self) -> None:
        weights = tuple(float(value) for value in self.weights)
        if len(weights) != WEIGHT_COUNT:
            raise ValueError(f"FSRS-6 has {WEIGHT_COUNT} weights, got {len(weights)}")
        for index, (value, low, high) in enumerate(zip(weights, LOWER_BOUNDS, UPPER_BOUNDS, strict=True)):
            if not (math.isfinite(value) and low - 1e-9 <= value <= high + 1e-9):
                raise ValueError(f"weight w{index} = {value} is outside [{low}, {high}]")
        if self.trained_on < 0:
            raise ValueError("trained_on cannot be negative")
        object.__setattr__(self, "weights", weights)

    @property
    def is_default(self) -> bool:
        return self.weights == DEFAULT_WEIGHTS

    @property
    def decay(self) -> float:
        return self.weights[20]

    def __len__(self) -> int:
        return WEIGHT_COUNT

    def __getitem__(self, index: int) -> float:
        return self.weights[index]


DEFAULT_FSRS_PARAMETERS = FsrsParameters()


# --- one review at a time ---------------------------------------------------------------------------


def recall(weights: Sequence[float], *, elapsed_days: float, stability: float) -> float:
    """R after ``elapsed_days`` for a memory of ``stability`` (0.9 when they are equal)."""
    decay = weights[20]
    factor = 0.9 ** (-1 / decay) - 1
    return (1 + factor * max(elapsed_days, 0.0) / max(stability, S_MIN)) ** -decay


def interval_days(weights: Sequence[float], *, stability: float, desired_retention: float) -> float:
    """Days (fractional) until R falls to ``desired_retention``; the inverse of :func:`recall`."""
    decay = weights[20]
    factor = 0.9 ** (-1 / decay) - 1
    return stability / factor * (desired_retention ** (-1 / decay) - 1)


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def initial_difficulty(weights: Sequence[float], rating: int) -> float:
    return weights[4] - math.exp(weights[5] * (rating - 1)) + 1


def initial_state(weights: Sequence[float], rating: int) -> tuple[float, float]:
    """(stability, difficulty) after a card's first review."""
    return (
        _clamp(weights[rating - 1], S_MIN, S_MAX),
        _clamp(initial_difficulty(weights, rating), D_MIN, D_MAX),
    )


def next_state(
    weights: Sequence[float], *, stability: float, difficulty: float, elapsed_days: int, rating: int
) -> tuple[float, float]:
    """(stability, difficulty) after a review ``elapsed_days`` whole days after the previous one."""
    w = weights
    if elapsed_days < 1:
        increase = math.exp(w[17] * (rating - 3 + w[18])) * stability ** -w[19]
        if rating >= 3:
            increase = max(increase, 1.0)
        new_stability = stability * increase
    else:
        r = recall(w, elapsed_days=elapsed_days, stability=stability)
        if rating > 1:
            new_stability = stability * (
                1
                + math.exp(w[8])
                * (11 - difficulty)
                * stability ** -w[9]
                * (math.exp(w[10] * (1 - r)) - 1)
                * (w[15] if rating == 2 else 1.0)
                * (w[16] if rating == 4 else 1.0)
            )
        else:
            new_stability = min(
                w[11] * difficulty ** -w[12] * ((stability + 1) ** w[13] - 1) * math.exp(w[14] * (1 - r)),
                stability / math.exp(w[17] * w[18]),
            )
    damped = difficulty - w[6] * (rating - 3) * (10 - difficulty) / 9
    new_difficulty = w[7] * initial_difficulty(w, 4) + (1 - w[7]) * damped
    return _clamp(new_stability, S_MIN, S_MAX), _clamp(new_difficulty, D_MIN, D_MAX)


# --- many cards at once -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CardHistories:
    """Review histories of many cards as padded matrices, longest history first.

    ``elapsed[c, k]`` is whole days between review ``k - 1`` and ``k`` of card ``c`` (0 for k = 0 and
    for same-day reviews), ``ratings[c, k]`` its rating 1..4, ``lengths[c]`` the number of reviews;
    ``active[k]`` is how many cards have a review ``k`` (a prefix, since lengths are sorted);
    ``order[row]`` is the position, in the caller's sequences, of the card at ``row``.
    """

    elapsed: np.ndarray  # (cards, steps) float64
    ratings: np.ndarray  # (cards, steps) int64, 0 past a card's end
    lengths: np.ndarray  # (cards,) int64, descending
    active: tuple[int, ...]
    order: np.ndarray  # (cards,) int64
    # for histories built by ``from_flat``: each flat review's (row, step), in the flat order
    flat_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    flat_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @classmethod
    def from_flat(
        cls, cards: np.ndarray, elapsed: np.ndarray, ratings: np.ndarray, *, card_count: int
    ) -> CardHistories:
        """Histories from flat reviews sorted by card (codes ``0..card_count - 1``, every code
        present) then time: the same matrices as ``from_sequences`` on the cards in code order."""
        cards = np.asarray(cards, dtype=np.int64)
        lengths = np.bincount(cards, minlength=card_count).astype(np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        steps_of = np.arange(len(cards)) - starts[cards]
        order = np.argsort(-lengths, kind="stable")
        row_of = np.empty(card_count, dtype=np.int64)
        row_of[order] = np.arange(card_count)
        steps = int(lengths.max()) if card_count else 0
        elapsed_matrix = np.zeros((card_count, steps))
        rating_matrix = np.zeros((card_count, steps), dtype=np.int64)
        rows = row_of[cards]
        elapsed_matrix[rows, steps_of] = elapsed
        rating_matrix[rows, steps_of] = ratings
        sorted_lengths = lengths[order]
        ascending = sorted_lengths[::-1]
        active = tuple(
            int(count) for count in card_count - np.searchsorted(ascending, np.arange(steps), side="right")
        )
        return cls(elapsed_matrix, rating_matrix, sorted_lengths, active, order, rows, steps_of)

    @classmethod
    def from_sequences(
        cls, elapsed: Sequence[Sequence[float]], ratings: Sequence[Sequence[int]]
    ) -> CardHistories:
        """Histories given card by card (each non-empty, same order); sorted here, longest first."""
        lengths = np.array([len(days) for days in elapsed], dtype=np.int64)
        order = np.argsort(-lengths, kind="stable")
        steps = int(lengths.max()) if len(lengths) else 0
        elapsed_matrix = np.zeros((len(lengths), steps))
        rating_matrix = np.zeros((len(lengths), steps), dtype=np.int64)
        for row, card in enumerate(order):
            elapsed_matrix[row, : lengths[card]] = elapsed[card]
            rating_matrix[row, : lengths[card]] = ratings[card]
        sorted_lengths = lengths[order]
        active = tuple(int(np.count_nonzero(sorted_lengths > step)) for step in range(steps))
        return cls(elapsed_matrix, rating_matrix, sorted_lengths, active, order)


def _less(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    return np.less(np.real(a), np.real(b))


def _clip(values: np.ndarray, low: float, high: float) -> np.ndarray:
    real = np.real(values)
    return np.where(real < low, low, np.where(real > high, high, values))


def forward(weights: np.ndarray, histories: CardHistories) -> np.ndarray:
    """Predicted recall before every review: ``(batch, cards, steps)`` for weights ``(batch, 21)``.

    Column 0 (first reviews) and padding are 1. Works on complex weights (the complex-step gradient):
    every branch and clamp compares real parts only.
    """
    return _run(np.atleast_2d(weights), histories)[0]


def final_states(weights: Sequence[float], histories: CardHistories) -> tuple[np.ndarray, np.ndarray]:
    """(stability, difficulty) of every card after its whole history, in ``histories``' order."""
    _, stability, difficulty = _run(np.asarray(weights, dtype=np.float64)[None, :], histories)
    return stability[0], difficulty[0]


def _run(w: np.ndarray, histories: CardHistories) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    batch = w.shape[0]
    cards, steps = histories.elapsed.shape
    dtype = np.result_type(w.dtype, np.float64)
    predictions = np.ones((batch, cards, steps), dtype=dtype)
    if steps == 0:
        empty = np.zeros((batch, 0), dtype=dtype)
        return predictions, empty, empty
    first = histories.ratings[:, 0]
    stability = _clip(w[:, first - 1], S_MIN, S_MAX).astype(dtype)
    difficulty = _clip(w[:, 4:5] - np.exp(w[:, 5:6] * (first - 1)) + 1, D_MIN, D_MAX).astype(dtype)
    c = [w[:, index : index + 1] for index in range(WEIGHT_COUNT)]
    decay = c[20]
    factor = 0.9 ** (-1 / decay) - 1
    mean_difficulty = c[4] - np.exp(3 * c[5]) + 1  # D0(Easy), unclamped: the mean-reversion target
    short_lapse_cap = np.exp(c[17] * c[18])
    for step in range(1, steps):
        n = histories.active[step]
        s, d = stability[:, :n], difficulty[:, :n]
        t = histories.elapsed[:n, step]
        g = histories.ratings[:n, step]
        r = (1 + factor * t / s) ** -decay
        predictions[:, :n, step] = r
        short = np.exp(c[17] * (g - 3 + c[18])) * s ** -c[19]
        short = s * np.where((g >= 3) & _less(short, 1.0), 1.0, short)
        boost = np.where(g == 2, c[15], 1.0) * np.where(g == 4, c[16], 1.0)
        success = s * (1 + np.exp(c[8]) * (11 - d) * s ** -c[9] * (np.exp(c[10] * (1 - r)) - 1) * boost)
        lapse = c[11] * d ** -c[12] * ((s + 1) ** c[13] - 1) * np.exp(c[14] * (1 - r))
        lapse_cap = s / short_lapse_cap
        lapse = np.where(_less(lapse_cap, lapse), lapse_cap, lapse)
        new_s = np.where(t < 1, short, np.where(g > 1, success, lapse))
        new_d = c[7] * mean_difficulty + (1 - c[7]) * (d - c[6] * (g - 3) * (10 - d) / 9)
        stability[:, :n] = _clip(new_s, S_MIN, S_MAX)
        difficulty[:, :n] = _clip(new_d, D_MIN, D_MAX)
    return predictions, stability, difficulty


# --- the loss and its exact gradient (reverse mode) -------------------------------------------------


def log_loss_and_gradient(
    weights: Sequence[float],
    histories: CardHistories,
    sample_weight: np.ndarray,
    recalled: np.ndarray,
    eps: float = 1e-7,
) -> tuple[float, np.ndarray]:
    """``sum(sample_weight * log loss)`` over all reviews and its gradient in the 21 weights.

    ``sample_weight`` and ``recalled`` are ``(cards, steps)`` in ``histories``' order (0 weight: not a
    target). The forward pass keeps each step's state; the backward pass walks the steps in reverse
    with the hand-derived partial derivatives of :func:`next_state` (checked against the
    complex-step derivative of :func:`forward` in the tests).
    """
    w = np.asarray(weights, dtype=np.float64)
    steps = histories.elapsed.shape[1]
    grad = np.zeros(WEIGHT_COUNT)
    if steps == 0:
        return 0.0, grad
    first = histories.ratings[:, 0]
    s_raw0 = w[first - 1]
    d_raw0 = w[4] - np.exp(w[5] * (first - 1)) + 1
    stability = np.clip(s_raw0, S_MIN, S_MAX)
    difficulty = np.clip(d_raw0, D_MIN, D_MAX)
    decay = w[20]
    factor = 0.9 ** (-1 / decay) - 1
    dfactor = (factor + 1) * math.log(0.9) / decay**2  # dF/d(decay)
    mean_difficulty = w[4] - math.exp(3 * w[5]) + 1
    cap_divisor = math.exp(w[17] * w[18])
    saved: list[tuple[np.ndarray, np.ndarray]] = []
    value = 0.0
    for step in range(1, steps):
        n = histories.active[step]
        s, d = stability[:n].copy(), difficulty[:n].copy()
        saved.append((s, d))
        t = histories.elapsed[:n, step]
        g = histories.ratings[:n, step]
        r = (1 + factor * t / s) ** -decay
        sw = sample_weight[:n, step]
        if sw.any():
            y = recalled[:n, step]
            p = np.clip(r, eps, 1 - eps)
            value -= float(np.sum(sw * (y * np.log(p) + (1 - y) * np.log(1 - p))))
        new_s = _new_stability_value(w, s, d, t, g, r, cap_divisor)
        new_d = w[7] * mean_difficulty + (1 - w[7]) * (d - w[6] * (g - 3) * (10 - d) / 9)
        stability[:n] = np.clip(new_s, S_MIN, S_MAX)
        difficulty[:n] = np.clip(new_d, D_MIN, D_MAX)

    adj_s = np.zeros(len(histories.lengths))
    adj_d = np.zeros(len(histories.lengths))
    for step in range(steps - 1, 0, -1):
        n = histories.active[step]
        s, d = saved[step - 1]
        t = histories.elapsed[:n, step]
        g = histories.ratings[:n, step]
        u = 1 + factor * t / s
        r = u**-decay
        new_s, parts = _new_stability(w, s, d, t, g, r, cap_divisor)
        damped = d - w[6] * (g - 3) * (10 - d) / 9
        new_d = w[7] * mean_difficulty + (1 - w[7]) * damped
        gs = adj_s[:n] * ((new_s >= S_MIN) & (new_s <= S_MAX))
        gd = adj_d[:n] * ((new_d >= D_MIN) & (new_d <= D_MAX))
        # difficulty
        grad[7] += np.sum(gd * (mean_difficulty - damped))
        grad[6] += np.sum(gd * (1 - w[7]) * (-(g - 3) * (10 - d) / 9))
        grad_mean = np.sum(gd) * w[7]
        grad[4] += grad_mean
        grad[5] += grad_mean * (-3 * math.exp(3 * w[5]))
        prev_d = gd * (1 - w[7]) * (1 + w[6] * (g - 3) / 9)
        # stability, branch by branch
        ds, dd, dr, dw = parts
        prev_s = gs * ds
        prev_d = prev_d + gs * dd
        for index, partial in dw.items():
            grad[index] += np.sum(gs * partial)
        adj_r = gs * dr
        sw = sample_weight[:n, step]
        if sw.any():
            y = recalled[:n, step]
            inside = (sw > 0) & (r > eps) & (r < 1 - eps)
            safe = np.where(inside, r, 0.5)
            adj_r = adj_r - np.where(inside, sw * (y / safe - (1 - y) / (1 - safe)), 0.0)
        # r = u^-decay, u = 1 + F t / s
        du = -decay * r / u
        prev_s = prev_s + adj_r * du * (-factor * t / s**2)
        grad[20] += np.sum(adj_r * (r * -np.log(u) + du * dfactor * t / s))
        adj_s[:n] = prev_s
        adj_d[:n] = prev_d
    gs0 = adj_s * ((s_raw0 >= S_MIN) & (s_raw0 <= S_MAX))
    gd0 = adj_d * ((d_raw0 >= D_MIN) & (d_raw0 <= D_MAX))
    np.add.at(grad, first - 1, gs0)
    grad[4] += np.sum(gd0)
    grad[5] += np.sum(gd0 * -(first - 1) * np.exp(w[5] * (first - 1)))
    return value, grad


def _new_stability_value(
    w: np.ndarray,
    s: np.ndarray,
    d: np.ndarray,
    t: np.ndarray,
    g: np.ndarray,
    r: np.ndarray,
    cap_divisor: float,
) -> np.ndarray:
    """New (unclamped) stability, as :func:`next_state` computes it, for many cards."""
    gain = np.exp(w[17] * (g - 3 + w[18])) * s ** -w[19]
    short = s * np.where((g >= 3) & (gain < 1), 1.0, gain)
    boost = np.where(g == 2, w[15], 1.0) * np.where(g == 4, w[16], 1.0)
    success = s * (1 + math.exp(w[8]) * (11 - d) * s ** -w[9] * (np.exp(w[10] * (1 - r)) - 1) * boost)
    lapse = np.minimum(
        w[11] * d ** -w[12] * ((s + 1) ** w[13] - 1) * np.exp(w[14] * (1 - r)), s / cap_divisor
    )
    return np.where(t < 1, short, np.where(g > 1, success, lapse))


def _new_stability(
    w: np.ndarray,
    s: np.ndarray,
    d: np.ndarray,
    t: np.ndarray,
    g: np.ndarray,
    r: np.ndarray,
    cap_divisor: float,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, np.ndarray]]]:
    """New (unclamped) stability and its partials: d/ds, d/dd, d/dr and d/dw_k (by index)."""
    same_day = t < 1
    success_row = ~same_day & (g > 1)
    lapse_row = ~same_day & (g == 1)
    # same day
    gain = np.exp(w[17] * (g - 3 + w[18])) * s ** -w[19]
    floor = (g >= 3) & (gain < 1)
    short = np.where(floor, s, s * gain)
    short_free = same_day & ~floor
    # success
    boost = np.where(g == 2, w[15], 1.0) * np.where(g == 4, w[16], 1.0)
    grow = np.exp(w[10] * (1 - r))
    base = math.exp(w[8]) * (11 - d) * s ** -w[9]
    a = base * (grow - 1) * boost
    success = s * (1 + a)
    # lapse
    power = (s + 1) ** w[13]
    lapse_long = w[11] * d ** -w[12] * (power - 1) * np.exp(w[14] * (1 - r))
    cap = s / cap_divisor
    capped = cap < lapse_long
    lapse = np.where(capped, cap, lapse_long)
    long_row = lapse_row & ~capped
    cap_row = lapse_row & capped
    new_s = np.where(same_day, short, np.where(g > 1, success, lapse))

    ds = (
        np.where(same_day, np.where(floor, 1.0, (1 - w[19]) * gain), 0.0)
        + success_row * (1 + a * (1 - w[9]))
        + long_row * (w[11] * d ** -w[12] * w[13] * (s + 1) ** (w[13] - 1) * np.exp(w[14] * (1 - r)))
        + cap_row / cap_divisor
    )
    dd = success_row * (-s * a / (11 - d)) + long_row * (-w[12] * lapse_long / d)
    dr = success_row * (s * base * boost * grow * -w[10]) + long_row * (-w[14] * lapse_long)
    log_s = np.log(s)
    success_boostless = s * base * (grow - 1)
    dw = {
        8: success_row * s * a,
        9: success_row * s * a * -log_s,
        10: success_row * s * base * boost * grow * (1 - r),
        15: success_row * (g == 2) * success_boostless * np.where(g == 4, w[16], 1.0),
        16: success_row * (g == 4) * success_boostless * np.where(g == 2, w[15], 1.0),
        11: long_row * w[11] ** -1 * lapse_long if w[11] > 0 else long_row * 0.0,
        12: long_row * lapse_long * -np.log(d),
        13: long_row * w[11] * d ** -w[12] * power * np.log(s + 1) * np.exp(w[14] * (1 - r)),
        14: long_row * lapse_long * (1 - r),
        17: short_free * short * (g - 3 + w[18]) + cap_row * cap * -w[18],
        18: short_free * short * w[17] + cap_row * cap * -w[17],
        19: short_free * short * -log_s,
    }
    return new_s, (ds, dd, dr, dw)


def next_states(
    weights: Sequence[float],
    stability: np.ndarray,
    difficulty: np.ndarray,
    elapsed_days: np.ndarray,
    ratings: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`next_state` for many cards at once (real weights)."""
    w = np.asarray(weights, dtype=np.float64)
    factor = 0.9 ** (-1 / w[20]) - 1
    r = (1 + factor * elapsed_days / stability) ** -w[20]
    new_s = _new_stability_value(w, stability, difficulty, elapsed_days, ratings, r, math.exp(w[17] * w[18]))
    mean_difficulty = w[4] - math.exp(3 * w[5]) + 1
    new_d = w[7] * mean_difficulty + (1 - w[7]) * (difficulty - w[6] * (ratings - 3) * (10 - difficulty) / 9)
    return np.clip(new_s, S_MIN, S_MAX), np.clip(new_d, D_MIN, D_MAX)
