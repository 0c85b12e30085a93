"""The memory models behind the facade: the recall curves the hot reads carry, the SQL estimates that
mirror them (dashboard, retention view), the scheduler built with a learner's weights and calendar,
the held-back split and the daily round of fits."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from modules.identity.testing import make_user
from modules.learning import services, tasks
from modules.learning.apps import LearningConfig
from modules.learning.models import LearnerMemoryModel, MemoryModelFit, ReviewHistory, ReviewSchedule
from modules.learning.scheduling import (
    DEFAULT_FSRS_PARAMETERS,
    FsrsScheduler,
    LadderScheduler,
    LearnerDays,
    ReviewEvent,
    ReviewResult,
    recall_estimate,
)
from modules.learning.scheduling.calibrated_ladder import LadderRecallModel
from modules.learning.scheduling.fitting import table_from_events
from modules.learning.services.fit_models import holdout_split
from modules.learning.services.memory import RecallCurves
from modules.learning.services.schedulers import DAY_START_HOUR, scheduler_for_user
from modules.learning.testing import make_content, make_ladder_history, record_review

BASIC = (1, 3, 7, 14, 30, 60, 90)
CALIBRATED = LadderRecallModel(stabilities=(0.5, 1.5, 4.0, 9.0, 20.0, 45.0, 80.0))
FITTED = tuple(
    value * (1.1 if index in (2, 20) else 1.0) for index, value in enumerate(DEFAULT_FSRS_PARAMETERS.weights)
)


def give_model(user, *, fsrs: bool = True, ladder: bool = True, intervals=BASIC, zone: str = "UTC") -> None:
    """The learner's model as a fit would leave it."""
    curves = RecallCurves(
        fsrs_decay=FITTED[20] if fsrs else DEFAULT_FSRS_PARAMETERS.weights[20],
        ladder_intervals=intervals if ladder else None,
        ladder=CALIBRATED if ladder else None,
    )
    LearnerMemoryModel.objects.create(
        user=user,
        version=1,
        timezone_name=zone,
        day_start_hour=DAY_START_HOUR,
        fsrs_weights=list(FITTED) if fsrs else None,
        ladder_key=",".join(map(str, intervals)) if ladder else "",
        ladder_stabilities=list(CALIBRATED.stabilities) if ladder else None,
        ladder_decay=CALIBRATED.decay if ladder else None,
        recall_curve=curves.to_text(),
    )


# --- Recall curves (pure) --------------------------------------------------------------------------


def test_recall_curves_survive_their_text_form() -> None:
    curves = RecallCurves(fsrs_decay=0.2, ladder_intervals=BASIC, ladder=CALIBRATED)

    parsed = RecallCurves.parse(curves.to_text())

    assert parsed == curves
    assert RecallCurves.parse(None) == RecallCurves() == RecallCurves.parse(RecallCurves().to_text())
    assert len(curves.to_text()) < 300  # it rides along every row of the queue


@pytest.mark.parametrize(
    "scheduler, stage, stability", [("ladder", 0, None), ("ladder", 9, None), ("fsrs", 2, 8.0)]
)
def test_without_a_model_the_estimate_is_the_built_in_one(
    scheduler: str, stage: int, stability: float | None
) -> None:
    for elapsed in (0.0, 0.7, 3.0, 40.0):
        assert RecallCurves().estimate(
            scheduler=scheduler, stage=stage, stability=stability, elapsed_days=elapsed, intervals=BASIC
        ) == recall_estimate(
            scheduler=scheduler, stage=stage, stability=stability, elapsed_days=elapsed, intervals=BASIC
        )


def test_the_calibrated_ladder_applies_to_ladder_cards_of_the_ladder_it_was_fitted_for() -> None:
    curves = RecallCurves(fsrs_decay=0.3, ladder_intervals=BASIC, ladder=CALIBRATED)

    assert curves.estimate(
        scheduler="ladder", stage=1, stability=None, elapsed_days=1.5, intervals=BASIC
    ) == (
        pytest.approx(0.9)  # R(S) = 0.9 on FSRS's curve, S = 1.5 days at stage 1
    )
    pro = (1, 3, 7, 14, 30, 60, 120, 180)
    assert curves.estimate(scheduler="ladder", stage=1, stability=None, elapsed_days=1.5, intervals=pro) == (
        recall_estimate(scheduler="ladder", stage=1, stability=None, elapsed_days=1.5, intervals=pro)
    )
    # FSRS memory follows the learner's decay: still 0.9 at t = S, lower than the default curve later
    assert curves.estimate(scheduler="fsrs", stage=1, stability=5.0, elapsed_days=5.0, intervals=BASIC) == (
        pytest.approx(0.9)
    )
    later = curves.estimate(scheduler="fsrs", stage=1, stability=5.0, elapsed_days=50.0, intervals=BASIC)
    assert later < recall_estimate(
        scheduler="fsrs", stage=1, stability=5.0, elapsed_days=50.0, intervals=BASIC
    )


# --- The scheduler a learner gets ------------------------------------------------------------------------


@pytest.mark.django_db
def test_fsrs_counts_the_learners_calendar_days_with_their_weights() -> None:
    user = make_user(scheduler="fsrs", timezone="Asia/Tokyo")

    default = scheduler_for_user(user)
    fitted = scheduler_for_user(user, fsrs_weights=FITTED)

    assert isinstance(default, FsrsScheduler) and isinstance(fitted, FsrsScheduler)
    assert (default.timezone, default.day_start_hour) == ("Asia/Tokyo", 4)
    assert default.parameters == DEFAULT_FSRS_PARAMETERS.weights
    assert fitted.parameters == FITTED
    assert scheduler_for_user(user, fsrs_weights=list(FITTED)) is fitted  # built once per configuration
    # 22:00 and 09:00 the next morning in Tokyo: one learner day, though 11 hours
    first = datetime(2026, 3, 1, 13, tzinfo=UTC)
    assert default.days.elapsed_days(first, first + timedelta(hours=11)) == 1


@pytest.mark.django_db
def test_a_zone_unknown_to_this_machine_counts_days_in_utc_rather_than_failing() -> None:
    user = make_user(scheduler="fsrs")
    user.timezone = "Mars/Olympus"  # profiles are validated; a zone may still vanish from tzdata

    assert scheduler_for_user(user).timezone == "UTC"


@pytest.mark.django_db
def test_a_ladder_user_keeps_the_contracts_ladder() -> None:
    scheduler = scheduler_for_user(make_user(tier="FREE"), fsrs_weights=FITTED)

    assert scheduler == LadderScheduler(intervals=(1, 3))


# --- SQL estimates mirror the queue's ---------------------------------------------------------------------


@pytest.mark.django_db
def test_mean_recall_in_sql_uses_the_learners_model() -> None:
    user = make_user(tier="BASIC")
    give_model(user)
    now = timezone.now()
    curves = RecallCurves.parse(LearnerMemoryModel.objects.get(user=user).recall_curve)
    cards = [
        (0, 1.0, "ladder", None, None),
        (3, 12.5, "ladder", None, None),
        (9, 100.0, "ladder", None, None),  # beyond the ladder: its last stage
        (0, None, "ladder", None, None),  # never reviewed: since its creation
        (2, 10.0, "fsrs", 10.0, 5.0),  # FSRS memory: the fitted decay
        (1, 4.0, "fsrs", 12.0, None),  # no difficulty: no FSRS memory, the calibrated ladder
    ]
    rows = []
    for index, (stage, days_ago, scheduler, stability, difficulty) in enumerate(cards):
        created = now - timedelta(days=200 + index)
        content = make_content(user=user, title=f"card {index}", created_at=created)
        last = now - timedelta(days=days_ago) if days_ago is not None else None
        ReviewSchedule.objects.filter(content=content).update(
            stage=stage,
            last_reviewed_at=last,
            scheduler=scheduler,
            stability=stability,
            difficulty=difficulty,
        )
        rows.append((stage, last or created, scheduler, stability if difficulty is not None else None))
    moments = [now, now + timedelta(days=7), now + timedelta(days=90)]

    in_sql = services.mean_recall(user_id=user.pk, intervals=BASIC, at=moments)

    expected = [
        sum(
            curves.estimate(
                scheduler=scheduler,
                stage=stage,
                stability=stability,
                elapsed_days=(at - anchor).total_seconds() / 86_400,
                intervals=BASIC,
            )
            for stage, anchor, scheduler, stability in rows
        )
        / len(rows)
        for at in moments
    ]
    assert in_sql == pytest.approx(expected, abs=1e-9)
    built_in = RecallCurves()
    assert in_sql[0] != pytest.approx(
        sum(
            built_in.estimate(
                scheduler=s,
                stage=st,
                stability=sb,
                elapsed_days=(now - a).total_seconds() / 86_400,
                intervals=BASIC,
            )
            for st, a, s, sb in rows
        )
        / len(rows),
        abs=1e-3,
    )
    # another ladder (a tier change): the built-in estimate until the next fit
    pro = (1, 3, 7, 14, 30, 60, 120, 180)
    other = services.mean_recall(user_id=user.pk, intervals=pro, at=[now])[0]
    assert other == pytest.approx(
        sum(
            curves.estimate(
                scheduler=s,
                stage=st,
                stability=sb,
                elapsed_days=(now - a).total_seconds() / 86_400,
                intervals=pro,
            )
            for st, a, s, sb in rows
        )
        / len(rows),
        abs=1e-9,
    )


@pytest.mark.django_db
def test_the_retention_view_predicts_ladder_reviews_with_the_calibrated_model_in_calendar_days() -> None:
    user = make_user(tier="BASIC", timezone="Asia/Tokyo")
    give_model(user, zone="Asia/Tokyo")
    t0 = datetime(2026, 1, 10, 1, tzinfo=UTC)  # 10:00 in Tokyo
    card = make_content(user=user, created_at=t0)
    days = LearnerDays("Asia/Tokyo", 4)
    history = [
        (t0 + timedelta(hours=16), "remembered", 0, "ladder", 0.8),  # 02:00 next night: same learner day
        (t0 + timedelta(days=3, hours=2), "forgot", 1, "ladder", 0.7),
        (t0 + timedelta(days=9), "remembered", 0, "fsrs", 0.42),  # recorded by FSRS: kept as it is
        (t0 + timedelta(days=40), "partial", 1, "ladder", None),  # no recorded prediction
    ]
    previous = t0
    expected = []
    for at, result, stage, scheduler, recorded in history:
        ReviewHistory.objects.create(
            user=user,
            content=card,
            result=result,
            reviewed_at=at,
            stage_before=stage,
            stage_after=stage,
            interval_days=1,
            retrievability_before=recorded,
            scheduler=scheduler,
        )
        if scheduler == "ladder":
            expected.append(CALIBRATED.recall(stage=stage, elapsed_days=days.elapsed_days(previous, at)))
        else:
            expected.append(recorded)
        previous = at

    buckets = services.review_counts_by_elapsed(user_id=user.pk, upper_bounds_days=[1.0, 4.0, 10.0])

    assert expected[0] == 1.0  # a same-day review: no forgetting
    assert [bucket.predicted_reviews for bucket in buckets] == [1, 1, 1, 1]
    assert [bucket.predicted_mean for bucket in buckets] == pytest.approx(expected, abs=1e-9)


@pytest.mark.django_db
def test_without_a_model_the_retention_view_keeps_the_recorded_predictions() -> None:
    user = make_user()
    card = make_content(user=user, created_at=timezone.now() - timedelta(days=3))
    record_review(content=card, reviewed_at=timezone.now() - timedelta(days=1), retrievability_before=0.83)

    [first, *_] = services.review_counts_by_elapsed(user_id=user.pk, upper_bounds_days=[5.0])

    assert (first.predicted_mean, first.predicted_reviews) == (0.83, 1)


# --- Fitting -----------------------------------------------------------------------------------------


def test_the_held_back_slice_is_the_most_recent_fifth_of_the_targets() -> None:
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    events = [
        ReviewEvent(card, start + timedelta(days=day * (card % 3 + 1), minutes=card), ReviewResult.REMEMBERED)
        for card in range(60)
        for day in range(5)
    ]
    table = table_from_events(events, days=LearnerDays("UTC", 4))

    train, held = holdout_split(table)

    assert not (train & held).any()
    assert (train | held).sum() == table.target.sum()
    assert held.sum() == round(table.target.sum() * 0.2)
    assert table.reviewed_at[held].min() >= table.reviewed_at[train].max()
    small = table_from_events(events[:40], days=LearnerDays("UTC", 4))
    assert not holdout_split(small)[1].any()  # fewer than 20 to hold back: none


@pytest.mark.django_db
def test_a_history_the_outlier_filter_empties_records_too_few_reviews(
    django_capture_on_commit_callbacks,
) -> None:
    user = make_user()
    make_ladder_history(user=user, cards=25, reviews_per_card=10)  # 25 cards: too few per first rating

    with django_capture_on_commit_callbacks(execute=True):
        view = services.start_memory_fit(user=user)

    fit = services.memory_fit_detail(user=user, fit_id=view.id)
    assert fit.status == "done"
    assert (fit.fsrs.outcome, fit.ladder.outcome) == ("too_few_reviews", "too_few_reviews")
    assert fit.version is None
    assert not LearnerMemoryModel.objects.filter(user=user).exists()


@pytest.mark.django_db
def test_a_fit_whose_zone_vanished_fails_with_a_reason() -> None:
    user = make_user()
    fit = MemoryModelFit.objects.create(user=user, timezone_name="Mars/Olympus", day_start_hour=4)

    assert tasks.run_memory_fit(user.pk, fit.pk) == "failed"

    fit.refresh_from_db()
    assert fit.status == "failed" and "Mars/Olympus" in fit.error


# --- The daily round -------------------------------------------------------------------------------------


def test_the_daily_round_is_declared() -> None:
    schedules = {spec.name: spec for spec in LearningConfig.schedules}

    assert schedules["learning.memory_fits"].func == "modules.learning.tasks.enqueue_memory_fits"
    assert schedules["learning.memory_fits"].cron == "41 3 * * *"


def add_reviews(user, count: int, *, at: datetime) -> None:
    card = make_content(user=user, created_at=at - timedelta(days=1))
    ReviewHistory.objects.bulk_create(
        ReviewHistory(
            user=user,
            content=card,
            result="remembered",
            reviewed_at=at + timedelta(minutes=index),
            stage_before=0,
            stage_after=1,
            interval_days=1,
        )
        for index in range(count)
    )


def done_fit(user, *, reviews: int, at: datetime) -> None:
    MemoryModelFit.objects.create(
        user=user, status="done", timezone_name="UTC", day_start_hour=4, requested_at=at, review_count=reviews
    )


@pytest.mark.django_db
def test_the_daily_round_queues_learners_with_enough_new_reviews_or_a_week_old_fit() -> None:
    now = timezone.now()
    newcomer = make_user()  # 250 reviews this week, never fitted: queued
    add_reviews(newcomer, 250, at=now - timedelta(days=2))
    beginner = make_user()  # 150 reviews, never fitted: too few
    add_reviews(beginner, 150, at=now - timedelta(days=2))
    busy = make_user()  # 120 new reviews since yesterday's fit: queued
    add_reviews(busy, 400, at=now - timedelta(days=3))
    done_fit(busy, reviews=280, at=now - timedelta(days=1))
    steady = make_user()  # 10 new reviews since yesterday's fit: not yet
    add_reviews(steady, 300, at=now - timedelta(days=2))
    done_fit(steady, reviews=290, at=now - timedelta(days=1))
    weekly = make_user()  # 10 new reviews since a fit eight days ago: queued
    add_reviews(weekly, 300, at=now - timedelta(days=2))
    done_fit(weekly, reviews=290, at=now - timedelta(days=8))
    away = make_user()  # nothing reviewed this week: left alone
    add_reviews(away, 500, at=now - timedelta(days=30))

    queued = services.enqueue_memory_fits(now=now)

    fits = MemoryModelFit.objects.filter(trigger="schedule")
    assert queued == 3
    assert {fit.user_id for fit in fits} == {newcomer.pk, busy.pk, weekly.pk}
    assert {fit.status for fit in fits} == {"queued"}  # their jobs run at commit
    assert services.enqueue_memory_fits(now=now) == 0  # already queued: nothing twice


@pytest.mark.django_db
def test_the_daily_round_runs_the_fits_it_queues(django_capture_on_commit_callbacks) -> None:
    user = make_user(timezone="Europe/Berlin")
    make_ladder_history(user=user, cards=100, reviews_per_card=4, recall_at_due=0.7)

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.enqueue_memory_fits() == 1

    fit = MemoryModelFit.objects.get(user=user)
    assert (fit.status, fit.trigger, fit.timezone_name) == ("done", "schedule", "Europe/Berlin")
    assert LearnerMemoryModel.objects.get(user=user).version == fit.pk


@pytest.mark.django_db
def test_the_daily_round_fails_fits_whose_worker_died() -> None:
    user = make_user()
    stale = MemoryModelFit.objects.create(
        user=user,
        status="queued",
        timezone_name="UTC",
        day_start_hour=4,
        requested_at=timezone.now() - timedelta(hours=3),
    )

    services.enqueue_memory_fits()

    stale.refresh_from_db()
    assert stale.status == "failed"
    assert math.isclose((stale.finished_at - timezone.now()).total_seconds(), 0, abs_tol=60)


@pytest.mark.django_db
def test_the_review_log_is_every_review_oldest_first_as_columns() -> None:
    from modules.learning.selectors import LOGGED_RESULTS, review_log

    user, other = make_user(), make_user()
    first, second = make_content(user=user, title="first"), make_content(user=user, title="second")
    start = datetime(2026, 3, 1, 12, tzinfo=UTC)
    rows = [  # (content, result, minutes after start, seconds): inserted out of time order, one tie
        (second, "partial", 30, 12),
        (first, "forgot", 0, None),
        (first, "remembered", 30, 0),  # the same instant as the first row: ties go by id
        (second, "remembered", 90, 1_500),
    ]
    for content, result, minutes, seconds in rows:
        ReviewHistory.objects.create(
            user=user,
            content=content,
            result=result,
            reviewed_at=start + timedelta(minutes=minutes),
            stage_before=0,
            stage_after=1,
            interval_days=1,
            time_spent_seconds=seconds,
        )
    record_review(content=make_content(user=other, title="not theirs"))

    log = review_log(user_id=user.pk)

    assert len(log) == 4
    assert log.content_ids.tolist() == [first.pk, second.pk, first.pk, second.pk]
    assert log.epochs.tolist() == pytest.approx(  # SQLite's julianday arithmetic is off by microseconds
        [(start + timedelta(minutes=minutes)).timestamp() for minutes in (0, 30, 30, 90)], abs=1e-3
    )
    assert [LOGGED_RESULTS[code] for code in log.results] == ["forgot", "partial", "remembered", "remembered"]
    assert math.isnan(log.seconds[0]) and log.seconds[1:].tolist() == [12.0, 0.0, 1500.0]
    empty = review_log(user_id=make_user().pk)
    assert len(empty) == 0 and empty.epochs.dtype == float


def test_numbering_cards_by_first_appearance_is_the_same_for_numpy_ids_and_a_list() -> None:
    import numpy as np

    from modules.learning.scheduling.fitting import _card_codes

    ids = [7, 3, 7, 9, 3, 3, 12, 9]
    assert [code.tolist() if hasattr(code, "tolist") else code for code in _card_codes(np.array(ids))] == [
        [0, 1, 0, 2, 1, 1, 3, 2],
        [7, 3, 9, 12],
    ]
    codes, cards = _card_codes(ids)
    assert codes.tolist() == [0, 1, 0, 2, 1, 1, 3, 2] and cards == [7, 3, 9, 12]
