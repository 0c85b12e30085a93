"""Fitting each learner's memory models: FSRS-6 weights and the calibrated ladder, as a queued job.

A fit (``MemoryModelFit``) is requested by the learner (``start_memory_fit``, the API) or by the daily
round (``enqueue_memory_fits``: learners with ``REFIT_NEW_REVIEWS`` new reviews since their last fit,
or whose last fit is a week old). The worker runs it (``run_memory_fit``, the task
``learning.tasks.run_memory_fit``):

1. the learner's whole review history, in their calendar days (profile zone, ``DAY_START_HOUR``),
   prepared as the benchmark does (``scheduling.fitting``: first and same-day reviews are not targets);
2. the most recent ``HOLDOUT_SHARE`` of the targets are held back; each model is fitted on the
   earlier ones: FSRS-6 (``fit_table``, only with ``MIN_TRAINING_REVIEWS`` training targets, else
   ``too_few_reviews``) and the ladder's stage stabilities (``fit_stage_stabilities``, on the learner's
   tier ladder);
3. each candidate is scored on the held-back reviews (mean log loss) beside the parameters in use
   (FSRS: the learner's weights or the defaults; ladder: the learner's calibrated model for this ladder
   or the built-in ``S = interval / -ln 0.9``). A candidate that does not predict them better is
   recorded (``not_better``) and not applied; one that does is applied as it was validated
   (``applied``): the learner's ``LearnerMemoryModel`` takes it and a new version. (Refitting on every
   review before applying would use the latest reviews too, but costs a second fit, about 60% of the
   first even from the candidate; the next round, after ``REFIT_NEW_REVIEWS`` more reviews, trains on
   them anyway.)

One fit at a time per learner (a partial unique constraint): asking again while one is queued or
running answers that one. A fit left queued or running for ``STALE_AFTER`` (its worker died past the
queue's retries) is marked failed when the learner or the daily round next asks.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from modules.common.errors import FieldError, NotFound, ValidationFailed
from modules.identity import services as identity
from modules.identity.services import User
from modules.learning import readcache, selectors
from modules.learning.models import FitOutcome, FitStatus, FitTrigger, LearnerMemoryModel, MemoryModelFit
from modules.learning.scheduling import (
    InvalidTimezone,
    LearnerDays,
)
from modules.learning.scheduling.calibrated_ladder import (
    DEFAULT_DECAY,
)
from modules.learning.services import card_memory
from modules.learning.services.fit_models import (
    FsrsFitResult,
    LadderFitResult,
    Outcome,
    fit_models,
)
from modules.learning.services.memory import curves_of, ladder_key_of
from modules.learning.services.schedulers import DAY_START_HOUR, ladder_for

logger = logging.getLogger(__name__)

# Below this many reviews a fit is refused (422): with a fifth held back, too few reviews remain to
# fit even the ladder's few stabilities and to tell a better model from noise. FSRS needs more
# (MIN_TRAINING_REVIEWS training targets, measured in docs/scheduling.md): below that its part of a
# fit records too_few_reviews and the learner keeps their current weights.
MIN_REVIEWS_TO_FIT = 200
REFIT_NEW_REVIEWS = 100  # the daily round refits a learner after this many new reviews...
REFIT_AFTER = timedelta(days=7)  # ...or when their last fit is this old and they reviewed since
STALE_AFTER = timedelta(hours=1)  # a fit takes seconds; one older than this lost its worker


@dataclass(frozen=True)
class MemoryFitView:
    """A fit job and, once done, what it measured and whether it was applied."""

    id: int
    status: str
    trigger: str
    timezone: str
    day_start_hour: int
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str
    seconds: float | None
    review_count: int | None
    holdout_count: int | None
    version: int | None  # the learner's parameters' version now (None: never fitted)
    fsrs: FsrsFitResult | None
    ladder: LadderFitResult | None


def _view(fit: MemoryModelFit, *, version: int | None) -> MemoryFitView:
    done = fit.status == FitStatus.DONE
    return MemoryFitView(
        id=fit.pk,
        status=fit.status,
        trigger=fit.trigger,
        timezone=fit.timezone_name,
        day_start_hour=fit.day_start_hour,
        requested_at=fit.requested_at,
        started_at=fit.started_at,
        finished_at=fit.finished_at,
        error=fit.error,
        seconds=fit.seconds,
        review_count=fit.review_count,
        holdout_count=fit.holdout_count,
        version=version,
        fsrs=(
            FsrsFitResult(
                outcome=fit.fsrs_outcome,
                trained_on=fit.fsrs_trained_on,
                weights=tuple(fit.fsrs_weights) if fit.fsrs_weights else None,
                log_loss_before=fit.fsrs_log_loss_before,
                log_loss_after=fit.fsrs_log_loss_after,
                applied=fit.fsrs_outcome == FitOutcome.APPLIED,
            )
            if done
            else None
        ),
        ladder=(
            LadderFitResult(
                outcome=fit.ladder_outcome,
                intervals=tuple(fit.ladder_intervals or ()),
                stabilities=tuple(fit.ladder_stabilities) if fit.ladder_stabilities else None,
                log_loss_before=fit.ladder_log_loss_before,
                log_loss_after=fit.ladder_log_loss_after,
                applied=fit.ladder_outcome == FitOutcome.APPLIED,
            )
            if done
            else None
        ),
    )


def _version_of(user_id: int) -> int | None:
    return LearnerMemoryModel.objects.filter(user_id=user_id).values_list("version", flat=True).first()


# --- Requesting a fit ----------------------------------------------------------------------------------


@readcache.learning_write
def start_memory_fit(*, user: User, timezone_name: str | None = None) -> MemoryFitView:
    """Queues a fit of the learner's memory models (or answers the one already queued or running).

    ``timezone_name`` is the calendar to count the history's days in (default: the profile's zone).
    ValidationFailed (422) for an unknown zone or fewer than ``MIN_REVIEWS_TO_FIT`` reviews.
    """
    zone_name = timezone_name if timezone_name is not None else user.timezone
    try:
        LearnerDays(zone_name, DAY_START_HOUR)
    except InvalidTimezone as error:
        raise ValidationFailed.field("timezone", str(error)) from error
    reviews = selectors.review_count(user_id=user.pk)
    if reviews < MIN_REVIEWS_TO_FIT:
        raise ValidationFailed(
            fields=[
                FieldError(
                    ("body",),
                    f"Too few reviews to fit: a fit needs at least {MIN_REVIEWS_TO_FIT} and you have "
                    f"{reviews}. Until then the default parameters are used.",
                    kind="too_few_reviews",
                )
            ]
        )
    now = timezone.now()
    fail_stale_memory_fits(now=now, user_id=user.pk)
    try:
        with transaction.atomic():
            fit = MemoryModelFit.objects.create(
                user=user,
                trigger=FitTrigger.API,
                timezone_name=zone_name,
                day_start_hour=DAY_START_HOUR,
                requested_at=now,
            )
            transaction.on_commit(lambda: _enqueue(user_id=user.pk, fit_id=fit.pk))
    except IntegrityError:  # one is queued or running already: that is the answer
        fit = MemoryModelFit.objects.filter(user=user, status__in=_ACTIVE).order_by("-requested_at").first()
        if fit is None:
            raise
    return _view(fit, version=_version_of(user.pk))


_ACTIVE = (FitStatus.QUEUED, FitStatus.RUNNING)


def _enqueue(*, user_id: int, fit_id: int) -> None:
    from django_q.tasks import async_task

    async_task("modules.learning.tasks.run_memory_fit", user_id, fit_id, task_name=f"memory-fit-{fit_id}")


def memory_fit_detail(*, user: User, fit_id: int) -> MemoryFitView:
    fit = MemoryModelFit.objects.filter(user=user, pk=fit_id).first()
    if fit is None:
        raise NotFound("Fit not found.")
    return _view(fit, version=_version_of(user.pk))


def enqueue_memory_fits(*, now: datetime | None = None) -> int:
    """The daily round: queues a fit for each learner who reviewed in the last week and has at least
    ``REFIT_NEW_REVIEWS`` reviews more than their last fit read (or ``MIN_REVIEWS_TO_FIT`` and no fit
    yet), or whose last fit is older than ``REFIT_AFTER``. Returns how many were queued."""
    now = now or timezone.now()
    fail_stale_memory_fits(now=now)
    due = [
        user_id
        for user_id, total, last_count, last_at in selectors.memory_fit_candidates(
            active_since=now - REFIT_AFTER
        )
        if (last_count is None and total >= MIN_REVIEWS_TO_FIT)
        or (last_count is not None and total - last_count >= REFIT_NEW_REVIEWS)
        or (last_at is not None and last_at < now - REFIT_AFTER and total > (last_count or 0))
    ]
    zones = identity.timezones_for_user_ids(due) if due else {}
    queued = 0
    for user_id in due:
        if user_id not in zones:  # the account is closed (its erasure is under way) or gone
            continue
        try:
            with transaction.atomic():
                fit = MemoryModelFit.objects.create(
                    user_id=user_id,
                    trigger=FitTrigger.SCHEDULE,
                    timezone_name=zones[user_id],
                    day_start_hour=DAY_START_HOUR,
                    requested_at=now,
                )
                transaction.on_commit(
                    lambda user_id=user_id, fit_id=fit.pk: _enqueue(user_id=user_id, fit_id=fit_id)
                )
        except IntegrityError:  # the learner asked for one meanwhile
            continue
        queued += 1
    logger.info("memory fits queued", extra={"queued": queued})
    return queued


def fail_stale_memory_fits(*, now: datetime, user_id: int | None = None) -> int:
    """Marks failed the fits queued or running since before ``now - STALE_AFTER``."""
    stale = MemoryModelFit.objects.filter(status__in=_ACTIVE, requested_at__lt=now - STALE_AFTER)
    if user_id is not None:
        stale = stale.filter(user_id=user_id)
    return stale.update(
        status=FitStatus.FAILED,
        finished_at=now,
        error="The fit did not finish in time (its worker may have stopped). Ask again.",
    )


# --- Running a fit (the worker) ------------------------------------------------------------------------


def _claim(*, user_id: int, fit_id: int) -> MemoryModelFit | None:
    """Marks a queued fit running; None for one that already finished (the queue may deliver twice).
    A running one is run again from the start (its worker died and the task came back)."""
    with transaction.atomic():
        fit = (
            MemoryModelFit.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(pk=fit_id, user_id=user_id)
            .first()
        )
        if fit is None or fit.status not in _ACTIVE:
            return None
        if identity.is_closed(fit.user):  # its erasure is queued: nothing to learn for anyone
            fit.status, fit.finished_at, fit.error = (
                FitStatus.FAILED,
                timezone.now(),
                "The account was closed.",
            )
            fit.save(update_fields=["status", "finished_at", "error"])
            return None
        fit.status = FitStatus.RUNNING
        fit.started_at = timezone.now()
        fit.save(update_fields=["status", "started_at"])
        return fit


@readcache.learning_write
def run_memory_fit(*, user_id: int, fit_id: int) -> str | None:
    """Runs one fit (module docstring) and applies what beats the parameters in use; returns the
    fit's final status (None when it had already finished). Idempotent."""
    fit = _claim(user_id=user_id, fit_id=fit_id)
    if fit is None:
        return None
    started = time.perf_counter()
    current = LearnerMemoryModel.objects.filter(user_id=user_id).first()
    try:
        outcome = fit_models(
            user_id=user_id,
            intervals=ladder_for(fit.user),
            days=LearnerDays(fit.timezone_name, fit.day_start_hour),
            current=current,
        )
    except ValueError as error:  # e.g. a zone removed from tzdata since the request: bad input
        _finish_failed(fit_id=fit_id, error=f"The fit could not run: {error}")
        return FitStatus.FAILED
    except Exception:
        logger.exception("memory fit %s crashed", fit_id)
        _finish_failed(fit_id=fit_id, error="The fit stopped on an internal error.")
        raise
    return _record(fit_id=fit_id, user_id=user_id, outcome=outcome, seconds=time.perf_counter() - started)


def _record(*, fit_id: int, user_id: int, outcome: Outcome, seconds: float) -> str | None:
    """Stores the fit's result and applies what was better, in one transaction; None when the fit is
    gone (its account was erased while it ran)."""
    fsrs, ladder = outcome.fsrs, outcome.ladder
    with transaction.atomic():
        fit = MemoryModelFit.objects.select_for_update().filter(pk=fit_id).first()
        if fit is None:
            logger.info("memory fit gone with its account", extra={"fit_id": fit_id, "user_id": user_id})
            return None
        if fit.status != FitStatus.RUNNING:  # marked stale meanwhile: a newer request decides
            return fit.status
        fit.status = FitStatus.DONE
        fit.finished_at = timezone.now()
        fit.seconds = seconds
        fit.review_count = outcome.review_count
        fit.holdout_count = outcome.holdout_count
        fit.fsrs_outcome = fsrs.outcome
        fit.fsrs_trained_on = fsrs.trained_on
        fit.fsrs_weights = list(fsrs.weights) if fsrs.weights is not None else None
        fit.fsrs_log_loss_before = fsrs.log_loss_before
        fit.fsrs_log_loss_after = fsrs.log_loss_after
        fit.ladder_outcome = ladder.outcome
        fit.ladder_intervals = list(ladder.intervals)
        fit.ladder_stabilities = list(ladder.stabilities) if ladder.stabilities is not None else None
        fit.ladder_log_loss_before = ladder.log_loss_before
        fit.ladder_log_loss_after = ladder.log_loss_after
        fit.save()
        if fsrs.applied or ladder.applied:
            _apply(fit=fit, user_id=user_id, fsrs=fsrs, ladder=ladder)
        if fsrs.applied:  # every card's kept memory was computed with the weights replaced
            transaction.on_commit(lambda: card_memory.enqueue_rebuild(user_id=user_id), robust=True)
    logger.info(
        "memory fit done",
        extra={
            "fit_id": fit_id,
            "user_id": user_id,
            "seconds": round(seconds, 2),
            "reviews": outcome.review_count,
            "fsrs": fsrs.outcome,
            "ladder": ladder.outcome,
        },
    )
    return FitStatus.DONE


def _apply(*, fit: MemoryModelFit, user_id: int, fsrs: FsrsFitResult, ladder: LadderFitResult) -> None:
    model = LearnerMemoryModel.objects.select_for_update().filter(user_id=user_id).first()
    if model is None:
        model = LearnerMemoryModel(user_id=user_id)
    model.version = fit.pk
    model.timezone_name = fit.timezone_name
    model.day_start_hour = fit.day_start_hour
    if fsrs.applied:
        model.fsrs_weights = list(fsrs.weights or ())
        model.fsrs_fit = fit
    if ladder.applied:
        model.ladder_key = ladder_key_of(ladder.intervals)
        model.ladder_stabilities = list(ladder.stabilities or ())
        model.ladder_decay = DEFAULT_DECAY  # fit_stage_stabilities keeps FSRS-6's default decay
        model.ladder_fit = fit
    model.recall_curve = curves_of(
        fsrs_weights=model.fsrs_weights,
        ladder_key=model.ladder_key,
        ladder_stabilities=model.ladder_stabilities,
        ladder_decay=model.ladder_decay,
    ).to_text()
    model.save()


def _finish_failed(*, fit_id: int, error: str) -> None:
    MemoryModelFit.objects.filter(pk=fit_id, status__in=_ACTIVE).update(
        status=FitStatus.FAILED, finished_at=timezone.now(), error=error
    )
