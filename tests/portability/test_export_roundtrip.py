"""Exports: a job with progress, a signed short-lived link, and a file that re-imports as it was."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core import signing
from django.test import Client
from django.utils import timezone

from modules.ai.models import AIQuestion
from modules.identity.testing import auth_headers, make_user
from modules.learning import services as learning
from modules.learning.testing import make_due_content
from modules.portability import services
from modules.portability.services.files import storage_dir

pytestmark = pytest.mark.django_db


def fill_account(user: Any) -> None:
    now = timezone.now()
    words = learning.create_category(user=user, name="Words", description="Spanish")
    first = learning.create_content(
        user=user,
        title="hola",
        body='hello, with "quotes", commas\nand lines',
        category_id=words.id,
        now=now - timedelta(days=6),
    )
    learning.create_content(user=user, title="adiós", body="goodbye ✓", now=now - timedelta(days=2))
    learning.complete_review(
        user=user,
        content_id=first.id,
        result="forgot",
        reviewed_at=now - timedelta(days=5),
        time_spent_seconds=9,
    )
    learning.complete_review(
        user=user, content_id=first.id, result="remembered", reviewed_at=now - timedelta(days=1)
    )
    AIQuestion.objects.create(
        user=user,
        content_id=first.id,
        type="multiple_choice",
        question="¿hola?",
        options=["hello", "bye"],
        correct_answer="hello",
        explanation="",
        difficulty="beginner",
        provider="local",
        model="local-1",
    )


def export(user: Any, fmt: str, capture) -> tuple[dict[str, Any], bytes]:
    client = Client(headers=auth_headers(user))
    with capture(execute=True):
        created = client.post("/api/portability/exports/", {"format": fmt}, content_type="application/json")
    assert created.status_code == 202, created.content
    assert created.json()["status"] == "queued"
    job = client.get(f"/api/portability/exports/{created.json()['id']}/").json()
    assert job["status"] == "done", job
    downloaded = Client().get(job["download_url"])  # a signed link: no Authorization header
    assert downloaded.status_code == 200
    return job, b"".join(downloaded.streaming_content)


def sections(user: Any) -> dict[str, Any]:
    """The learner's data without the ids and keys an import gives anew."""

    def rows(records: Any, *drop: str) -> list[dict[str, Any]]:
        return [{k: v for k, v in vars_of(r).items() if k not in drop} for r in records]

    return {
        "categories": rows(learning.export_categories(user=user)),
        "contents": rows(learning.export_contents(user=user), "id", "external_source", "external_id"),
        "reviews": rows(
            learning.export_reviews(user=user), "id", "content_id", "external_source", "external_id"
        ),
        "questions": sorted(
            AIQuestion.objects.filter(user=user).values_list(
                "type", "question", "options", "correct_answer", "created_at"
            )
        ),
    }


def vars_of(record: Any) -> dict[str, Any]:
    return (
        {name: getattr(record, name) for name in record.__slots__}
        if hasattr(record, "__slots__")
        else vars(record)
    )


@pytest.mark.parametrize(
    ("fmt", "kind", "suffix"), [("json", "resee-json", ".json"), ("csv", "resee-zip", ".zip")]
)
def test_an_export_reimports_losslessly_into_another_account(
    fmt: str, kind: str, suffix: str, tmp_path: Path, upload, job_of, django_capture_on_commit_callbacks
) -> None:
    source = make_user(first_name="Ada", timezone="Europe/Madrid", scheduler="fsrs")
    fill_account(source)
    job, content = export(source, fmt, django_capture_on_commit_callbacks)
    assert job["counts"] == {"categories": 1, "contents": 2, "reviews": 2, "ai_questions": 1}
    assert job["progress"] == 100 and job["size_bytes"] == len(content)
    path = tmp_path / f"export{suffix}"
    path.write_bytes(content)
    target = make_user()

    imported = job_of(target, "imports", upload(target, path, kind, restore_profile="true").json()["id"])

    assert imported["status"] == "done", imported
    assert imported["counts"]["contents_created"] == 2 and imported["counts"]["ai_questions_imported"] == 1
    assert sections(target) == sections(source)
    target.refresh_from_db()
    assert (target.first_name, target.timezone, target.scheduler) == ("Ada", "Europe/Madrid", "fsrs")
    # and the copy exports to the same file, but for who and where
    _, again = export(target, fmt, django_capture_on_commit_callbacks)
    if fmt == "json":
        first, second = json.loads(content), json.loads(again)
        for document in (first, second):
            for key in ("exported_at", "origin", "profile"):
                document.pop(key)
            for row in document["contents"] + document["reviews"]:
                for key in ("id", "content_id", "external_source", "external_id"):
                    row.pop(key, None)
            for row in document["ai_questions"]:
                row.pop("content_id")
        assert first == second


def test_reimporting_your_own_export_changes_nothing(
    tmp_path: Path, upload, job_of, django_capture_on_commit_callbacks
) -> None:
    user = make_user()
    fill_account(user)
    _, content = export(user, "json", django_capture_on_commit_callbacks)
    path = tmp_path / "mine.json"
    path.write_bytes(content)
    before = sections(user)

    job = job_of(user, "imports", upload(user, path, "resee-json").json()["id"])

    assert job["status"] == "done"
    assert (job["counts"]["contents_created"], job["counts"]["contents_skipped"]) == (0, 2)
    assert (job["counts"]["reviews_imported"], job["counts"]["reviews_skipped"]) == (0, 2)
    assert job["counts"]["ai_questions_imported"] == 0
    assert sections(user) == before


def test_the_csv_export_is_a_zip_of_csv_files_with_a_manifest(django_capture_on_commit_callbacks) -> None:
    user = make_user()
    fill_account(user)
    _, content = export(user, "csv", django_capture_on_commit_callbacks)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert sorted(archive.namelist()) == [
            "ai_questions.csv",
            "categories.csv",
            "contents.csv",
            "manifest.json",
            "reviews.csv",
        ]
        manifest = json.loads(archive.read("manifest.json"))
        header = archive.read("reviews.csv").decode().splitlines()[0]
    assert manifest["format"] == "resee-export-csv" and manifest["profile"]["email"] == user.email
    assert header.startswith("id,content_id,result,reviewed_at")


def test_a_download_link_is_signed_short_lived_and_bound_to_its_job(
    settings, django_capture_on_commit_callbacks
) -> None:
    user = make_user()
    make_due_content(user=user)
    job, _ = export(user, "json", django_capture_on_commit_callbacks)
    token = job["download_url"].split("token=")[1]
    anonymous = Client()

    forged = anonymous.get(f"/api/portability/exports/{job['id']}/download/", {"token": token + "x"})
    other_job = anonymous.get(f"/api/portability/exports/{job['id'] + 1}/download/", {"token": token})
    settings.PORTABILITY_LINK_SECONDS = -1  # every link is now older than its lifetime
    expired = anonymous.get(f"/api/portability/exports/{job['id']}/download/", {"token": token})

    assert [r.status_code for r in (forged, other_job, expired)] == [403, 403, 403]
    assert {r.json()["code"] for r in (forged, other_job, expired)} == {"link_expired"}
    assert job["download_url_expires_at"] is not None


def test_another_learner_cannot_see_an_export_job(django_capture_on_commit_callbacks) -> None:
    owner = make_user()
    job, _ = export(owner, "json", django_capture_on_commit_callbacks)
    response = Client(headers=auth_headers(make_user())).get(f"/api/portability/exports/{job['id']}/")
    assert response.status_code == 404


def test_pruning_deletes_expired_files_and_their_links_stop_working(
    django_capture_on_commit_callbacks,
) -> None:
    user = make_user()
    job, _ = export(user, "json", django_capture_on_commit_callbacks)
    files = list(Path(storage_dir("PORTABILITY_EXPORT_DIR")).iterdir())
    assert len(files) == 1

    done = services.prune_files(now=timezone.now() + timedelta(days=2))

    assert done["files_deleted"] == 1 and not files[0].exists()
    token = job["download_url"].split("token=")[1]
    assert (
        Client().get(f"/api/portability/exports/{job['id']}/download/", {"token": token}).status_code == 404
    )
    refreshed = Client(headers=auth_headers(user)).get(f"/api/portability/exports/{job['id']}/").json()
    assert refreshed["download_url"] is None


def test_deleting_the_account_deletes_its_export_file_at_once(django_capture_on_commit_callbacks) -> None:
    """The account and all its data are gone: its export (profile and every content) too, not at the
    next daily prune."""
    user = make_user(password="a-long-passphrase-1")
    kept = make_user()
    export(user, "json", django_capture_on_commit_callbacks)
    export(kept, "json", django_capture_on_commit_callbacks)
    mine, theirs = sorted(
        Path(storage_dir("PORTABILITY_EXPORT_DIR")).iterdir(), key=lambda p: p.stat().st_mtime
    )

    with django_capture_on_commit_callbacks(execute=True):
        answer = Client(headers=auth_headers(user)).delete(
            "/api/accounts/users/me/", {"password": "a-long-passphrase-1"}, content_type="application/json"
        )

    assert answer.status_code == 204, answer.content
    assert not mine.exists()
    assert theirs.exists()  # another account's export stays


def test_an_import_invalidates_the_cached_lists(tmp_path: Path, upload) -> None:
    user = make_user()
    client = Client(headers=auth_headers(user))
    assert client.get("/api/content/").json()["count"] == 0  # computed and cached
    path = tmp_path / "words.csv"
    path.write_text("front,back\nhola,hello\n")

    upload(user, path, "csv")

    assert client.get("/api/content/").json()["count"] == 1


def test_a_link_for_a_forged_payload_is_refused() -> None:
    token = signing.dumps({"job": 1, "file": "x.json"}, salt="not-the-export-salt")
    assert Client().get("/api/portability/exports/1/download/", {"token": token}).status_code == 403
