"""The learner's memory models in use: fitted FSRS-6 weights and the calibrated ladder.

A learner without a fit (no ``LearnerMemoryModel`` row) uses FSRS's published defaults and the
ladder's built-in estimate (``S = interval / -ln 0.9``). A fit (``services/fitting.py``) replaces
either when it predicts the learner's own held-back reviews better.

Recall estimates on the hot reads (today's queue, the content list and detail) need only a few
numbers of the model: FSRS's decay and, for ladder cards, the stability of each ladder stage. They are
kept in one short string (``RecallCurves.to_text``, the row's ``recall_curve``) that those reads
select with their rows (an uncorrelated scalar subquery: PostgreSQL runs it once per query), so the
model costs no query of its own, and parsed once per process and version (``RecallCurves.parse``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from modules.identity.services import User
from modules.learning.models import LearnerMemoryModel, MemoryModelFit
from modules.learning.scheduling import DEFAULT_FSRS_PARAMETERS, LearnerDays, SchedulerKind, recall_estimate
from modules.learning.scheduling.calibrated_ladder import LadderRecallModel
from modules.learning.services.schedulers import DAY_START_HOUR, ladder_for, learner_timezone

DEFAULT_FSRS_WEIGHTS: tuple[float, ...] = DEFAULT_FSRS_PARAMETERS.weights
DEFAULT_FSRS_DECAY = DEFAULT_FSRS_WEIGHTS[20]


@dataclass(frozen=True)
class RecallCurves:
    """What a recall estimate needs from the learner's models.

    ``fsrs_decay`` is FSRS-6's ``w20`` (the learner's, or the default); ``ladder`` the calibrated
    stage stabilities, valid for the ladder ``ladder_intervals`` only (after a tier change the built-in
    estimate is used until the next fit calibrates the new ladder).
    """

    fsrs_decay: float = DEFAULT_FSRS_DECAY
    ladder_intervals: tuple[int, ...] | None = None
    ladder: LadderRecallModel | None = None

    def to_text(self) -> str:
        """``fsrs=<w20>;ladder=<intervals>/<decay>/<stabilities>`` (the ladder part only when calibrated)."""
        text = f"fsrs={self.fsrs_decay!r}"
        if self.ladder is not None and self.ladder_intervals is not None:
            intervals = ",".join(str(days) for days in self.ladder_intervals)
            stabilities = ",".join(repr(value) for value in self.ladder.stabilities)
            text += f";ladder={intervals}/{self.ladder.decay!r}/{stabilities}"
        return text

    @staticmethod
    def parse(text: str | None) -> RecallCurves:
        """The curves a ``to_text`` string names; the built-in ones for None (no model)."""
        return BUILT_IN if text is None else _parse(text)

    def calibrated_ladder(self, intervals: tuple[int, ...]) -> LadderRecallModel | None:
        """The calibrated model for the ladder ``intervals``, or None (use the built-in estimate)."""
        return self.ladder if self.ladder_intervals == intervals else None

    def estimate(
        self,
        *,
        scheduler: str,
        stage: int,
        stability: float | None,
        elapsed_days: float,
        intervals: tuple[int, ...],
    ) -> float:
        """Recall probability after ``elapsed_days`` (fractional) since the card's last refresh.

        FSRS memory: FSRS-6's curve with the learner's decay. Other cards: the calibrated ladder when
        the learner has one for ``intervals``, else the built-in estimate (``scheduling.recall_estimate``).
        """
        if (
            scheduler == SchedulerKind.FSRS
            and stability is not None
            and self.fsrs_decay != DEFAULT_FSRS_DECAY
        ):
            factor = 0.9 ** (-1 / self.fsrs_decay) - 1
            return (1 + factor * max(elapsed_days, 0.0) / max(stability, 1e-3)) ** -self.fsrs_decay
        if not (scheduler == SchedulerKind.FSRS and stability is not None):
            ladder = self.calibrated_ladder(intervals)
            if ladder is not None:
                return ladder.recall(stage=stage, elapsed_days=elapsed_days)
        return recall_estimate(
            scheduler=scheduler,
            stage=stage,
            stability=stability,
            elapsed_days=elapsed_days,
            intervals=intervals,
        )


BUILT_IN = RecallCurves()


@lru_cache(maxsize=4096)
def _parse(text: str) -> RecallCurves:
    fields = dict(part.split("=", 1) for part in text.split(";"))
    ladder = intervals = None
    if "ladder" in fields:
        interval_text, decay_text, stability_text = fields["ladder"].split("/")
        intervals = tuple(int(days) for days in interval_text.split(","))
        ladder = LadderRecallModel(
            stabilities=tuple(float(value) for value in stability_text.split(",")), decay=float(decay_text)
        )
    return RecallCurves(fsrs_decay=float(fields["fsrs"]), ladder_intervals=intervals, ladder=ladder)


def curves_of(
    *,
    fsrs_weights: Sequence[float] | None,
    ladder_key: str,
    ladder_stabilities: Sequence[float] | None,
    ladder_decay: float | None,
) -> RecallCurves:
    """The curves of a model's columns."""
    ladder = None
    intervals = None
    if ladder_key and ladder_stabilities and ladder_decay is not None:
        intervals = ladder_intervals_of(ladder_key)
        ladder = LadderRecallModel(stabilities=tuple(ladder_stabilities), decay=ladder_decay)
    return RecallCurves(
        fsrs_decay=float(fsrs_weights[20]) if fsrs_weights else DEFAULT_FSRS_DECAY,
        ladder_intervals=intervals,
        ladder=ladder,
    )


@lru_cache(maxsize=512)
def learner_days(timezone: str) -> LearnerDays:
    """The learner's calendar days (``DAY_START_HOUR``), in their zone (UTC for an unknown name)."""
    return LearnerDays(learner_timezone(timezone), DAY_START_HOUR)


def ladder_key_of(intervals: Sequence[int]) -> str:
    return ",".join(str(days) for days in intervals)


def ladder_intervals_of(key: str) -> tuple[int, ...]:
    return tuple(int(days) for days in key.split(","))


# --- The learner's parameters (GET /api/review/parameters/) -----------------------------------------


@dataclass(frozen=True)
class FsrsParametersView:
    weights: tuple[float, ...]
    is_default: bool
    trained_on: int  # training reviews of the fit that produced them (0: the defaults)
    fit_id: int | None
    fitted_at: datetime | None
    review_count: int  # the learner's reviews when they were fitted (0: the defaults)
    log_loss_before: float | None  # on that fit's held-back reviews, with the parameters it replaced
    log_loss_after: float | None


@dataclass(frozen=True)
class LadderRecallView:
    intervals: tuple[int, ...]  # the learner's ladder now
    stabilities: tuple[float, ...] | None  # calibrated, per stage; None: the built-in estimate
    built_in_stabilities: tuple[float, ...]  # the built-in estimate's S = interval / -ln 0.9, per stage
    fit_id: int | None
    fitted_at: datetime | None
    review_count: int
    log_loss_before: float | None
    log_loss_after: float | None


@dataclass(frozen=True)
class MemoryParameters:
    """The parameters in use for the learner, and what the fits that set them measured."""

    version: int | None  # None: never fitted (the defaults)
    scheduler: str
    timezone: str  # the calendar the fits counted days in (the profile's zone before any fit)
    day_start_hour: int
    fitted_at: datetime | None  # of the parameters the learner's scheduler uses
    review_count: int
    log_loss_before: float | None
    log_loss_after: float | None
    fsrs: FsrsParametersView
    ladder: LadderRecallView


_FIT_COLUMNS = ("id", "finished_at", "review_count", "fsrs_trained_on")


def memory_parameters(*, user: User) -> MemoryParameters:
    """The learner's memory models in use (two queries: the model, the fits that produced it)."""
    model = LearnerMemoryModel.objects.filter(user=user).first()
    fits = {}
    if model is not None:
        ids = [fit_id for fit_id in (model.fsrs_fit_id, model.ladder_fit_id) if fit_id is not None]
        fits = {fit.pk: fit for fit in MemoryModelFit.objects.filter(pk__in=ids)}
    intervals = ladder_for(user)
    built_in = tuple(days / -math.log(0.9) for days in intervals)
    fsrs_fit = fits.get(model.fsrs_fit_id) if model is not None and model.fsrs_weights else None
    fsrs = FsrsParametersView(
        weights=tuple(model.fsrs_weights) if fsrs_fit is not None else DEFAULT_FSRS_WEIGHTS,
        is_default=fsrs_fit is None,
        trained_on=(fsrs_fit.fsrs_trained_on or 0) if fsrs_fit is not None else 0,
        fit_id=fsrs_fit.pk if fsrs_fit is not None else None,
        fitted_at=fsrs_fit.finished_at if fsrs_fit is not None else None,
        review_count=(fsrs_fit.review_count or 0) if fsrs_fit is not None else 0,
        log_loss_before=fsrs_fit.fsrs_log_loss_before if fsrs_fit is not None else None,
        log_loss_after=fsrs_fit.fsrs_log_loss_after if fsrs_fit is not None else None,
    )
    calibrated = (
        model is not None and model.ladder_stabilities and model.ladder_key == ladder_key_of(intervals)
    )
    ladder_fit = fits.get(model.ladder_fit_id) if calibrated and model is not None else None
    ladder = LadderRecallView(
        intervals=intervals,
        stabilities=tuple(model.ladder_stabilities) if calibrated and model is not None else None,
        built_in_stabilities=built_in,
        fit_id=ladder_fit.pk if ladder_fit is not None else None,
        fitted_at=ladder_fit.finished_at if ladder_fit is not None else None,
        review_count=(ladder_fit.review_count or 0) if ladder_fit is not None else 0,
        log_loss_before=ladder_fit.ladder_log_loss_before if ladder_fit is not None else None,
        log_loss_after=ladder_fit.ladder_log_loss_after if ladder_fit is not None else None,
    )
    in_use = fsrs if user.scheduler == SchedulerKind.FSRS else ladder
    return MemoryParameters(
        version=model.version if model is not None else None,
        scheduler=user.scheduler,
        timezone=model.timezone_name if model is not None else user.timezone,
        day_start_hour=model.day_start_hour if model is not None else DAY_START_HOUR,
        fitted_at=in_use.fitted_at,
        review_count=in_use.review_count,
        log_loss_before=in_use.log_loss_before,
        log_loss_after=in_use.log_loss_after,
        fsrs=fsrs,
        ladder=ladder,
    )
