"""Anki packages imported through the API: notes, decks and the review log, in every collection format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from modules.identity.testing import make_user
from modules.learning.models import Category, Content, ReviewHistory, ReviewSchedule
from modules.learning.scheduling import ReviewEvent, ReviewResult, fit_fsrs
from modules.portability.testing import AGAIN, EASY, GOOD, HARD, LEARN, Note, Review, build_package

pytestmark = pytest.mark.django_db


def sample_notes(now: datetime) -> list[Note]:
    return [
        Note(
            ["<b>Capital</b> of France", "Paris<br>on the <i>Seine</i> &amp; more"],
            now - timedelta(days=40),
            deck="Lang::French",
            reviews=[
                Review(now - timedelta(days=39), AGAIN, ms=12_400),
                Review(now - timedelta(days=38), HARD),
                Review(now - timedelta(days=35), GOOD),
                Review(now - timedelta(days=20), EASY),
            ],
        ),
        Note(["Capital of Peru", "Lima"], now - timedelta(days=10), deck="Geography", reviews=[]),
        Note(
            ["{{c1::Ottawa::city}} is the capital of {{c2::Canada}}", "<img src='map.png'>Extra"],
            now - timedelta(days=5),
            deck="Geography",
            cloze=True,
            reviews=[Review(now - timedelta(days=4), GOOD)],
        ),
    ]


@pytest.mark.parametrize("fmt", ["anki2", "anki21", "anki21b"])
def test_an_apkg_becomes_contents_categories_and_history(fmt: str, tmp_path: Path, upload, job_of) -> None:
    now = timezone.now().replace(microsecond=0)
    package = build_package(tmp_path / "deck.apkg", sample_notes(now), format=fmt, media=3)
    user = make_user()

    response = upload(user, package, "apkg")

    assert response.status_code == 202, response.content
    job = job_of(user, "imports", response.json()["id"])
    assert job["status"] == "done", job
    assert job["progress"] == 100
    assert job["counts"] | {} == job["counts"]
    counts = job["counts"]
    assert (counts["notes"], counts["contents_created"], counts["media_skipped"]) == (3, 3, 3)
    assert (counts["reviews_imported"], counts["categories_created"]) == (5, 2)
    assert any("media" in warning for warning in job["warnings"])
    contents = {c.title: c for c in Content.objects.filter(user=user).select_related("category")}
    assert set(contents) == {"Capital of France", "Capital of Peru", "[city] is the capital of [...]"}
    france = contents["Capital of France"]
    assert france.body == "Paris\non the Seine & more"
    assert france.category.name == "Lang::French"
    assert france.created_at == now - timedelta(days=40)
    assert contents["[city] is the capital of [...]"].body == "Ottawa is the capital of Canada\n\nExtra"
    history = list(ReviewHistory.objects.filter(content=france).order_by("reviewed_at"))
    assert [h.result for h in history] == ["forgot", "partial", "remembered", "remembered"]
    assert [h.reviewed_at for h in history] == [now - timedelta(days=d) for d in (39, 38, 35, 20)]
    assert history[0].time_spent_seconds == 12
    schedule = ReviewSchedule.objects.get(content=france)
    assert (schedule.review_count, schedule.last_reviewed_at) == (4, now - timedelta(days=20))
    assert schedule.next_review_date == now - timedelta(days=20) + timedelta(days=history[-1].interval_days)
    peru = ReviewSchedule.objects.get(content=contents["Capital of Peru"])
    assert (peru.review_count, peru.stage) == (0, 0)


def test_importing_the_same_package_again_changes_nothing(tmp_path: Path, upload, job_of) -> None:
    now = timezone.now()
    package = build_package(tmp_path / "deck.apkg", sample_notes(now), format="anki21b")
    user = make_user()
    upload(user, package, "apkg")
    before = list(ReviewHistory.objects.filter(user=user).values_list("id", "result", "reviewed_at"))

    again = job_of(user, "imports", upload(user, package, "apkg").json()["id"])

    assert again["status"] == "done"
    assert again["counts"]["contents_created"] == 0 and again["counts"]["contents_skipped"] == 3
    assert again["counts"]["reviews_imported"] == 0 and again["counts"]["reviews_skipped"] == 5
    assert list(ReviewHistory.objects.filter(user=user).values_list("id", "result", "reviewed_at")) == before
    assert Content.objects.filter(user=user).count() == 3
    assert Category.objects.filter(user=user).count() == 2


def test_a_colpkg_and_reviews_done_in_anki_since_are_appended(tmp_path: Path, upload, job_of) -> None:
    now = timezone.now()
    notes = sample_notes(now)
    user = make_user()
    upload(user, build_package(tmp_path / "one.colpkg", notes, format="anki21b"), "colpkg")
    notes[0].reviews.append(Review(now - timedelta(days=1), GOOD))

    job = job_of(
        user, "imports", upload(user, build_package(tmp_path / "two.colpkg", notes), "colpkg").json()["id"]
    )

    assert (job["counts"]["reviews_imported"], job["counts"]["reviews_skipped"]) == (1, 5)
    france = Content.objects.get(user=user, title="Capital of France")
    assert ReviewSchedule.objects.get(content=france).review_count == 5


def test_v1_scheduler_learning_answers_good_and_easy_are_remembered(tmp_path: Path, upload) -> None:
    now = timezone.now()
    note = Note(
        ["front", "back"],
        now - timedelta(days=9),
        reviews=[Review(now - timedelta(days=8), 2, kind=LEARN), Review(now - timedelta(days=5), 2)],
    )
    user = make_user()
    upload(user, build_package(tmp_path / "v1.apkg", [note], sched_ver=1), "apkg")

    assert list(
        ReviewHistory.objects.filter(user=user).order_by("reviewed_at").values_list("result", flat=True)
    ) == [
        "remembered",  # v1 learning: Again, Good, Easy
        "partial",  # v1 review: Again, Hard, Good, Easy
    ]


def test_imported_reviews_feed_the_fsrs_fitting(tmp_path: Path, upload, job_of) -> None:
    now = timezone.now()
    notes = []
    for i in range(260):
        start = now - timedelta(days=200)
        reviews = [
            Review(start + timedelta(days=1 + day * (2 + i % 3)), AGAIN if (i + day) % 5 == 0 else GOOD)
            for day in range(5)
        ]
        notes.append(Note([f"word {i}", f"meaning {i}"], start, reviews=reviews))
    user = make_user(scheduler="fsrs")
    job = job_of(
        user, "imports", upload(user, build_package(tmp_path / "big.apkg", notes), "apkg").json()["id"]
    )
    assert job["counts"]["reviews_imported"] == 1300

    events = [
        ReviewEvent(card_id=content_id, reviewed_at=at, result=ReviewResult(result))
        for content_id, at, result in ReviewHistory.objects.filter(user=user).values_list(
            "content_id", "reviewed_at", "result"
        )
    ]
    fitted = fit_fsrs(events, timezone=user.timezone)

    assert fitted.trained_on >= 800  # fitted on the imported history, not the published defaults


def test_an_import_by_an_unverified_learner_is_refused(tmp_path: Path, upload) -> None:
    user = make_user(verified=False)
    response = upload(user, build_package(tmp_path / "deck.apkg", sample_notes(datetime.now(UTC))), "apkg")
    assert response.status_code == 403
    assert response.json()["code"] == "email_not_verified"
