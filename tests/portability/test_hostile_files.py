"""A corrupt, hostile or wrong file answers a clear error and changes nothing."""

from __future__ import annotations

import inspect
import io
import random
import struct
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
import zstandard
from django.test import Client
from django.utils import timezone

from modules.identity.testing import auth_headers, make_user
from modules.learning.models import Category, Content, ReviewHistory
from modules.portability.errors import CorruptFile, UnsafeArchive
from modules.portability.formats import anki
from modules.portability.formats import archive as archive_module
from modules.portability.formats.archive import METADATA_LIMIT, Limits, SafeZip
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


# --- Small metadata members are read boundedly (meta, media, manifest.json) --------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def padded_meta(zeros: int) -> bytes:
    """The QA audit's hostile ``meta``: one field of incompressible bytes (so the zip's compression
    ratio check passes), then ``zeros`` zero bytes, which an unbounded parser reads as one field every
    two bytes."""
    pad = random.Random(7).randbytes(zeros // 85)
    return _varint(15 << 3 | 2) + _varint(len(pad)) + pad + bytes(zeros)


def with_member(package: Path, name: str, data: bytes) -> Path:
    """``package`` with its member ``name`` replaced by ``data``."""
    with zipfile.ZipFile(package) as source:
        members = {info.filename: source.read(info) for info in source.infolist() if info.filename != name}
    package.write_bytes(zip_of({**members, name: data}))
    return package


@pytest.fixture
def member_reads(monkeypatch) -> list[int]:
    """The sizes every read of a zip member asks for."""
    asked: list[int] = []
    real = zipfile.ZipExtFile.read

    def read(self, n=-1):
        asked.append(n)
        return real(self, n)

    monkeypatch.setattr(zipfile.ZipExtFile, "read", read)
    return asked


def test_a_meta_over_the_metadata_limit_is_refused_at_upload_unread(
    tmp_path: Path, upload, settings, member_reads
) -> None:
    """QA audit (denial of service): a 100 KB upload whose ``meta`` expands to 8.5 MB of fields used to be
    read whole and parsed into millions of tuples inside the request (9 s and +300 MiB; 1.2 GiB at
    400 KB). Now ``meta`` over ``METADATA_LIMIT`` is refused from its declared size, nothing read."""
    meta = padded_meta(METADATA_LIMIT)
    data = zip_of({"collection.anki2": b"SQLite format 3\x00" + bytes(100), "meta": meta})
    assert len(data) < 150_000 and len(meta) > METADATA_LIMIT
    user = make_user()

    body = refused(user, tmp_path, data, "apkg", upload)

    assert body["code"] == "unsafe_archive"
    assert f"meta is larger than {METADATA_LIMIT} bytes" in body["detail"][0]["msg"]
    assert all(0 <= n <= METADATA_LIMIT + 1 for n in member_reads), member_reads  # never "read it all"
    assert nothing_changed(user) and not ImportJob.objects.filter(user=user).exists()
    assert uploads_left(settings) == []


def test_a_junk_meta_under_the_limit_is_parsed_only_a_few_fields(
    tmp_path: Path, upload, job_of, monkeypatch
) -> None:
    """Under the limit the same trick (a valid field, then zeros: 3.7 million two-byte "fields") is read
    lazily and stops at the first invalid field: the package imports as if it had no ``meta``."""
    varints = [0]
    real = anki._varint

    def counted(data: bytes, pos: int) -> tuple[int, int]:
        varints[0] += 1
        return real(data, pos)

    monkeypatch.setattr(anki, "_varint", counted)
    package = build_package(
        tmp_path / "deck.apkg", [Note(["hola", "hello"], timezone.now())], format="anki21b"
    )
    with_member(package, "meta", padded_meta(7 << 20))
    user = make_user()

    response = upload(user, package, "apkg")

    assert response.status_code == 202, response.content
    job = job_of(user, "imports", response.json()["id"])
    assert (job["status"], job["counts"]["contents_created"]) == ("done", 1), job
    assert varints[0] < 100  # the request's check and the job's, and the note type's config


def test_protobuf_fields_are_read_lazily_and_boundedly() -> None:
    fields = anki.protobuf_fields(b"\x08\x03" + b"\x10\x01" * 10_000 + b"\xff")  # truncated at the end
    assert inspect.isgenerator(fields)
    assert next(fields) == (1, 3)  # found without parsing the rest
    with pytest.raises(CorruptFile, match="more than 100 fields"):
        list(anki.protobuf_fields(b"\x10\x01" * 10_000, max_fields=100))
    with pytest.raises(CorruptFile, match="numbered 0"):
        next(anki.protobuf_fields(bytes(1000)))
    with pytest.raises(CorruptFile, match="truncated"):
        list(anki.protobuf_fields(b"\x09" + bytes(7)))  # a 64-bit field 1 missing a byte


def test_a_meta_version_is_found_in_a_long_meta(tmp_path: Path) -> None:
    path = tmp_path / "p.apkg"
    path.write_bytes(zip_of({"collection.anki21b": b"x", "meta": b"\x08\x03" + b"\x10\x01" * 100_000}))
    with SafeZip(path, Limits(max_total_bytes=1 << 30, max_ratio=100)) as archive:
        assert anki.package_version(archive) == 3
        assert anki.choose_collection(archive) == "collection.anki21b"


def test_a_zstd_media_list_expanding_past_the_limit_fails_the_job(tmp_path: Path, upload, job_of) -> None:
    """``media`` (zstd protobuf) used to be decompressed up to the 1 GiB expansion limit, then parsed
    whole; a few hundred bytes in the zip expanded to 8 MiB of zeros took gigabytes in the worker. It is
    now decompressed a chunk at a time and refused past ``METADATA_LIMIT``."""
    package = build_package(
        tmp_path / "deck.apkg", [Note(["hola", "hello"], timezone.now())], format="anki21b"
    )
    with_member(package, "media", zstandard.ZstdCompressor().compress(bytes(METADATA_LIMIT + 1)))
    user = make_user()

    response = upload(user, package, "apkg")

    assert response.status_code == 202, response.content  # the request does not read media
    job = job_of(user, "imports", response.json()["id"])
    assert (job["status"], job["error_code"]) == ("failed", "unsafe_archive"), job
    assert job["error"] == f"media expands beyond {METADATA_LIMIT} bytes once decompressed."
    assert nothing_changed(user)


def test_a_media_list_naming_more_files_than_an_archive_holds_is_corrupt(tmp_path: Path) -> None:
    entry = b"\x0a\x0b\x0a\x09image.jpg"  # MediaEntries.entries { name: "image.jpg" }
    path = tmp_path / "p.apkg"
    path.write_bytes(
        zip_of({"collection.anki21b": b"x", "media": zstandard.ZstdCompressor().compress(entry * 11)})
    )
    with (
        SafeZip(path, Limits(max_total_bytes=1 << 30, max_ratio=100, max_members=10)) as archive,
        pytest.raises(CorruptFile, match="media list"),
    ):
        anki.media_count(archive)
    with SafeZip(path, Limits(max_total_bytes=1 << 30, max_ratio=100, max_members=11)) as archive:
        assert anki.media_count(archive) == 11


def test_a_damaged_meta_is_a_corrupt_file_not_a_server_error(tmp_path: Path, upload) -> None:
    meta = b"\x08\x02" + b"\x12\x20" + b"m" * 32
    data = bytearray(zip_of({"collection.anki21": b"x", "meta": meta}, compression=zipfile.ZIP_STORED))
    data[data.index(b"m" * 32)] ^= 0xFF  # the CRC no longer matches
    user = make_user()
    body = refused(user, tmp_path, bytes(data), "apkg", upload)
    assert body["code"] == "corrupt_file" and "meta is damaged" in body["detail"][0]["msg"]


def test_a_manifest_over_the_metadata_limit_fails_the_job(tmp_path: Path, upload, job_of) -> None:
    manifest = b'{"format": "resee-export-csv"' + b" " * METADATA_LIMIT + b"}"
    path = tmp_path / "export.zip"
    path.write_bytes(zip_of({"manifest.json": manifest}, compression=zipfile.ZIP_STORED))
    user = make_user()
    job = job_of(user, "imports", upload(user, path, "resee-zip").json()["id"])
    assert (job["status"], job["error_code"]) == ("failed", "unsafe_archive"), job
    assert "manifest.json is larger than" in job["error"]


def _directory_of(records: int) -> bytes:
    """A zip whose central directory has ``records`` entries, all naming the same one local member."""
    name = b"a"
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0) + name
    record = (
        struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0) + name
    )
    directory = record * records
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(directory), len(local), 0)  # "1 entry"
    return local + directory + end


def test_a_central_directory_over_the_member_limit_is_refused_before_it_is_parsed(
    tmp_path: Path, monkeypatch
) -> None:
    """``zipfile`` builds an object for every central directory record when it opens a zip (a 45 MB
    upload of a million records: 10 s, 460 MB), before any member count can be checked; the records
    are counted in the raw bytes first, whatever the end record claims."""
    opened: list[object] = []
    real = zipfile.ZipFile

    def spy(*args, **kwargs):
        opened.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(archive_module.zipfile, "ZipFile", spy)
    path = tmp_path / "many.zip"
    path.write_bytes(_directory_of(1_001))
    limits = Limits(max_total_bytes=1 << 30, max_ratio=100, max_members=1_000)
    with pytest.raises(UnsafeArchive, match="more than 1000 members"):
        SafeZip(path, limits)
    assert opened == []
    with pytest.raises(UnsafeArchive, match="more than 1000 members"):
        SafeZip(io.BytesIO(path.read_bytes()), limits)
    path.write_bytes(_directory_of(1_000))
    with SafeZip(path, limits) as archive:  # at the limit: opened (and its records checked as before)
        assert len(archive.names()) == 1_000


def test_text_where_the_log_holds_numbers_is_an_ignored_entry_not_a_failure(
    tmp_path: Path, upload, job_of
) -> None:
    """SQLite columns hold any type: an ease, a type or a card id written as text (a damaged or
    hand-made collection) is an ignored log entry; the reader raised ``ValueError`` on them before."""
    import sqlite3

    from modules.portability.testing import GOOD, Review

    now = timezone.now()
    notes = [
        Note(
            [f"Front {i}", "Back"],
            now - timedelta(days=30),
            reviews=[Review(now - timedelta(days=d), GOOD) for d in (20, 10, 5)],
        )
        for i in range(3)
    ]
    package = build_package(tmp_path / "deck.apkg", notes, format="anki2")
    database = tmp_path / "collection.anki2"
    with zipfile.ZipFile(package) as archive:
        database.write_bytes(archive.read("collection.anki2"))
    conn = sqlite3.connect(database)
    with conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM revlog ORDER BY id")]
        conn.execute("UPDATE revlog SET ease = 'good' WHERE id = ?", (ids[0],))
        conn.execute("UPDATE revlog SET type = 'review' WHERE id = ?", (ids[1],))
        conn.execute("UPDATE revlog SET cid = 'a card' WHERE id = ?", (ids[2],))
        conn.execute("UPDATE revlog SET time = 'slow' WHERE id = ?", (ids[3],))  # kept, without a duration
    conn.close()
    damaged = tmp_path / "damaged.apkg"
    damaged.write_bytes(zip_of({"collection.anki2": database.read_bytes()}))
    user = make_user()

    job = job_of(user, "imports", upload(user, damaged, "apkg").json()["id"])

    assert job["status"] == "done", job
    assert job["counts"]["reviews_imported"] == 9 - 3
    assert any("3 review log entries" in warning for warning in job["warnings"]), job["warnings"]
    assert ReviewHistory.objects.filter(user=user).count() == 6
