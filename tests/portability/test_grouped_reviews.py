"""Reviews that come grouped by content (``LearningImport.reviews_grouped``, an Anki log read card by
card) are replayed one content at a time, as they end, instead of all being held until the end: the
same rows and schedules as the whole list gives, a content's reviews that come back later are refused,
and an Anki import's memory no longer grows with its review log (formats/anki.py, ``open_package``)."""

from __future__ import annotations

import random
import tracemalloc
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import IntegrityError
from django.utils import timezone

from modules.common.errors import ValidationFailed
from modules.identity.testing import make_user
from modules.learning import services
from modules.learning.models import Content, ReviewHistory, ReviewSchedule
from modules.learning.services import (
    ExternalKey,
    ImportedContent,
    ImportedReview,
    LearningImport,
    card_memory,
)
from modules.learning.services.portability import CHUNK
from modules.portability.models import ImportJob
from modules.portability.services import request_import
from modules.portability.testing import AGAIN, GOOD, HARD, Note, Review, build_package
from tests.portability.test_learning_facade import HISTORY_FIELDS, SCHEDULE_FIELDS

pytestmark = pytest.mark.django_db

RESULTS = ("remembered", "forgot", "partial")


def _records(
    now: datetime, contents: int, seed: int = 5
) -> tuple[list[ImportedContent], list[ImportedReview]]:
    """``contents`` notes with 0-9 reviews each (the reviews of one note out of time order), the first
    notes with many, so that groups span the import's batches of ``CHUNK``."""
    rng = random.Random(seed)
    records, reviews = [], []
    for index in range(contents):
        ref = f"g{index}"
        created = now - timedelta(days=400 - index % 50)
        records.append(
            ImportedContent(
                ref=ref, key=ExternalKey("anki", ref), title=f"Note {index}", body="b", created_at=created
            )
        )
        count = CHUNK + 300 if index == 1 else rng.randrange(0, 10)
        moments = [created + timedelta(hours=rng.randrange(1, 390 * 24)) for _ in range(count)]
        rng.shuffle(moments)
        reviews.extend(
            ImportedReview(
                content_ref=ref,
                key=ExternalKey("anki", f"{ref}/{n}"),
                result=rng.choice(RESULTS),
                reviewed_at=at,
                time_spent_seconds=rng.randrange(1, 30),
            )
            for n, at in enumerate(moments)
        )
    return records, reviews


def _state(user: Any, outcome: services.ImportOutcome) -> dict[str, Any]:
    state = {}
    for ref, content_id in outcome.content_ids.items():
        history = ReviewHistory.objects.filter(content_id=content_id).order_by("reviewed_at", "id")
        schedule = ReviewSchedule.objects.filter(content_id=content_id).values_list(*SCHEDULE_FIELDS).get()
        state[ref] = (list(history.values_list(*HISTORY_FIELDS)), schedule)
    return state


def _lazy(values: list[Any]) -> Iterator[Any]:
    yield from values


def test_grouped_reviews_give_the_rows_and_schedules_the_whole_list_gives() -> None:
    now = timezone.now()
    contents, reviews = _records(now, 600)
    later_contents, later_reviews = _records(now + timedelta(days=20), 600, seed=9)  # re-import: appended

    results = []
    for grouped in (False, True):
        user = make_user(scheduler="fsrs")
        first = services.import_learning_data(
            user=user,
            data=LearningImport(contents=_lazy(contents), reviews=_lazy(reviews), reviews_grouped=grouped),
        )
        again = services.import_learning_data(
            user=user,
            data=LearningImport(
                contents=_lazy(later_contents), reviews=_lazy(later_reviews), reviews_grouped=grouped
            ),
        )
        results.append((first.counts, again.counts, _state(user, again)))

    whole, grouped_result = results
    assert grouped_result[0] == whole[0] and grouped_result[1] == whole[1]
    assert whole[0].reviews_imported == len(reviews) > CHUNK * 2
    assert 0 < whole[1].reviews_imported < len(later_reviews)  # only those after each card's last review
    assert grouped_result[2] == whole[2]


def test_a_content_whose_grouped_reviews_come_back_later_is_refused_and_nothing_is_kept() -> None:
    now = timezone.now()
    contents, reviews = _records(now, 3)
    first = [review for review in reviews if review.content_ref == "g1"]
    scattered = [first[0], *[review for review in reviews if review.content_ref != "g1"], *first[1:]]
    user = make_user()

    with pytest.raises(ValidationFailed) as refused:
        services.import_learning_data(
            user=user, data=LearningImport(contents=contents, reviews=scattered, reviews_grouped=True)
        )

    assert "not together" in str(refused.value.fields[0].message)
    assert not Content.objects.filter(user=user).exists()
    assert not ReviewHistory.objects.filter(user=user).exists()


NOTES, PER_NOTE = 1_000, 60


def test_an_anki_import_holds_a_card_of_reviews_not_the_log(
    tmp_path: Path, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    # the import asks for a rebuild of the card memory: a job of its own, which reads the log as the
    # fit job does (tests/learning/test_card_memory.py); not run inline here, where it would count
    rebuilds: list[int] = []
    monkeypatch.setattr(card_memory, "enqueue_rebuild", lambda *, user_id: rebuilds.append(user_id))
    rng = random.Random(3)
    now = timezone.now()
    notes = []
    for index in range(NOTES):
        created = now - timedelta(days=900, minutes=index)
        moments = sorted(rng.uniform(1, 890 * 86400) for _ in range(PER_NOTE))
        notes.append(
            Note(
                [f"Term {index}", f"Meaning {index}"],
                created,
                deck=f"Deck {index % 5}",
                reviews=[
                    Review(created + timedelta(seconds=m), rng.choice([AGAIN, HARD, GOOD])) for m in moments
                ],
            )
        )
    package = build_package(tmp_path / "big.apkg", notes, format="anki21b")
    del notes
    user = make_user()

    def imported() -> tuple[ImportJob, int]:
        tracemalloc.start()
        try:
            with package.open("rb") as file, django_capture_on_commit_callbacks(execute=True):
                view = request_import(user=user, kind="apkg", upload=file, file_name=package.name)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return ImportJob.objects.get(pk=view.id), peak

    job, peak = imported()
    again, peak_again = imported()

    assert job.status == "done", (job.error_code, job.error)
    assert rebuilds == [user.pk]  # after the first import; the second imported no review
    assert job.counts["reviews_imported"] == NOTES * PER_NOTE
    assert ReviewHistory.objects.filter(user=user).count() == NOTES * PER_NOTE
    assert ReviewSchedule.objects.filter(user=user, review_count=PER_NOTE).count() == NOTES
    assert again.status == "done", (again.error_code, again.error)
    assert (again.counts["reviews_imported"], again.counts["reviews_skipped"]) == (0, NOTES * PER_NOTE)
    # 60,000 reviews: 25.5 MB read whole; 12.7 MB replayed a card at a time; 3.5 MB without the replayed
    # reviews' keys (what is left grows with the notes, not with the log). Imported again (everything
    # known): 14.0 MB when the keys of skipped reviews were kept, 4.3 MB without.
    assert peak < 8e6, f"{peak / 1e6:.1f} MB at the peak"
    assert peak_again < 8e6, f"{peak_again / 1e6:.1f} MB at the peak of the second import"


def test_a_review_key_given_in_two_grouped_contents_is_refused_by_the_history_and_nothing_is_kept() -> None:
    now = timezone.now()
    contents, reviews = _records(now, 1000)  # g1's reviews end in the second batch; this one in the fourth
    stolen = next(review for review in reviews if review.content_ref == "g1")
    last = ImportedReview(
        content_ref="g999", key=stolen.key, result="remembered", reviewed_at=now - timedelta(days=1)
    )
    assert len(reviews) > 3 * CHUNK
    user = make_user()

    with pytest.raises(IntegrityError):
        services.import_learning_data(
            user=user,
            data=LearningImport(contents=contents, reviews=[*reviews, last], reviews_grouped=True),
        )


def test_a_review_key_given_twice_in_one_grouped_content_is_refused_by_the_check() -> None:
    now = timezone.now()
    contents, reviews = _records(now, 3)
    user = make_user()

    with pytest.raises(ValidationFailed) as refused:
        services.import_learning_data(
            user=user,
            data=LearningImport(contents=contents, reviews=[*reviews, reviews[-1]], reviews_grouped=True),
        )

    assert "appears twice" in str(refused.value.fields[0].message)
