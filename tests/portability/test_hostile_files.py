"""A corrupt, hostile or wrong file answers a clear error and changes nothing."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import zstandard
from django.test import Client
from django.utils import timezone

from modules.identity.testing import auth_headers, make_user
from modules.learning.models import Category, Content, ReviewHistory
from modules.portability.models import ImportJob
from modules.portability.testing import Note, build_package

pytestmark = pytest.mark.django_db


def nothing_changed(user) -> bool:
    return not (
        Content.objects.filter(user=user).exists()
        or Category.objects.filter(user=user).exists()
        or ReviewHistory.objects.filter(user=user).exists()
    )


def uploads_left(settings) -> list[Path]:
    folder = Path(settings.PORTABILITY_UPLOAD_DIR)
    return list(folder.iterdir()) if folder.exists() else []


def zip_of(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def refused(user, tmp_path: Path, data: bytes, kind: str, upload) -> dict:
    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    response = upload(user, path, kind)
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["detail"][0]["loc"] == ["file", "file"]  # where Ninja puts a missing upload
    return body


@pytest.mark.parametrize(
    ("data", "kind", "code"),
    [
        (b"just some text, not a zip", "apkg", "unsupported_file"),
        (zip_of({"notes.txt": b"hello"}), "apkg", "unsupported_file"),  # no collection inside
        (zip_of({"collection.anki2": b"x", "../../etc/passwd": b"root"}), "apkg", "unsafe_archive"),
        (zip_of({"collection.anki2": b"x", "/abs/path": b"x"}), "colpkg", "unsafe_archive"),
        (zip_of({"collection.anki2": b"\0" * (50 * 1024 * 1024)}), "apkg", "unsafe_archive"),  # a zip bomb
        (zip_of({"contents.csv": b"a,b"}), "resee-zip", "unsupported_file"),  # no manifest
        (b"[1, 2, 3]", "resee-json", "unsupported_file"),
        (zip_of({"a": b"b"}), "csv", "unsupported_file"),
        (b"", "csv", "unsupported_file"),
    ],
    ids=[
        "not-a-zip",
        "no-collection",
        "traversal",
        "absolute",
        "zip-bomb",
        "no-manifest",
        "not-json",
        "zip-as-csv",
        "empty",
    ],
)
def test_a_wrong_or_hostile_file_is_refused_at_upload(
    data: bytes, kind: str, code: str, tmp_path: Path, upload, settings
) -> None:
    user = make_user()
    body = refused(user, tmp_path, data, kind, upload)
    assert body["code"] == code
    assert nothing_changed(user)
    assert not ImportJob.objects.filter(user=user).exists()
    assert uploads_left(settings) == []


def test_an_upload_over_the_limit_is_refused_before_it_is_read(tmp_path: Path, upload, settings) -> None:
    settings.PORTABILITY_MAX_UPLOAD_BYTES = 100 * 1024
    user = make_user()
    body = refused(user, tmp_path, b"x" * (300 * 1024), "csv", upload)
    assert body["code"] == "file_too_large"
    assert uploads_left(settings) == [] and not ImportJob.objects.exists()


def test_a_body_without_a_length_is_cut_at_the_limit(settings) -> None:
    """The handler counts what it receives when Content-Length does not say (chunked bodies)."""
    from modules.portability.api import _UploadLimit
    from modules.portability.errors import FileTooLarge

    handler = _UploadLimit(None, 10)  # type: ignore[arg-type]
    assert handler.receive_data_chunk(b"12345", 0) == b"12345"
    with pytest.raises(FileTooLarge):
        handler.receive_data_chunk(b"123456", 5)


@pytest.mark.parametrize(
    ("members", "code"),
    [
        ({"collection.anki2": b"SQLite format 3\x00" + b"garbage" * 200}, "corrupt_file"),
        ({"collection.anki21b": b"not zstd at all"}, "corrupt_file"),
        (
            {"collection.anki21b": zstandard.ZstdCompressor().compress(b"not a database" * 100)},
            "corrupt_file",
        ),
        ({"collection.anki2": b"x", "meta": b"\x08\x03"}, "corrupt_file"),  # says anki21b, has none
    ],
    ids=["garbage-sqlite", "anki21b-not-zstd", "anki21b-not-sqlite", "meta-lies"],
)
def test_a_corrupt_collection_fails_the_job_and_changes_nothing(
    members: dict[str, bytes], code: str, tmp_path: Path, upload, job_of, settings
) -> None:
    user = make_user()
    path = tmp_path / "corrupt.apkg"
    path.write_bytes(zip_of(members))
    response = upload(user, path, "apkg")
    if response.status_code == 422:  # found already by the upload's checks
        assert response.json()["code"] == code
    else:
        job = job_of(user, "imports", response.json()["id"])
        assert (job["status"], job["error_code"]) == ("failed", code), job
        assert job["error"]
    assert nothing_changed(user)
    assert uploads_left(settings) == []


def test_a_collection_missing_its_tables_is_corrupt(tmp_path: Path, upload, job_of) -> None:
    import sqlite3

    database = tmp_path / "c.anki2"
    conn = sqlite3.connect(database)
    conn.execute("CREATE TABLE notes (id integer)")
    conn.commit()
    conn.close()
    path = tmp_path / "bad.apkg"
    path.write_bytes(zip_of({"collection.anki2": database.read_bytes()}))
    user = make_user()
    job = job_of(user, "imports", upload(user, path, "apkg").json()["id"])
    assert job["error_code"] == "corrupt_file" and "col" in job["error"]


def test_an_export_with_an_invalid_row_fails_whole(tmp_path: Path, upload, job_of) -> None:
    user = make_user()
    document = {
        "format": "resee-export",
        "version": 1,
        "exported_at": timezone.now().isoformat(),
        "origin": {"instance": "elsewhere", "user_id": 9},
        "contents": [
            {
                "id": 1,
                "title": "fine",
                "body": "b",
                "created_at": timezone.now().isoformat(),
                "updated_at": timezone.now().isoformat(),
            },
            {
                "id": 2,
                "title": "nul\u0000",
                "body": "b",
                "created_at": timezone.now().isoformat(),
                "updated_at": timezone.now().isoformat(),
            },
        ],
    }
    import json

    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    job = job_of(user, "imports", upload(user, path, "resee-json").json()["id"])
    assert (job["status"], job["error_code"]) == ("failed", "corrupt_file")
    assert "contents.1.title" in job["error"]
    assert nothing_changed(user)


def test_a_review_without_its_content_fails_the_import(tmp_path: Path, upload, job_of) -> None:
    import json

    now = timezone.now().isoformat()
    document = {
        "format": "resee-export",
        "version": 1,
        "exported_at": now,
        "origin": {"instance": "elsewhere", "user_id": 9},
        "reviews": [
            {
                "id": 1,
                "content_id": 5,
                "result": "remembered",
                "reviewed_at": now,
                "recorded_at": now,
                "stage_before": 0,
                "stage_after": 1,
                "interval_days": 3,
                "early": False,
                "retrievability_before": 0.9,
                "scheduler": "ladder",
            }
        ],
    }
    path = tmp_path / "orphan.json"
    path.write_text(json.dumps(document))
    user = make_user()
    job = job_of(user, "imports", upload(user, path, "resee-json").json()["id"])
    assert (job["status"], job["error_code"]) == ("failed", "validation_error")


def test_a_real_package_under_a_tiny_expansion_limit_is_refused(tmp_path: Path, upload, settings) -> None:
    settings.PORTABILITY_MAX_EXPANDED_BYTES = 1000
    package = build_package(tmp_path / "deck.apkg", [Note(["a", "b"], timezone.now())])
    user = make_user()
    response = upload(user, package, "apkg")
    assert (response.status_code, response.json()["code"]) == (422, "unsafe_archive")


def test_job_status_is_private(tmp_path: Path, upload) -> None:
    owner = make_user()
    path = tmp_path / "w.csv"
    path.write_text("hola,hello\n")
    job_id = upload(owner, path, "csv").json()["id"]
    assert (
        Client(headers=auth_headers(make_user())).get(f"/api/portability/imports/{job_id}/").status_code
        == 404
    )
