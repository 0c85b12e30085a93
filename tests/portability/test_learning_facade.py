"""Learning's bulk facade: imported history is what the review completion would have recorded, imports
are idempotent and all or nothing, and an export re-imports as it was."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import DataError
from django.utils import timezone

from modules.identity.testing import make_user
from modules.learning import services
from modules.learning.models import Content, ReviewHistory, ReviewSchedule
from modules.learning.services import ExternalKey, ImportedContent, ImportedReview, LearningImport

pytestmark = pytest.mark.django_db

HISTORY_FIELDS = (
    "result",
    "reviewed_at",
    "stage_before",
    "stage_after",
    "interval_days",
    "time_spent_seconds",
    "early",
    "retrievability_before",
    "scheduler",
)
SCHEDULE_FIELDS = (
    "stage",
    "next_review_date",
    "last_reviewed_at",
    "review_count",
    "interval_days",
    "scheduler",
    "stability",
    "difficulty",
    "fsrs_state",
    "fsrs_step",
)
EVENTS = [
    (-5.9, "remembered"),
    (-5.8, "forgot"),
    (-4.0, "partial"),
    (-2.5, "remembered"),
    (-0.2, "remembered"),
]


def history_of(content_id: int) -> list[tuple[Any, ...]]:
    return list(
        ReviewHistory.objects.filter(content_id=content_id).order_by("id").values_list(*HISTORY_FIELDS)
    )


def schedule_of(content_id: int) -> tuple[Any, ...]:
    return ReviewSchedule.objects.filter(content_id=content_id).values_list(*SCHEDULE_FIELDS).get()


def one_note(created_at: datetime, events: list[tuple[datetime, str]], *, guid: str = "n1") -> LearningImport:
    return LearningImport(
        contents=[
            ImportedContent(
                ref=guid,
                key=ExternalKey("anki", guid),
                title="Capital of France",
                body="Paris",
                category="Geography",
                created_at=created_at,
            )
        ],
        reviews=[
            ImportedReview(
                content_ref=guid,
                key=ExternalKey("anki", f"{guid}/{i}"),
                result=result,
                reviewed_at=at,
                time_spent_seconds=7,
            )
            for i, (at, result) in enumerate(events)
        ],
    )


@pytest.mark.parametrize("scheduler", ["ladder", "fsrs"])
def test_imported_reviews_are_recorded_exactly_as_the_review_completion_records_them(scheduler: str) -> None:
    now = timezone.now()
    created_at = now - timedelta(days=6)
    events = [(now + timedelta(days=offset), result) for offset, result in EVENTS]
    native_user = make_user(scheduler=scheduler, timezone="Europe/Paris")
    native = services.create_content(
        user=native_user, title="Capital of France", body="Paris", now=created_at
    )
    for at, result in events:
        services.complete_review(
            user=native_user, content_id=native.id, result=result, reviewed_at=at, time_spent_seconds=7
        )
    importer = make_user(scheduler=scheduler, timezone="Europe/Paris")

    outcome = services.import_learning_data(user=importer, data=one_note(created_at, events))

    imported_id = outcome.content_ids["n1"]
    assert outcome.counts.contents_created == 1 and outcome.counts.reviews_imported == len(events)
    assert history_of(imported_id) == history_of(native.id)
    assert schedule_of(imported_id) == schedule_of(native.id)
    content = Content.objects.select_related("category").get(pk=imported_id)
    assert (content.created_at, content.category.name) == (created_at, "Geography")


def test_importing_the_same_data_again_changes_nothing() -> None:
    user = make_user()
    now = timezone.now()
    data = one_note(now - timedelta(days=30), [(now - timedelta(days=29), "remembered")])
    first = services.import_learning_data(user=user, data=data)
    before = (history_of(first.content_ids["n1"]), schedule_of(first.content_ids["n1"]))

    again = services.import_learning_data(user=user, data=data)

    assert again.content_ids == first.content_ids
    assert asdict(again.counts) == {
        "categories_created": 0,
        "contents_created": 0,
        "contents_updated": 0,
        "contents_skipped": 1,
        "reviews_imported": 0,
        "reviews_skipped": 1,
    }
    assert (history_of(first.content_ids["n1"]), schedule_of(first.content_ids["n1"])) == before
    assert Content.objects.filter(user=user).count() == 1


def test_a_later_import_appends_only_reviews_after_the_cards_last_review() -> None:
    user = make_user()
    now = timezone.now()
    created = now - timedelta(days=30)
    services.import_learning_data(
        user=user, data=one_note(created, [(now - timedelta(days=20), "remembered")])
    )
    grown = [
        (now - timedelta(days=25), "forgot"),  # older than the last review already there: skipped
        (now - timedelta(days=20), "remembered"),  # already there
        (now - timedelta(days=2), "remembered"),  # new
    ]

    outcome = services.import_learning_data(user=user, data=one_note(created, grown))

    assert (outcome.counts.reviews_imported, outcome.counts.reviews_skipped) == (1, 2)
    content_id = outcome.content_ids["n1"]
    assert [row[0] for row in history_of(content_id)] == ["remembered", "remembered"]
    assert [row[3] for row in history_of(content_id)] == [1, 2]  # stage_after continues from the card
    assert schedule_of(content_id)[2] == now - timedelta(days=2)


def test_an_edited_note_updates_its_content() -> None:
    user = make_user()
    created = timezone.now() - timedelta(days=3)
    services.import_learning_data(user=user, data=one_note(created, []))
    edited = LearningImport(
        contents=[
            ImportedContent(
                ref="n1",
                key=ExternalKey("anki", "n1"),
                title="Capital of France",
                body="Paris (since 508)",
                created_at=created,
            )
        ]
    )

    outcome = services.import_learning_data(user=user, data=edited)

    assert outcome.counts.contents_updated == 1
    content = Content.objects.get(user=user)
    assert (content.body, content.category_id) == ("Paris (since 508)", None)


def test_a_failing_import_writes_nothing() -> None:
    user = make_user()
    now = timezone.now()
    good = one_note(now - timedelta(days=3), [(now - timedelta(days=2), "remembered")])
    too_long = ImportedContent(
        ref="bad", key=ExternalKey("anki", "bad"), title="x" * 500, body="b", created_at=now
    )
    data = LearningImport(contents=[*good.contents, too_long], reviews=good.reviews)

    with pytest.raises(DataError):
        services.import_learning_data(user=user, data=data)

    assert not Content.objects.filter(user=user).exists()
    assert not user.learning_categories.exists()


def test_an_export_imported_into_another_account_is_the_same_data() -> None:
    now = timezone.now()
    source = make_user(scheduler="fsrs")
    category = services.create_category(user=source, name="Words")
    first = services.create_content(
        user=source, title="hola", body="hello", category_id=category.id, now=now - timedelta(days=6)
    )
    services.create_content(user=source, title="adios", body="bye", now=now - timedelta(days=1))
    services.complete_review(
        user=source, content_id=first.id, result="forgot", reviewed_at=now - timedelta(days=5)
    )
    services.complete_review(
        user=source, content_id=first.id, result="remembered", reviewed_at=now - timedelta(days=1)
    )
    contents = list(services.export_contents(user=source))
    reviews = list(services.export_reviews(user=source))
    data = LearningImport(
        categories=services.export_categories(user=source),
        contents=[
            ImportedContent(
                ref=str(c.id),
                key=ExternalKey("resee", f"x:{c.id}"),
                title=c.title,
                body=c.body,
                category=c.category,
                created_at=c.created_at,
                updated_at=c.updated_at,
                schedule=c.schedule,
            )
            for c in contents
        ],
        reviews=[
            ImportedReview(
                content_ref=str(r.content_id),
                key=ExternalKey("resee", f"x:{r.id}"),
                result=r.result,
                reviewed_at=r.reviewed_at,
                time_spent_seconds=r.time_spent_seconds,
                recorded=r.recorded,
            )
            for r in reviews
        ],
    )
    target = make_user()  # ladder: a given schedule is written as it is, not replayed

    services.import_learning_data(user=target, data=data)

    def strip(records: list[Any], *drop: str) -> list[dict[str, Any]]:
        return [{k: v for k, v in asdict(r).items() if k not in drop} for r in records]

    copied = list(services.export_contents(user=target))
    assert strip(copied, "id", "external_source", "external_id") == strip(
        contents, "id", "external_source", "external_id"
    )
    copied_reviews = list(services.export_reviews(user=target))
    assert strip(copied_reviews, "id", "content_id", "external_source", "external_id") == strip(
        reviews, "id", "content_id", "external_source", "external_id"
    )
    assert services.export_categories(user=target) == services.export_categories(user=source)
